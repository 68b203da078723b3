// SPDX-License-Identifier: MIT
// parallel_for: the library's one parallel loop (OpenMP when the user enables it, serial otherwise).
#pragma once

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

}  // namespace elm::detail
