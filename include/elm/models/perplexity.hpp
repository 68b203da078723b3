// SPDX-License-Identifier: MIT
// SentencePerplexity: a neural language model's held-out perplexity over sentences scored one by one, with the
// conventions of the n-gram models (every token and each sentence's end predicted, <unk>'s share).
#pragma once

#include <cmath>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"

namespace elm::models {

/// Held-out perplexity with the conventions of classic::NgramModel::perplexity: every token and the boundary
/// after every sentence is predicted, each sentence from its start. A token that the vocabulary maps to unk_id
/// is scored as p(<unk>) / unk_types (<unk>'s mass shared evenly by the types it stands for: the training types
/// left out of the vocabulary, plus one for types never seen), so the number is comparable with a model whose
/// vocabulary holds every training type.
struct SentencePerplexity {
  double log_prob = 0.0;  ///< natural log, summed
  Index tokens = 0;
  Index unk_tokens = 0;
  double perplexity() const { return std::exp(-log_prob / static_cast<double>(tokens)); }
};

/// The perplexity of per-token scores: scores[s] holds the natural-log probabilities of sentence s's tokens and
/// of its end (sentences[s].size() + 1 values, as a model's sentence scorer gives them). Throws InvalidArgument
/// for unk_types < 1, ShapeError when the scores do not match the sentences.
inline SentencePerplexity sentence_perplexity(const std::vector<std::vector<double>>& scores,
                                              const std::vector<std::vector<Index>>& sentences, Index unk_id,
                                              Index unk_types, std::string_view where) {
  check_argument(unk_types >= 1, where, "expected unk_types >= 1, got ", unk_types);
  ELM_EXPECT(scores.size() == sentences.size(), ShapeError, where, ": got scores of ", scores.size(),
             " sentences, expected ", sentences.size());
  SentencePerplexity result;
  const double unk_share = std::log(static_cast<double>(unk_types));
  for (std::size_t s = 0; s < scores.size(); ++s) {
    ELM_EXPECT(scores[s].size() == sentences[s].size() + 1, ShapeError, where, ": sentence ", s, " has ",
               sentences[s].size(), " tokens and ", scores[s].size(), " scores, expected one more score");
    for (std::size_t k = 0; k < scores[s].size(); ++k) {
      result.log_prob += scores[s][k];
      ++result.tokens;
      if (k < sentences[s].size() && sentences[s][k] == unk_id) {
        result.log_prob -= unk_share;
        ++result.unk_tokens;
      }
    }
  }
  return result;
}

}  // namespace elm::models
