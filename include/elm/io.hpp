// SPDX-License-Identifier: MIT
// Umbrella header of io: safetensors, checkpoints, training state, config.json, ARPA, n-gram, tagger and vector files.
#pragma once

#include "elm/core.hpp"

#include "elm/io/arpa.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/hmm_json.hpp"
#include "elm/io/line_shard.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/io/ngram_binary.hpp"
#include "elm/io/pos_tagger.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/io/training_state.hpp"
#include "elm/io/word_vectors.hpp"
