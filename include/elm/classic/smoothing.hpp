// SPDX-License-Identifier: MIT
// Maximum likelihood, add-k (Laplace) and stupid back-off estimates of n-gram tables from raw counts.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/core/error.hpp"

namespace elm::classic {

/// log10 of zero as ARPA files write it (SRILM's convention).
inline constexpr double arpa_log10_zero = -99.0;

}  // namespace elm::classic

namespace elm::classic::detail {

inline double ngram_log10_or_zero(double p) { return p > 0.0 ? std::log10(p) : classic::arpa_log10_zero; }

/// Tables with the words of counts and zeroed values; ctx[n-1][i] = index of the prefix of order-n entry i.
inline classic::NgramTables ngram_tables_like(const classic::NgramCounts& counts, std::vector<std::vector<std::size_t>>& ctx,
                               std::vector<std::vector<char>>& is_context) {
  const int N = counts.order();
  classic::NgramTables t;
  t.vocabulary = counts.vocabulary();
  t.orders.resize(std::size_t(N));
  ctx.assign(std::size_t(N), {});
  is_context.assign(std::size_t(N), {});
  for (int n = 1; n <= N; ++n) {
    const auto& st = counts.store(n);
    classic::NgramOrderTable& o = t.orders[std::size_t(n - 1)];
    o.n = n;
    for (std::size_t i = 0; i < st.size(); ++i) o.words.insert(o.words.end(), st.words(i), st.words(i) + n);
    o.log10_prob.assign(st.size(), 0.0);
    if (n < N) o.log10_backoff.assign(st.size(), 0.0);
    is_context[std::size_t(n - 1)].assign(st.size(), 0);
    if (n >= 2) {
      const auto& lo = counts.store(n - 1);
      auto& c = ctx[std::size_t(n - 1)];
      c.resize(st.size());
      for (std::size_t i = 0; i < st.size(); ++i) {
        c[i] = lo.find(st.words(i));
        is_context[std::size_t(n - 2)][c[i]] = 1;
      }
    }
  }
  return t;
}

inline void check_ngram_counts(const classic::NgramCounts& counts, const char* where) {
  ELM_EXPECT(counts.sentences() > 0, InvalidArgument, where,
             ": the training text is empty, expected at least one sentence");
}

}  // namespace elm::classic::detail

