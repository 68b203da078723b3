// SPDX-License-Identifier: MIT
// Umbrella header of train: the Trainer (optimizer, schedule, clipping, accumulation, evaluation, checkpoints)
// and the data it trains on: language-model windows, labelled sequences for classifiers.
#pragma once

#include "elm/core.hpp"

#include "elm/train/batch_rng.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
