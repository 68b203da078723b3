// SPDX-License-Identifier: MIT
// The MPI communicator of the dist tests' [mpi] cases (programs built with ELM_MPI, run under mpirun).
#pragma once

#include "elm/dist/mpi_communicator.hpp"

namespace dist_test {

/// MPI for the whole run of the test program: started by the first [mpi] case, finalised at exit.
inline elm::dist::MpiCommunicator& world() {
  static elm::dist::MpiEnvironment environment(nullptr, nullptr);
  static elm::dist::MpiCommunicator comm;
  return comm;
}

}  // namespace dist_test