namespace elm::classic {

/// Maximum likelihood: p(w|h) = c(hw) / c(h), p(w) = c(w) / T with T = words + </s> tokens. Unseen
/// continuations of a seen context get probability 0: every context's back-off is written as log10 0 (-99),
/// as are p(<s>) and p(<unk>). Throws InvalidArgument on empty training data.
inline NgramTables estimate_mle(const NgramCounts& counts) {
  detail::check_ngram_counts(counts, "elm::classic::estimate_mle");
  std::vector<std::vector<std::size_t>> ctx;
  std::vector<std::vector<char>> is_ctx;
  NgramTables t = detail::ngram_tables_like(counts, ctx, is_ctx);
  const int N = counts.order();
  const double total = double(counts.tokens() + counts.sentences());
  const auto& c1 = counts.counts(1);
  for (std::size_t w = 0; w < c1.size(); ++w) t.orders[0].log10_prob[w] = detail::ngram_log10_or_zero(w == 1 ? 0.0 : double(c1[w]) / total);
  for (int n = 2; n <= N; ++n) {
    const auto& c = counts.counts(n);
    const auto& ch = counts.counts(n - 1);
    for (std::size_t i = 0; i < c.size(); ++i)
      t.orders[std::size_t(n - 1)].log10_prob[i] = std::log10(double(c[i]) / double(ch[ctx[std::size_t(n - 1)][i]]));
  }
  for (int n = 1; n < N; ++n)
    for (std::size_t i = 0; i < is_ctx[std::size_t(n - 1)].size(); ++i)
      if (is_ctx[std::size_t(n - 1)][i]) t.orders[std::size_t(n - 1)].log10_backoff[i] = arpa_log10_zero;
  return t;
}

/// Add-k (Laplace for k = 1) over the vocabulary V' without <s> (so |V'| = |V| - 1, <unk> and </s> included):
///   p(w) = (c(w) + k) / (T + k |V'|);   p(w|h) = (c(hw) + k) / (c(h) + k |V'|) for every listed hw.
/// ARPA cannot list the V'^n unseen n-grams, so the unseen mass k (|V'| - N1+(h.)) / (c(h) + k |V'|), exact,
/// is spread over the unseen words in proportion to the lower order (back-off weight
/// b(h) = unseen mass / (1 - sum_{x seen after h} p(x|h'))). Unigrams are exactly add-k; every distribution
/// sums to 1. Throws InvalidArgument for k <= 0 or empty training data.
inline NgramTables estimate_add_k(const NgramCounts& counts, double k = 1.0) {
  detail::check_ngram_counts(counts, "elm::classic::estimate_add_k");
  ELM_EXPECT(k > 0.0 && std::isfinite(k), InvalidArgument, "elm::classic::estimate_add_k: k = ", k,
             ", expected a finite k > 0");
  std::vector<std::vector<std::size_t>> ctx;
  std::vector<std::vector<char>> is_ctx;
  NgramTables t = detail::ngram_tables_like(counts, ctx, is_ctx);
  const int N = counts.order();
  const double vp = double(counts.vocabulary().size() - 1);
  const double total = double(counts.tokens() + counts.sentences());
  const auto& c1 = counts.counts(1);
  std::vector<std::vector<double>> prob(static_cast<std::size_t>(N));
  prob[0].resize(c1.size());
  for (std::size_t w = 0; w < c1.size(); ++w) {
    prob[0][w] = w == 1 ? 0.0 : (double(c1[w]) + k) / (total + k * vp);
    t.orders[0].log10_prob[w] = detail::ngram_log10_or_zero(prob[0][w]);
  }
  for (int n = 2; n <= N; ++n) {
    const auto& c = counts.counts(n);
    const auto& ch = counts.counts(n - 1);
    const auto& st = counts.store(n);
    const auto& lo = counts.store(n - 1);
    auto& p = prob[std::size_t(n - 1)];
    p.resize(c.size());
    std::vector<double> seen(ch.size(), 0.0), lower_seen(ch.size(), 0.0), types(ch.size(), 0.0);
    for (std::size_t i = 0; i < c.size(); ++i) {
      const std::size_t h = ctx[std::size_t(n - 1)][i];
      p[i] = (double(c[i]) + k) / (double(ch[h]) + k * vp);
      t.orders[std::size_t(n - 1)].log10_prob[i] = std::log10(p[i]);
      types[h] += 1.0;
      const std::size_t s = lo.find(st.words(i) + 1);
      lower_seen[h] += prob[std::size_t(n - 2)][s];
    }
    for (std::size_t h = 0; h < ch.size(); ++h) {
      if (!is_ctx[std::size_t(n - 2)][h]) continue;
      const double unseen = k * (vp - types[h]) / (double(ch[h]) + k * vp);
      const double rest = 1.0 - lower_seen[h];
      t.orders[std::size_t(n - 2)].log10_backoff[h] = detail::ngram_log10_or_zero(rest > 0.0 ? unseen / rest : 0.0);
    }
  }
  return t;
}

/// Stupid back-off (Brants et al. 2007): S(w|h) = c(hw) / c(h) when hw was seen, else alpha S(w|h'), and
/// S(w) = c(w) / T. Scores, not probabilities: they do not sum to 1. As ARPA, every seen context carries
/// back-off log10 alpha. Throws InvalidArgument for alpha outside (0, 1] or empty training data.
inline NgramTables estimate_stupid_backoff(const NgramCounts& counts, double alpha = 0.4) {
  detail::check_ngram_counts(counts, "elm::classic::estimate_stupid_backoff");
  ELM_EXPECT(alpha > 0.0 && alpha <= 1.0, InvalidArgument, "elm::classic::estimate_stupid_backoff: alpha = ",
             alpha, ", expected 0 < alpha <= 1");
  NgramTables t = estimate_mle(counts);
  std::vector<std::vector<std::size_t>> ctx;
  std::vector<std::vector<char>> is_ctx;
  detail::ngram_tables_like(counts, ctx, is_ctx);
  for (int n = 1; n < counts.order(); ++n)
    for (std::size_t i = 0; i < is_ctx[std::size_t(n - 1)].size(); ++i)
      if (is_ctx[std::size_t(n - 1)][i]) t.orders[std::size_t(n - 1)].log10_backoff[i] = std::log10(alpha);
  return t;
}

}  // namespace elm::classic
