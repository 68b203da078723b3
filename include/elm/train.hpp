// SPDX-License-Identifier: MIT
// Umbrella header of train: the Trainer (optimizer, schedule, clipping, accumulation, evaluation, checkpoints)
// and the language-model data it trains on.
#pragma once

#include "elm/core.hpp"

#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
