// SPDX-License-Identifier: MIT
// Umbrella header of dist: the communicator interface and its one-process implementation, sharded n-gram counting,
// the gradient sums and parameter broadcast of data-parallel training (the MPI implementation,
// elm/dist/mpi_communicator.hpp, is included on its own, by programs built with ELM_MPI).
#pragma once

#include "elm/core.hpp"

#include "elm/dist/communicator.hpp"
#include "elm/dist/gradient_allreduce.hpp"
#include "elm/dist/sharded_ngram_counts.hpp"
