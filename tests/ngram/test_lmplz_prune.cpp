// SPDX-License-Identifier: MIT
// Pruned estimates against lmplz --prune: the same n-grams, and every log10 p and back-off within 1e-4, on
// slices of train.txt (fixtures written by tools/make_lmplz_prune_fixtures.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/io/arpa.hpp"
#include "ngram_test_data.hpp"

namespace {

// One order's entries keyed by their words as text, so that the two vocabularies' ids need not agree.
using Entries = std::map<std::string, std::pair<double, double>>;

Entries entries(const elm::classic::NgramTables& t, int n) {
  const auto& o = t.orders[std::size_t(n - 1)];
  Entries out;
  for (std::size_t i = 0; i < o.size(); ++i) {
    std::string words;
    for (int k = 0; k < n; ++k) {
      if (k) words += ' ';
      words += t.vocabulary.word(o.ngram(i)[k]);
    }
    out[words] = {o.log10_prob[i], o.log10_backoff.empty() ? 0.0 : o.log10_backoff[i]};
  }
  return out;
}

void compare_with_lmplz(int order, const std::vector<std::int64_t>& prune, std::size_t sentences) {
  const auto& train = ngram_test::train_lines();
  elm::classic::NgramCounts counts(order);
  counts.add_lines(std::vector<std::string>(train.begin(), train.begin() + std::ptrdiff_t(sentences)));
  elm::classic::KneserNeyOptions options;
  options.prune = prune;
  const auto ours = elm::classic::estimate_kneser_ney(counts, options);
  const auto lmplz = elm::io::read_arpa(ngram_test::data_path("lmplz_prune_o" + std::to_string(order) + ".arpa"));
  REQUIRE(lmplz.order() == order);
  for (int n = 1; n <= order; ++n) {
    const Entries a = entries(ours, n), b = entries(lmplz, n);
    std::size_t only_ours = 0, only_lmplz = 0;
    double max_prob = 0.0, max_backoff = 0.0;
    for (const auto& [words, value] : b) {
      const auto it = a.find(words);
      if (it == a.end()) {
        ++only_lmplz;
        continue;
      }
      max_prob = std::max(max_prob, std::abs(it->second.first - value.first));
      max_backoff = std::max(max_backoff, std::abs(it->second.second - value.second));
    }
    for (const auto& kv : a) only_ours += b.count(kv.first) == 0;
    std::printf("lmplz --prune, order %d, %d-grams: ours %zu, lmplz %zu, max |dlog10 p| = %.3g, "
                "max |dlog10 b| = %.3g\n",
                order, n, a.size(), b.size(), max_prob, max_backoff);
    INFO("order " << order << ", " << n << "-grams");
    CHECK(only_ours == 0);
    CHECK(only_lmplz == 0);
    CHECK(max_prob <= 1e-4);
    CHECK(max_backoff <= 1e-4);
  }
}

}  // namespace

TEST_CASE("Pruned Kneser-Ney matches lmplz --prune 0 1 1 (order 3, singletons)", "[ngram][kneser_ney][prune][lmplz]") {
  compare_with_lmplz(3, {0, 1, 1}, 1000);
}

TEST_CASE("Pruned Kneser-Ney matches lmplz --prune 0 1 2 3 (order 4, raw-count thresholds)",
          "[ngram][kneser_ney][prune][lmplz]") {
  // With thresholds above 1 lmplz's rule (raw count <= threshold) and a rule on adjusted counts part ways.
  compare_with_lmplz(4, {0, 1, 2, 3}, 1000);
}

TEST_CASE("Pruned Kneser-Ney matches lmplz --prune 0 0 1 1 1 (order 5)", "[ngram][kneser_ney][prune][lmplz]") {
  compare_with_lmplz(5, {0, 0, 1, 1, 1}, 500);
}
