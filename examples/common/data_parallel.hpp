// SPDX-License-Identifier: MIT
// The processes a training program runs on: the MPI job's under mpirun (a program built with ELM_MPI), else this
// process alone; rank 0 alone prints and writes files, and a failure ends every process rather than leaving
// some waiting (docs/distributed.md, data-parallel training).
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include "elm/core/types.hpp"
#include "elm/dist/communicator.hpp"
#ifdef ELM_MPI
#include "elm/dist/mpi_communicator.hpp"
#endif

namespace elm::examples {

/// Runs body(comm) on the job's processes and returns its exit code. On ranks other than 0, standard output is
/// discarded (the progress bar, on standard error, is the caller's to silence: rank() != 0). A dist::PeerError
/// (another process failed and said why; all know it) returns 1 after a normal finish; any other exception on a
/// job of several processes is printed with the rank and ends the job (MPI_Abort), since the processes may be out
/// of step; in one process it propagates.
template <typename Body>
int run_on_processes(const char* program, Body&& body) {
#ifdef ELM_MPI
  dist::MpiEnvironment environment(nullptr, nullptr);
  dist::MpiCommunicator comm;
#else
  dist::LocalCommunicator comm;
#endif
  if (comm.size() == 1) return std::forward<Body>(body)(static_cast<dist::Communicator&>(comm));
  if (comm.rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
  try {
    return std::forward<Body>(body)(static_cast<dist::Communicator&>(comm));
  } catch (const dist::PeerError&) {
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{} (rank {} of {}): {}\n", program, comm.rank(), comm.size(), e.what());
#ifdef ELM_MPI
    comm.abort(1);
#endif
    return 1;
  }
}

/// Whether the global batch (--batch) divides among the processes; when it does not, rank 0 says so on standard
/// error (every process finds the same, so all return without a collective).
inline bool global_batch_divides(const char* program, Index batch, const dist::Communicator& comm) {
  if (batch % comm.size() == 0) return true;
  if (comm.rank() == 0)
    fmt::print(stderr, "{}: --batch {} does not divide among {} processes: --batch is the global batch, each "
               "process takes --batch / processes windows of it; expected a multiple of {}\n",
               program, batch, comm.size(), comm.size());
  return false;
}

/// "; N processes: X s (Y %) of training summing gradients" for a data-parallel run, "" in one process.
inline std::string communication_note(const dist::Communicator& comm, double communication_seconds,
                                      double training_seconds) {
  if (comm.size() == 1) return "";
  return fmt::format("; {} processes: {:.2f} s ({:.1f} %) of training in the allreduces", comm.size(),
                     communication_seconds, 100.0 * communication_seconds / std::max(1e-9, training_seconds));
}

}  // namespace elm::examples
