// SPDX-License-Identifier: MIT
// Umbrella header of core: the version, tensor types, errors and checks, the RNG, softmax, the parallel loop.
#pragma once

#include "elm/version.hpp"

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/math.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
