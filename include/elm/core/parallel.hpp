// SPDX-License-Identifier: MIT
// parallel_for: the library's one parallel loop (OpenMP when the user enables it, serial otherwise).
#pragma once

#include <algorithm>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/core/types.hpp"

namespace elm::detail {

/// Calls body(i) for i in [begin, end). With OpenMP (the user's choice) iterations run on the team's
/// threads, statically scheduled; without it, in order. The library starts no threads of its own.
template <typename Body>
void parallel_for(Index begin, Index end, Body&& body) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
  for (Index i = begin; i < end; ++i) body(i);
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
template <typename Body>
void parallel_chunks(Index n, Index chunk, Body&& body) {
  const Index chunks = chunk_count(n, chunk);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (Index c = 0; c < chunks; ++c) body(c, c * chunk, std::min(n, (c + 1) * chunk));
}

}  // namespace elm::detail
