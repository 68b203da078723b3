// SPDX-License-Identifier: MIT
// Interpolated modified Kneser-Ney estimation, computed exactly as KenLM's lmplz computes it.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/core/error.hpp"

namespace elm::classic {

/// Options of estimate_kneser_ney, named after lmplz's flags.
struct KneserNeyOptions {
  /// lmplz --discount_fallback: when the closed-form discounts of an order cannot be computed (a count-of-
  /// counts t1..t3 is 0) or fall outside [0, k], use fallback_discounts for that order instead of throwing.
  bool discount_fallback = false;
  /// D1, D2, D3+ used by the fallback; with fewer than three values the last one repeats. Each Dk in [0, k].
  std::vector<double> fallback_discounts = {0.5, 1.0, 1.5};
  /// lmplz --interpolate_unigrams (default on): unigrams interpolate with the uniform distribution over
  /// the vocabulary without <s>. Off: the whole unigram back-off mass goes to <unk> (SRILM's way).
  bool interpolate_unigrams = true;
  /// Pruning thresholds per order, as lmplz --prune: an n-gram of order n >= 2 whose raw count is at most
  /// prune[n-1] is left out; the last value repeats for higher orders; prune[0] must be 0 (no unigram pruning)
  /// and the values must not decrease (so a kept n-gram's prefix and suffix are kept too). A pruned n-gram's
  /// whole adjusted count joins gamma(h), so every distribution still sums to 1. Empty: no pruning (the
  /// default). Checked entry by entry against lmplz's output (tests/ngram, tools/make_lmplz_prune_fixtures.py).
  std::vector<std::int64_t> prune{};
};

/// The discounts of one order and the counts-of-counts of adjusted counts they come from.
struct KneserNeyDiscount {
  int n = 0;
  std::array<std::int64_t, 5> t{};  // t[k] = number of n-grams with adjusted count k, k = 1..4
  std::array<double, 4> d{};        // d[1], d[2], d[3] = D1, D2, D3+; d[0] = 0
  bool fallback = false;            // true when the fallback discounts replaced the closed form
};

}  // namespace elm::classic

namespace elm::classic::detail {

inline void check_kn_fallback(const std::vector<double>& f) {
  ELM_EXPECT(!f.empty() && f.size() <= 3, InvalidArgument,
             "elm::classic::estimate_kneser_ney: fallback_discounts has ", f.size(), " values, expected 1 to 3");
  for (std::size_t k = 0; k < 3; ++k) {
    const double v = f[std::min(k, f.size() - 1)];
    ELM_EXPECT(v >= 0.0 && v <= double(k + 1), InvalidArgument,
               "elm::classic::estimate_kneser_ney: fallback discount D", k + 1, " = ", v,
               ", expected a value in [0, ", k + 1, "]");
  }
}
}  // namespace elm::classic::detail

