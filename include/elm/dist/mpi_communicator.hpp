// SPDX-License-Identifier: MIT
// MpiCommunicator: the Communicator of processes started by mpirun or srun, on MPI (programs built with the
// CMake option ELM_MPI, which links MPI::MPI_CXX); MpiEnvironment initialises and finalises MPI.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/dist/communicator.hpp"

namespace elm::dist {

namespace detail {

/// Throws CommunicationError naming the MPI call, its error string and the rank, unless code is MPI_SUCCESS.
inline void check_mpi(int code, const char* call, int rank) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  throw CommunicationError(elm::detail::concat("elm::dist::MpiCommunicator: ", call, " failed on rank ", rank, ": ",
                                               length > 0 ? std::string(text, std::size_t(length)) : "unknown error",
                                               " (MPI error code ", code, ")"));
}

}  // namespace detail

/// Initialises MPI for the lifetime of the object (MPI_Init_thread, funneled: only the thread that made the
/// environment makes MPI calls) and finalises it on destruction, unless MPI was already initialised by someone else,
/// in which case it does neither. Make one in main before any MpiCommunicator, and let every communicator go
/// before it. Throws CommunicationError when MPI cannot start.
class MpiEnvironment {
 public:
  MpiEnvironment(int* argc, char*** argv) {
    int initialized = 0;
    detail::check_mpi(MPI_Initialized(&initialized), "MPI_Initialized", -1);
    if (initialized) return;
    int provided = 0;
    detail::check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread", -1);
    owner_ = true;
  }
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;
  ~MpiEnvironment() {
    int finalized = 1;
    if (owner_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) (void)MPI_Finalize();
  }

 private:
  bool owner_ = false;
};

/// The processes of an MPI communicator (MPI_COMM_WORLD by default), through a duplicate of it, so that its
/// messages never mix with other traffic on the original and its error handler is its own.
///
/// Errors: the duplicate's error handler is MPI_ERRORS_RETURN, and every call's return code is checked, so a
/// failure that MPI reports comes back as a CommunicationError naming the call, not as an abort from inside MPI.
/// What Open MPI (4.1, Debian 12's) does and does not promise: MPI_ERRORS_RETURN makes the calls return error
/// codes for the errors MPI detects (bad arguments, a transport that reports a lost connection), but MPI gives no
/// guarantee that the library is usable after an error, and a process that dies is handled by the launcher, not
/// by the survivors' calls: mpirun (and srun) ends the whole job when any process exits with a non-zero status or
/// a signal, killing the others. That is what bounds the time a survivor waits for a dead peer; fault tolerance
/// beyond it (ULFM's MPIX_ERR_PROC_FAILED) is not part of this build. See docs/distributed.md for what was measured.
///
/// Buffers of more than INT_MAX elements (MPI counts are int) are sent in pieces.
class MpiCommunicator final : public Communicator {
 public:
  /// Duplicates comm (collective over comm). Throws CommunicationError when MPI is not initialised or fails.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) {
    int initialized = 0;
    detail::check_mpi(MPI_Initialized(&initialized), "MPI_Initialized", -1);
    ELM_EXPECT(initialized, CommunicationError,
               "elm::dist::MpiCommunicator: MPI is not initialised, expected an MpiEnvironment (or MPI_Init) first");
    detail::check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup", -1);
    detail::check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", -1);
    detail::check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank", -1);
    detail::check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size", rank_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    int finalized = 1;
    if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) (void)MPI_Comm_free(&comm_);
  }

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  /// The duplicated MPI communicator, for calls this class does not wrap.
  MPI_Comm handle() const noexcept { return comm_; }

  void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  /// Ends every process of the communicator (MPI_Abort) with the given exit code: for a program that cannot
  /// tell whether its peers are still in step after an error. Does not return.
  [[noreturn]] void abort(int code) {
    (void)MPI_Abort(comm_, code);
    throw CommunicationError("elm::dist::MpiCommunicator::abort: MPI_Abort returned");
  }

 protected:
  void do_allreduce_sum(void* data, std::size_t count, Element type) override {
    const std::size_t width = element_size(type);
    for (std::size_t done = 0; done < count;) {
      const int n = piece(count - done);
      check(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + done * width, n, datatype(type), MPI_SUM, comm_),
            "MPI_Allreduce");
      done += std::size_t(n);
    }
  }

  void do_broadcast(void* data, std::size_t count, Element type, int root) override {
    const std::size_t width = element_size(type);
    for (std::size_t done = 0; done < count;) {
      const int n = piece(count - done);
      check(MPI_Bcast(static_cast<char*>(data) + done * width, n, datatype(type), root, comm_), "MPI_Bcast");
      done += std::size_t(n);
    }
  }

  // Sizes first (MPI_Alltoall of 64-bit sizes), then one pairwise exchange per distance k = 1 .. size - 1: receive
  // from rank - k and send to rank + k, non-blocking, in pieces of at most INT_MAX bytes (both sides know every size,
  // so they agree on the pieces; an empty buffer is no message), so neither side waits on a send with no matching
  // receive, and no int displacement of MPI_Alltoallv can overflow. A failed call throws with requests possibly
  // still pending on these buffers: after it the processes are out of step, and the program should end them all
  // (MpiCommunicator::abort), as elm-ngram does.
  std::vector<std::string> exchange(const std::vector<std::string>& send) override {
    const auto n = std::size_t(size_);
    std::vector<std::uint64_t> send_sizes(n), recv_sizes(n);
    for (std::size_t p = 0; p < n; ++p) send_sizes[p] = send[p].size();
    check(MPI_Alltoall(send_sizes.data(), 1, MPI_UINT64_T, recv_sizes.data(), 1, MPI_UINT64_T, comm_), "MPI_Alltoall");
    std::vector<std::string> received(n);
    received[std::size_t(rank_)] = send[std::size_t(rank_)];
    std::vector<MPI_Request> requests;
    for (int k = 1; k < size_; ++k) {
      const int to = (rank_ + k) % size_, from = (rank_ - k + size_) % size_;
      const std::string& out = send[std::size_t(to)];
      std::string& in = received[std::size_t(from)];
      in.resize(recv_sizes[std::size_t(from)]);
      requests.clear();
      for (std::size_t got = 0; got < in.size();) {
        const int r = piece(in.size() - got);
        requests.emplace_back();
        check(MPI_Irecv(in.data() + got, r, MPI_BYTE, from, k, comm_, &requests.back()), "MPI_Irecv");
        got += std::size_t(r);
      }
      for (std::size_t sent = 0; sent < out.size();) {
        const int s = piece(out.size() - sent);
        requests.emplace_back();
        check(MPI_Isend(out.data() + sent, s, MPI_BYTE, to, k, comm_, &requests.back()), "MPI_Isend");
        sent += std::size_t(s);
      }
      check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    }
    return received;
  }

 private:
  void check(int code, const char* call) const { detail::check_mpi(code, call, rank_); }
  static int piece(std::size_t remaining) noexcept {
    return static_cast<int>(std::min<std::size_t>(remaining, std::size_t(INT_MAX)));
  }
  static std::size_t element_size(Element type) noexcept {
    switch (type) {
      case Element::f32:
        return 4;
      case Element::f64:
      case Element::i64:
        return 8;
      case Element::byte:
      default:
        return 1;
    }
  }
  static MPI_Datatype datatype(Element type) noexcept {
    switch (type) {
      case Element::f32:
        return MPI_FLOAT;
      case Element::f64:
        return MPI_DOUBLE;
      case Element::i64:
        return MPI_INT64_T;
      case Element::byte:
      default:
        return MPI_BYTE;
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace elm::dist
