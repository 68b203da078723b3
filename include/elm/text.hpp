// SPDX-License-Identifier: MIT
// Umbrella header of text: UTF-8, Unicode properties, the vocabulary, the BPE, WordPiece and split
// (word or character) tokenizers.
#pragma once

#include "elm/core.hpp"

#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/edit_distance.hpp"
#include "elm/text/encoding.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/text/unicode.hpp"
#include "elm/text/utf8.hpp"
#include "elm/text/vocabulary.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"
