// SPDX-License-Identifier: MIT
// Levenshtein distance and the error rates built on it: how a sequence-to-sequence model's output is scored
// against a reference when exact match is too coarse (character error rate for text restoration, word error rate
// for recognition).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/text/utf8.hpp"

namespace elm::text {

/// The fewest insertions, deletions and substitutions of one element that turn `hypothesis` into `reference`
/// (Levenshtein, 1966). O(|h| |r|) time, O(min) memory: two rows of the dynamic programme.
template <typename Sequence>
std::size_t edit_distance(const Sequence& hypothesis, const Sequence& reference) {
  const Sequence& longer = hypothesis.size() >= reference.size() ? hypothesis : reference;
  const Sequence& shorter = hypothesis.size() >= reference.size() ? reference : hypothesis;
  std::vector<std::size_t> previous(shorter.size() + 1), current(shorter.size() + 1);
  for (std::size_t j = 0; j <= shorter.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= longer.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= shorter.size(); ++j) {
      const std::size_t substitute = previous[j - 1] + (longer[i - 1] == shorter[j - 1] ? 0 : 1);
      current[j] = std::min({substitute, previous[j] + 1, current[j - 1] + 1});
    }
    std::swap(previous, current);
  }
  return previous[shorter.size()];
}

/// Edit distance and reference length summed over a test set: the error rate is their ratio, each error counted
/// once over the whole set (not an average of per-sentence rates, which would weigh short sentences up).
struct ErrorRate {
  std::size_t errors = 0;
  std::size_t reference_length = 0;
  /// errors / reference_length; 0 for an empty reference set.
  double rate() const { return reference_length == 0 ? 0.0 : double(errors) / double(reference_length); }
};

/// Adds one pair's character (code point) errors. Throws FormatError naming the argument on invalid UTF-8.
inline void add_character_errors(std::string_view hypothesis, std::string_view reference, ErrorRate& total) {
  const std::u32string h = decode_utf8(hypothesis, "elm::text::add_character_errors (hypothesis)");
  const std::u32string r = decode_utf8(reference, "elm::text::add_character_errors (reference)");
  total.errors += edit_distance(h, r);
  total.reference_length += r.size();
}

/// Character error rate of hypotheses against references, paired by position. Throws InvalidArgument when the
/// counts differ, FormatError on invalid UTF-8.
inline ErrorRate character_error_rate(const std::vector<std::string>& hypotheses,
                                      const std::vector<std::string>& references) {
  ELM_EXPECT(hypotheses.size() == references.size(), InvalidArgument,
             "elm::text::character_error_rate: expected as many hypotheses as references, got ", hypotheses.size(),
             " hypotheses and ", references.size(), " references");
  ErrorRate total;
  for (std::size_t i = 0; i < hypotheses.size(); ++i) add_character_errors(hypotheses[i], references[i], total);
  return total;
}

}  // namespace elm::text