namespace elm::classic {

/// Interpolated modified Kneser-Ney (Chen and Goodman 1998, eq. 26 discounts), step for step as lmplz:
///   a(g) = c(g) at the highest order and for g starting with <s>, else N1+(. g) (distinct left words);
///   Dn(k) = k - (k+1) Y t_{k+1} / t_k, Y = t1 / (t1 + 2 t2), t_k = #{order-n g : a(g) = k}, k >= 3 uses Dn(3);
///   p(w|h) = (a(hw) - Dn(a(hw))) / S(h) + gamma(h) p(w|h'), S(h) = sum_x a(hx),
///   gamma(h) = (Dn(1) N1(h.) + Dn(2) N2(h.) + Dn(3) N3+(h.)) / S(h);
///   p(w) = u(w) + gamma(empty) / (|V| - 1) (uniform over the vocabulary without <s>), p(<s>) printed as 1.
/// The ARPA back-off of g is log10 gamma(g) when g is a context and does not end in </s> or <unk>, else 0.
/// Probabilities are written as min(0, log10 p).
/// Throws InvalidArgument on empty training data, NumericalError when an order's discounts cannot be
/// computed or are out of range (lmplz's BadDiscountException) unless options.discount_fallback is set.
/// discounts (optional) receives one entry per order. Time and memory O(number of n-grams).
inline NgramTables estimate_kneser_ney(const NgramCounts& counts, const KneserNeyOptions& options = {},
                                       std::vector<KneserNeyDiscount>* discounts = nullptr,
                                       const NgramProgress& progress = {}) {
  using detail::NgramStore;
  constexpr WordId unk = 0, bos = 1, eos = 2;
  const int N = counts.order();
  const std::size_t order_count = static_cast<std::size_t>(N);
  ELM_EXPECT(counts.sentences() > 0, InvalidArgument,
             "elm::classic::estimate_kneser_ney: the training text is empty, expected at least one sentence");
  if (options.discount_fallback) detail::check_kn_fallback(options.fallback_discounts);
  const auto& prune = options.prune;
  for (std::size_t k = 0; k < prune.size(); ++k)
    ELM_EXPECT(k == 0 ? prune[0] == 0 : prune[k] >= prune[k - 1], InvalidArgument,
               "elm::classic::estimate_kneser_ney: prune = [", k == 0 ? prune[0] : prune[k - 1], ", ",
               k == 0 ? std::int64_t(0) : prune[k], "] at order ", k + 1,
               ", expected prune[0] = 0 and non-decreasing thresholds");
  const auto threshold = [&](int n) -> std::int64_t {
    if (prune.empty()) return 0;
    return prune[std::min(std::size_t(n - 1), prune.size() - 1)];
  };
  const auto report = [&](const char* stage, double f) {
    if (progress) progress(stage, f);
  };

  // 1) Adjusted counts, from the highest order down: an n-gram ending a longer one gains one per distinct left
  //    word (the longer n-grams' suffix links), except the ones starting with <s> (no word precedes <s>).
  //    At the highest order (above unigrams) the adjusted counts are the raw counts, used in place.
  std::vector<std::vector<std::int64_t>> adj(order_count);
  const auto adjusted = [&](int n) -> const std::vector<std::int64_t>& {
    return n == N && N > 1 ? counts.counts(N) : adj[std::size_t(n - 1)];
  };
  for (int n = N; n >= 1; --n) {
    const NgramStore& st = counts.store(n);
    const auto& raw = counts.counts(n);
    auto& a = adj[std::size_t(n - 1)];
    if (n == N) {
      if (N > 1) continue;
      a = raw;
    } else {
      a.assign(st.size(), 0);
      for (std::size_t i = 0; i < st.size(); ++i)
        if (st.words(i)[0] == bos) a[i] = raw[i];
      for (std::uint32_t s : counts.suffixes(n + 1)) a[s] += 1;
    }
    if (n == 1) a[bos] = a[unk] = 0;
    report("adjusting counts", double(N - n + 1) / double(N));
  }

  // 2) Discounts per order.
  std::vector<KneserNeyDiscount> disc(order_count);
  for (int n = 1; n <= N; ++n) {
    KneserNeyDiscount& dn = disc[std::size_t(n - 1)];
    dn.n = n;
    const auto& a = adjusted(n);
    // lmplz's AdjustCounts flushes the n-grams still open at the end of its suffix-sorted stream (the suffixes
    // of the last N-gram) with their raw counts where every other n-gram adds its adjusted count, so below the
    // highest order the n-gram that is last in suffix order (compared from its last word back, by id; ids in
    // first-appearance order as lmplz numbers them) enters the counts-of-counts with its raw count.
    std::size_t last_in_suffix_order = a.size();
    if (n < N) {
      const NgramStore& st = counts.store(n);
      const auto suffix_less = [&](std::size_t x, std::size_t y) {
        for (int k = n - 1; k >= 0; --k)
          if (st.words(x)[k] != st.words(y)[k]) return st.words(x)[k] < st.words(y)[k];
        return false;
      };
      for (std::size_t i = 0; i < st.size(); ++i)
        if (last_in_suffix_order == a.size() || suffix_less(last_in_suffix_order, i)) last_in_suffix_order = i;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::int64_t v = i == last_in_suffix_order ? counts.counts(n)[i] : a[i];
      if (v >= 1 && v <= 4) ++dn.t[std::size_t(v)];
    }
    std::string problem;
    for (int k = 1; k <= 3 && problem.empty(); ++k)
      if (dn.t[std::size_t(k)] == 0)
        problem = elm::detail::concat("could not calculate Kneser-Ney discounts for ", n,
                                      "-grams with adjusted count ", k + 1, " because no ", n,
                                      "-gram has adjusted count ", k, " (is this small or artificial data?)");
    if (problem.empty()) {
      const double t1 = double(dn.t[1]), t2 = double(dn.t[2]);
      const double y = t1 / (t1 + 2.0 * t2);
      for (int k = 1; k <= 3 && problem.empty(); ++k) {
        const double v = double(k) - double(k + 1) * y * double(dn.t[std::size_t(k + 1)]) / double(dn.t[std::size_t(k)]);
        dn.d[std::size_t(k)] = v;
        if (!(v >= 0.0 && v <= double(k)))
          problem = elm::detail::concat(n, "-gram discount out of range for adjusted count ", k, ": ", v,
                                        ", expected a value in [0, ", k, "]");
      }
    }
    if (!problem.empty()) {
      ELM_EXPECT(options.discount_fallback, NumericalError, "elm::classic::estimate_kneser_ney: ", problem,
                 "; set discount_fallback (lmplz --discount_fallback) to use fixed discounts");
      const auto& f = options.fallback_discounts;
      for (std::size_t k = 1; k <= 3; ++k) dn.d[k] = f[std::min(k - 1, f.size() - 1)];
      dn.fallback = true;
    }
  }
  report("discounts", 1.0);
  const auto discount = [&](int n, std::int64_t a) {
    return disc[std::size_t(n - 1)].d[std::size_t(std::min<std::int64_t>(a, 3))];
  };

  // 2b) Pruning as lmplz does it: an n-gram of order n >= 2 goes when its raw count is at most the threshold.
  //     With non-decreasing thresholds a kept n-gram's prefix and suffix (whose raw counts are at least its
  //     own) stay as well, so the ARPA file stays consistent without a check.
  std::vector<std::vector<char>> keep(order_count);
  for (int n = 1; n <= N; ++n) {
    const auto& raw = counts.counts(n);
    auto& k = keep[std::size_t(n - 1)];
    k.assign(raw.size(), 1);
    if (n == 1 || prune.empty()) continue;
    const std::int64_t t = threshold(n);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = raw[i] > t;
  }

  // 3) Context sums S(h) and gamma(h) = sum_x Dn(a(hx)) / S(h) (the same as D1 N1 + D2 N2 + D3 N3+ over S);
  //    ctx_sum[n-1] and gamma[n-1] are indexed by the order-(n-1) entry h, for the order-n grams h x.
  std::vector<std::vector<double>> ctx_sum(order_count), gamma(order_count);
  double empty_sum = 0.0, empty_weighted = 0.0;
  for (std::int64_t a : adjusted(1)) {
    if (a <= 0) continue;
    empty_sum += double(a);
    empty_weighted += discount(1, a);
  }
  const double empty_gamma = empty_weighted / empty_sum;
  for (int n = 2; n <= N; ++n) {
    const auto& c = counts.prefixes(n);
    auto& sum = ctx_sum[std::size_t(n - 1)];
    auto& g = gamma[std::size_t(n - 1)];
    sum.assign(counts.size(n - 1), 0.0);
    g.assign(counts.size(n - 1), 0.0);
    const auto& a = adjusted(n);
    const auto& k = keep[std::size_t(n - 1)];
    // A pruned n-gram gives its whole adjusted count to gamma(h), its discount and its own mass u(w|h).
    for (std::size_t i = 0; i < c.size(); ++i) {
      sum[c[i]] += double(a[i]);
      g[c[i]] += k[i] ? discount(n, a[i]) : double(a[i]);
    }
    for (std::size_t h = 0; h < sum.size(); ++h)
      if (sum[h] > 0.0) g[h] /= sum[h];
    report("context sums", double(n - 1) / double(N - 1));
  }

  // 4) Interpolated probabilities, from unigrams up: p(w|h) = u(w|h) + gamma(h) p(w|h').
  std::vector<std::vector<double>> prob(order_count);
  {
    const auto& a = adjusted(1);
    auto& p = prob[0];
    p.resize(a.size());
    const double uniform = 1.0 / double(a.size() - 1);
    for (std::size_t w = 0; w < a.size(); ++w) {
      const double u = a[w] > 0 ? (double(a[w]) - discount(1, a[w])) / empty_sum : 0.0;
      p[w] = options.interpolate_unigrams ? u + empty_gamma * uniform : u;
    }
    if (!options.interpolate_unigrams) p[unk] = empty_gamma;
    p[bos] = 1.0;
  }
  for (int n = 2; n <= N; ++n) {
    const auto& a = adjusted(n);
    const auto& c = counts.prefixes(n);
    const auto& s = counts.suffixes(n);
    const auto& sum = ctx_sum[std::size_t(n - 1)];
    const auto& g = gamma[std::size_t(n - 1)];
    const auto& lower = prob[std::size_t(n - 2)];
    auto& p = prob[std::size_t(n - 1)];
    p.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t h = c[i];
      p[i] = (double(a[i]) - discount(n, a[i])) / sum[h] + g[h] * lower[s[i]];
    }
    report("probabilities", double(n - 1) / double(N - 1));
  }

