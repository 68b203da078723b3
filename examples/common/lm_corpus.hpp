// SPDX-License-Identifier: MIT
// A split corpus prepared for a word- or character-level language model (elm-lstm-lm and the demo): the
// tokenizer fitted to the training sentences, the training stream and the held-out sentences as ids.
#pragma once

#include <string>
#include <vector>

#include "austen.hpp"
#include "elm/core/types.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/train/token_windows.hpp"

namespace elm::examples {

/// The specials of a language model's vocabulary, ids 0 and 1: the unknown token, and the boundary that ends
/// a sentence and is the input before its first token.
inline const std::vector<std::string> lm_specials{"<unk>", "</s>"};

struct LmCorpus {
  text::SplitTokenizer tokenizer;
  Index unk_id = 0;
  Index boundary_id = 1;
  std::vector<Index> train_stream;                 ///< "</s> s_1 </s> s_2 </s> ..."
  std::vector<std::vector<Index>> test_sentences;  ///< without boundaries
  /// How many types share <unk>'s probability in perplexity: the training types left out, plus one for types
  /// never seen.
  Index unk_types() const { return tokenizer.rare_types() + 1; }
};

/// Each line's ids.
inline std::vector<std::vector<Index>> encode_lines(const text::SplitTokenizer& tokenizer,
                                                    const std::vector<std::string>& lines) {
  std::vector<std::vector<Index>> out;
  out.reserve(lines.size());
  for (const auto& line : lines) out.push_back(tokenizer.encode(line));
  return out;
}

/// The vocabulary (specials, then every training unit seen at least min_count times, most frequent first),
/// the training stream and the held-out sentences of a split.
inline LmCorpus make_lm_corpus(const AustenSplit& split, text::SplitUnit unit, Index min_count) {
  LmCorpus c{text::SplitTokenizer::fit(split.train, unit, min_count, lm_specials), 0, 1, {}, {}};
  c.train_stream = train::sentence_stream(encode_lines(c.tokenizer, split.train), c.boundary_id);
  c.test_sentences = encode_lines(c.tokenizer, split.test);
  return c;
}

}  // namespace elm::examples
