// SPDX-License-Identifier: MIT
// Communicator: the collective operations a program spread over several processes needs (sums of buffers,
// broadcast, barrier, all-to-all of byte buffers), with the single-process implementation that needs no MPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::dist {

/// A collective operation that failed: an MPI call returned an error, or a peer process reported a failure.
/// The message names the call (or the rank that failed) and this process's rank.
class CommunicationError : public Error {
 public:
  using Error::Error;
};

/// Thrown by run_collectively on the processes whose own work succeeded when another process's failed: every
/// process knows of the failure, so they are still in step (and may finalise normally).
class PeerError : public CommunicationError {
 public:
  using CommunicationError::CommunicationError;
};

/// The processes of one job, numbered 0 .. size() - 1, and the collective operations among them. Every process
/// must call the same collective operations in the same order with matching arguments (the same count in
/// allreduce and broadcast, the same root); that is the caller's contract, as in MPI. Buffers are reduced and
/// broadcast in place. Implementations: LocalCommunicator (one process, the default) and MpiCommunicator
/// (elm/dist/mpi_communicator.hpp, only in programs built with the CMake option ELM_MPI).
///
/// Sums are reduced in an order the implementation chooses, so a float sum over several processes may differ from
/// the serial sum in the last bits; integer sums are exact.
class Communicator {
 public:
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  virtual ~Communicator() = default;

  /// This process's number, in [0, size()).
  virtual int rank() const noexcept = 0;
  /// Number of processes.
  virtual int size() const noexcept = 0;

  /// data[i] = sum over the processes of their data[i], on every process. Throws CommunicationError.
  void allreduce_sum(float* data, std::size_t count) { reduce(data, count, Element::f32, "allreduce_sum"); }
  void allreduce_sum(double* data, std::size_t count) { reduce(data, count, Element::f64, "allreduce_sum"); }
  void allreduce_sum(std::int64_t* data, std::size_t count) { reduce(data, count, Element::i64, "allreduce_sum"); }

  /// data[i] = (sum over the processes of their data[i]) / size(), on every process (gradient averaging).
  void allreduce_average(float* data, std::size_t count) { average(data, count); }
  void allreduce_average(double* data, std::size_t count) { average(data, count); }

  /// Copies root's data[0 .. count) into every process's data. Throws InvalidArgument for a root outside
  /// [0, size()), CommunicationError when the transfer fails.
  void broadcast(std::byte* data, std::size_t bytes, int root) { send_from(data, bytes, Element::byte, root); }
  void broadcast(float* data, std::size_t count, int root) { send_from(data, count, Element::f32, root); }
  void broadcast(double* data, std::size_t count, int root) { send_from(data, count, Element::f64, root); }

  /// Returns once every process has called barrier().
  virtual void barrier() = 0;

  /// Personalised exchange: send[p] goes to process p (send.size() must equal size(); a buffer may be empty and
  /// the sizes may differ), and result[p] is what process p sent to this one. Throws InvalidArgument when
  /// send.size() != size(), CommunicationError when the exchange fails.
  std::vector<std::string> all_to_all(const std::vector<std::string>& send) {
    ELM_EXPECT(send.size() == static_cast<std::size_t>(size()), InvalidArgument,
               "elm::dist::Communicator::all_to_all: ", send.size(), " buffers, expected one per process (", size(),
               ")");
    return exchange(send);
  }

 protected:
  enum class Element { byte, f32, f64, i64 };
  virtual void do_allreduce_sum(void* data, std::size_t count, Element type) = 0;
  virtual void do_broadcast(void* data, std::size_t count, Element type, int root) = 0;
  virtual std::vector<std::string> exchange(const std::vector<std::string>& send) = 0;

 private:
  void reduce(void* data, std::size_t count, Element type, const char* what) {
    ELM_EXPECT(data != nullptr || count == 0, InvalidArgument, "elm::dist::Communicator::", what, ": null buffer of ",
               count, " elements");
    do_allreduce_sum(data, count, type);
  }
  template <typename T>
  void average(T* data, std::size_t count) {
    reduce(data, count, std::is_same_v<T, float> ? Element::f32 : Element::f64, "allreduce_average");
    const T n = static_cast<T>(size());
    for (std::size_t i = 0; i < count; ++i) data[i] /= n;
  }
  void send_from(void* data, std::size_t count, Element type, int root) {
    ELM_EXPECT(root >= 0 && root < size(), InvalidArgument, "elm::dist::Communicator::broadcast: root = ", root,
               ", expected 0 <= root < ", size());
    ELM_EXPECT(data != nullptr || count == 0, InvalidArgument, "elm::dist::Communicator::broadcast: null buffer of ",
               count, " elements");
    do_broadcast(data, count, type, root);
  }
};

/// The one-process communicator: rank 0 of 1. Sums and broadcasts leave the buffers as they are, all_to_all
/// returns what was sent. What a program does with it is what it does without any communicator.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 1; }
  void barrier() override {}

 protected:
  void do_allreduce_sum(void*, std::size_t, Element) override {}
  void do_broadcast(void*, std::size_t, Element, int) override {}
  std::vector<std::string> exchange(const std::vector<std::string>& send) override { return send; }
};

/// Runs work() on this process so that either it succeeds on every process or every process throws: the
/// processes agree on the outcome (one allreduce) before any of them goes on to a collective operation that a
/// failed peer would never join (which would hang). A process whose work() threw rethrows its own exception;
/// the others throw PeerError with the message of the lowest failed rank. Every process must call it.
template <typename Work>
void run_collectively(Communicator& comm, Work&& work) {
  std::exception_ptr failure;
  std::string message;
  try {
    std::forward<Work>(work)();
  } catch (const std::exception& e) {
    failure = std::current_exception();
    message = e.what();
  } catch (...) {
    failure = std::current_exception();
    message = "an exception that is not a std::exception";
  }
  const int size = comm.size();
  // failed[r] = 1 when rank r failed; a sum, so every rank sees every flag.
  std::vector<std::int64_t> failed(static_cast<std::size_t>(size), 0);
  failed[static_cast<std::size_t>(comm.rank())] = failure ? 1 : 0;
  comm.allreduce_sum(failed.data(), failed.size());
  int first = -1;
  for (int r = 0; r < size && first < 0; ++r)
    if (failed[static_cast<std::size_t>(r)] != 0) first = r;
  if (first < 0) return;
  // The first failed rank's message reaches the others: its length, then its bytes.
  std::vector<std::int64_t> length_of(static_cast<std::size_t>(size), 0);
  if (comm.rank() == first) length_of[static_cast<std::size_t>(first)] = static_cast<std::int64_t>(message.size());
  comm.allreduce_sum(length_of.data(), length_of.size());
  std::string text(static_cast<std::size_t>(length_of[static_cast<std::size_t>(first)]), '\0');
  if (comm.rank() == first) text = message;
  comm.broadcast(reinterpret_cast<std::byte*>(text.data()), text.size(), first);
  if (failure) std::rethrow_exception(failure);
  throw PeerError(elm::detail::concat("elm::dist::run_collectively: rank ", first, " of ", size,
                                      " failed (this is rank ", comm.rank(), "): ", text));
}

}  // namespace elm::dist