  // The tables below need neither the adjusted counts nor the context sums: release them first (peak memory).
  std::vector<std::vector<std::int64_t>>().swap(adj);
  std::vector<std::vector<double>>().swap(ctx_sum);

  // 5) The ARPA tables: the kept n-grams; a back-off wherever a kept longer n-gram extends the n-gram.
  NgramTables out;
  out.vocabulary = counts.vocabulary();
  out.orders.resize(order_count);
  std::vector<std::vector<char>> extended(order_count);
  for (int n = 2; n <= N; ++n) {
    extended[std::size_t(n - 2)].assign(counts.size(n - 1), 0);
    const auto& c = counts.prefixes(n);
    for (std::size_t i = 0; i < c.size(); ++i)
      if (keep[std::size_t(n - 1)][i]) extended[std::size_t(n - 2)][c[i]] = 1;
  }
  // log10 through the natural log: the same value to a few ulps, and cheaper than std::log10.
  const auto log10 = [](double x) { return std::log(x) * 0.43429448190325182765; };
  for (int n = 1; n <= N; ++n) {
    const NgramStore& st = counts.store(n);
    const auto& k = keep[std::size_t(n - 1)];
    auto& p = prob[std::size_t(n - 1)];
    NgramOrderTable& t = out.orders[std::size_t(n - 1)];
    t.n = n;
    const auto kept = static_cast<std::size_t>(std::count(k.begin(), k.end(), char(1)));
    if (kept == st.size()) {
      t.words = st.all_words();
    } else {
      t.words.reserve(kept * std::size_t(n));
      for (std::size_t i = 0; i < st.size(); ++i)
        if (k[i]) t.words.insert(t.words.end(), st.words(i), st.words(i) + n);
    }
    // Without pruning the probabilities become the table's column in place (no order reads them any more).
    if (kept == st.size()) {
      t.log10_prob = std::move(p);
    } else {
      t.log10_prob.resize(kept);
    }
    if (n < N) t.log10_backoff.resize(kept);
    std::size_t j = 0;
    for (std::size_t i = 0; i < st.size(); ++i) {
      if (!k[i]) continue;
      t.log10_prob[j] = std::min(0.0, log10(kept == st.size() ? t.log10_prob[j] : p[i]));
      if (n < N) {
        const WordId last = st.words(i)[n - 1];
        const bool context = extended[std::size_t(n - 1)][i] && last != eos && last != unk;
        t.log10_backoff[j] = context ? log10(gamma[std::size_t(n)][i]) : 0.0;
      }
      ++j;
    }
  }
  if (discounts != nullptr) *discounts = std::move(disc);
  report("writing", 1.0);
  return out;
}

}  // namespace elm::classic
