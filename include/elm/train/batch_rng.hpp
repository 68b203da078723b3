// SPDX-License-Identifier: MIT
// The random generator of one batch of a Trainer Source: seeded with the run's seed and the batch's index alone.
#pragma once

#include <cstdint>

#include "elm/core/rng.hpp"

namespace elm::train {

/// The generator batch (or epoch) k of a data source draws from: Rng(seed * 0x9E3779B97F4A7C15 + k), the 64-bit
/// golden ratio spreading the seeds of different runs apart. Each batch's draws depend only on the seed and the
/// batch's index, not on the batches drawn before, so a run resumed at position k, or a source asked for its
/// batches in any order, draws the same data; the formula is part of what a checkpoint's position means, so
/// changing it changes every seeded run's data.
inline Rng batch_rng(std::uint64_t seed, std::uint64_t k) { return Rng(seed * 0x9E3779B97F4A7C15ULL + k); }

}  // namespace elm::train
