// SPDX-License-Identifier: MIT
// parallel_for: the library's one parallel loop (OpenMP when the user enables it, serial otherwise).
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <utility>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/core/types.hpp"

namespace elm::detail {

/// The exception a parallel loop rethrows once its threads have joined: an exception must not leave an OpenMP
/// region (the program would terminate) or a std::thread. Of the iterations that threw, the one of the lowest
/// index wins, which is the exception a serial loop would have thrown, whatever the thread count.
class FirstException {
 public:
  /// `none`: an index past every iteration, so that before any failure every iteration is worth running.
  explicit FirstException(Index none) : failed_index_(none) {}

  /// False once an iteration before i has thrown: i's outcome can no longer change what is rethrown.
  bool worth_running(Index i) const { return i < failed_index_.load(std::memory_order_relaxed); }

  /// Calls body(i), keeping its exception if it throws; skips it when an earlier iteration has already thrown.
  template <typename Body>
  void run(Index i, Body& body) {
    if (!worth_running(i)) return;
    try {
      body(i);
    } catch (...) {
      record(i, std::current_exception());
    }
  }

  /// Keeps `error` if iteration i is the lowest that has failed so far. Safe to call from several threads.
  void record(Index i, std::exception_ptr error) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (error_ && i >= failed_index_.load(std::memory_order_relaxed)) return;
    error_ = std::move(error);
    failed_index_.store(i, std::memory_order_relaxed);
  }

  /// Rethrows the kept exception, if any. Call it after every thread has joined.
  void rethrow_if_any() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::atomic<Index> failed_index_;
  std::mutex mutex_;
  std::exception_ptr error_;
};

/// Calls body(i) for i in [begin, end). With OpenMP (the user's choice) iterations run on the team's
/// threads, statically scheduled; without it, in order. The library starts no threads of its own.
/// If body throws, the exception reaches the caller after the loop: without OpenMP at once; with OpenMP once
/// the team has joined, the exception of the lowest index that threw (iterations past it not yet started are
/// skipped).
template <typename Body>
void parallel_for(Index begin, Index end, Body&& body) {
#if defined(_OPENMP)
  FirstException error(end);
#pragma omp parallel for schedule(static)
  for (Index i = begin; i < end; ++i) error.run(i, body);
  error.rethrow_if_any();
#else
  for (Index i = begin; i < end; ++i) body(i);
#endif
}

/// Threads a parallel loop may run on: OpenMP's team size, or 1 without OpenMP.
inline Index max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// The calling thread's index in the OpenMP team running a parallel loop (0 outside one, or without OpenMP).
inline Index thread_index() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Elements of element-wise work below which a loop stays on one thread: an OpenMP fork and join costs a
/// few microseconds, about as long as 32K element-wise operations (tanh, a LayerNorm column pass).
inline constexpr Index parallel_grain = 32768;

/// Columns per chunk for element-wise work over a matrix with `rows` rows: about parallel_grain elements.
inline Index column_chunk(Index rows) { return std::max<Index>(1, parallel_grain / std::max<Index>(1, rows)); }

/// Number of chunks parallel_chunks makes of [0, n).
inline Index chunk_count(Index n, Index chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

/// Splits [0, n) into chunks of `chunk` indices (the last may be shorter) and calls body(c, first, last) for
/// chunk c = [first, last). The chunks depend only on n and chunk, never on the thread count, so per-chunk
/// partial sums reduced in chunk order give the same result on any number of threads. With OpenMP and more
/// than one chunk the chunks run on the team's threads (static schedule); otherwise serially, without a fork.
/// An exception thrown by body reaches the caller as parallel_for's does.
template <typename Body>
void parallel_chunks(Index n, Index chunk, Body&& body) {
  const Index chunks = chunk_count(n, chunk);
  auto run_chunk = [&](Index c) { body(c, c * chunk, std::min(n, (c + 1) * chunk)); };
#if defined(_OPENMP)
  FirstException error(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (Index c = 0; c < chunks; ++c) error.run(c, run_chunk);
  error.rethrow_if_any();
#else
  for (Index c = 0; c < chunks; ++c) run_chunk(c);
#endif
}

}  // namespace elm::detail
