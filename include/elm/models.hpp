// SPDX-License-Identifier: MIT
// Umbrella header of models: word2vec with its keyed vectors, and the LSTM language model.
#pragma once

#include "elm/core.hpp"

#include "elm/models/keyed_vectors.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/models/word2vec.hpp"
