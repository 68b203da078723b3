// SPDX-License-Identifier: MIT
// NgramTables: a back-off n-gram model as explicit lists of n-grams with log10 probability and back-off (ARPA's content).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/core/error.hpp"

namespace elm::classic {

/// The n-grams of one order: entry i has the words words[i*n .. i*n+n), log10 p(w_n | w_1..w_{n-1}) in
/// log10_prob[i] and, below the highest order, the log10 back-off weight of w_1..w_n in log10_backoff[i].
struct NgramOrderTable {
  int n = 0;
  std::vector<WordId> words;
  std::vector<double> log10_prob;
  std::vector<double> log10_backoff;  // empty at the highest order
  std::size_t size() const noexcept { return log10_prob.size(); }
  const WordId* ngram(std::size_t i) const noexcept { return words.data() + i * std::size_t(n); }
};

/// A back-off model as ARPA stores it: p(w | h) = p(h w) when h w is listed, else b(h) p(w | h'), where h' is
/// h without its first word and b(h) = 1 when h is not listed. Unigram entry i is word id i.
struct NgramTables {
  NgramVocabulary vocabulary;
  std::vector<NgramOrderTable> orders;  // orders[n - 1] holds the n-grams

  int order() const noexcept { return static_cast<int>(orders.size()); }
  std::size_t total_size() const noexcept {
    std::size_t s = 0;
    for (const auto& o : orders) s += o.size();
    return s;
  }
};

}  // namespace elm::classic
