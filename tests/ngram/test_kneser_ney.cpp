// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_model.hpp"
#include "ngram_test_data.hpp"

using elm::classic::estimate_kneser_ney;
using elm::classic::KneserNeyOptions;
using elm::classic::NgramCounts;

namespace {

// log10 value of an n-gram given as text in tables estimated from counts (NaN when absent).
double entry(const NgramCounts& c, const elm::classic::NgramTables& t, const std::string& words, bool backoff) {
  std::vector<elm::classic::WordId> ids;
  for (const std::string& w : ngram_test::split(words, ' ')) {
    elm::classic::WordId id = 0;
    if (!c.vocabulary().find(w, &id)) return std::nan("");
    ids.push_back(id);
  }
  const int n = static_cast<int>(ids.size());
  const std::size_t i = c.store(n).find(ids.data());
  if (i == elm::classic::detail::NgramStore::npos) return std::nan("");
  const auto& o = t.orders[std::size_t(n - 1)];
  return backoff ? o.log10_backoff[i] : o.log10_prob[i];
}

}  // namespace

TEST_CASE("Kneser-Ney: a bigram model worked out by hand", "[ngram][kneser_ney]") {
  // Sentences "a b", "b", "a b" -> <s> a b </s>, <s> b </s>, <s> a b </s>.
  // Unigram adjusted counts = distinct left words: a {<s>} 1, b {a, <s>} 2, </s> {b} 1. For the counts-of-counts
  // lmplz takes the raw count of the n-gram that comes last in its suffix order (here b, the largest word id:
  // raw count 3), so t1 = 2, t2 = 0, t3 = 1 (lmplz: "adjusted count 3 because we didn't observe any 1-grams with
  // adjusted count 2"): the closed form fails for unigrams, so (as lmplz --discount_fallback) they use D1 = 0.5,
  // D2 = 1, D3+ = 1.5, and the probabilities use b's adjusted count 2.
  //   S = 4, u(a) = (1 - 0.5)/4 = 0.125, u(b) = (2 - 1)/4 = 0.25, u(</s>) = 0.125, gamma = (0.5 + 1 + 0.5)/4 = 0.5,
  //   |V| = 5 (<unk> <s> </s> a b), uniform 1/(|V| - 1) = 1/4:
  //   p(a) = 0.25, p(b) = 0.375, p(</s>) = 0.25, p(<unk>) = 0.125.
  // Bigrams (highest order, a = raw count): <s> a: 2, a b: 2, b </s>: 3, <s> b: 1, so t1 = 1, t2 = 2, t3 = 1,
  // t4 = 0 and the closed form works: Y = 1/(1 + 2*2) = 0.2, D1 = 1 - 2*0.2*2/1 = 0.2, D2 = 2 - 3*0.2*1/2 = 1.7,
  // D3+ = 3 - 4*0.2*0/1 = 3.
  // Context <s>: S = 3, gamma = (1.7 + 0.2)/3: p(a|<s>) = 0.3/3 + gamma 0.25, p(b|<s>) = 0.8/3 + gamma 0.375.
  // Context a: S = 2, gamma = 1.7/2 = 0.85: p(b|a) = 0.3/2 + 0.85 * 0.375 = 0.46875.
  // Context b: S = 3, gamma = 3/3 = 1: p(</s>|b) = 0/3 + 1 * 0.25 = 0.25.
  NgramCounts c(2);
  for (const char* line : {"a b", "b", "a b"}) c.add_line(line);
  KneserNeyOptions opt;
  opt.discount_fallback = true;
  std::vector<elm::classic::KneserNeyDiscount> d;
  const auto t = estimate_kneser_ney(c, opt, &d);
  REQUIRE(d.size() == 2);
  CHECK(d[0].fallback);
  CHECK(d[0].t[1] == 2);
  CHECK(d[0].t[2] == 0);
  CHECK(d[0].t[3] == 1);
  CHECK(!d[1].fallback);
  CHECK_THAT(d[1].d[1], Catch::Matchers::WithinAbs(0.2, 1e-12));
  CHECK_THAT(d[1].d[2], Catch::Matchers::WithinAbs(1.7, 1e-12));
  CHECK_THAT(d[1].d[3], Catch::Matchers::WithinAbs(3.0, 1e-12));
  const auto near = [](double got, double p) { CHECK_THAT(got, Catch::Matchers::WithinAbs(std::log10(p), 1e-12)); };
  const double g_bos = 1.9 / 3;
  near(entry(c, t, "a", false), 0.25);
  near(entry(c, t, "b", false), 0.375);
  near(entry(c, t, "</s>", false), 0.25);
  near(entry(c, t, "<unk>", false), 0.125);
  CHECK(entry(c, t, "<s>", false) == 0.0);
  near(entry(c, t, "<s> a", false), 0.1 + g_bos * 0.25);
  near(entry(c, t, "<s> b", false), 0.8 / 3 + g_bos * 0.375);
  near(entry(c, t, "a b", false), 0.46875);
  near(entry(c, t, "b </s>", false), 0.25);
  near(entry(c, t, "<s>", true), g_bos);
  near(entry(c, t, "a", true), 0.85);
  near(entry(c, t, "b", true), 1.0);
  CHECK(entry(c, t, "</s>", true) == 0.0);
  CHECK(entry(c, t, "<unk>", true) == 0.0);

  // The query model (float32 values): an unseen bigram backs off, p(a|b) = gamma(b) p(a) = 0.25; a sentence.
  const elm::classic::NgramModel m(t);
  const auto near_f = [](double got, double p) { CHECK_THAT(got, Catch::Matchers::WithinAbs(std::log10(p), 1e-6)); };
  near_f(m.log_prob({"b"}, "a"), 0.25);
  near_f(m.log_prob({"a"}, "</s>"), 0.85 * 0.25);
  elm::classic::NgramPerplexity totals;
  m.accumulate("a b", totals);
  near_f(totals.log10_prob, (0.1 + g_bos * 0.25) * 0.46875 * 0.25);
  CHECK(totals.tokens == 3);
  // Every context's distribution over V without <s> sums to 1.
  for (const char* h : {"<s>", "a", "b", "</s>"}) {
    double sum = 0.0;
    for (const char* w : {"a", "b", "</s>", "<unk>"}) sum += std::pow(10.0, m.log_prob({h}, w));
    CHECK_THAT(sum, Catch::Matchers::WithinAbs(1.0, 1e-6));
  }
}

TEST_CASE("Kneser-Ney: discount errors and --discount_fallback as in lmplz", "[ngram][kneser_ney]") {
  NgramCounts c(2);
  for (const char* line : {"a b", "b", "a b"}) c.add_line(line);
  ngram_test::require_throws<elm::NumericalError>([&] { estimate_kneser_ney(c); },
                                                 {"estimate_kneser_ney", "1-grams with adjusted count 3",
                                                  "no 1-gram has adjusted count 2", "discount_fallback"});
  KneserNeyOptions opt;
  opt.discount_fallback = true;
  opt.fallback_discounts = {0.7};  // one value: it repeats for D2 and D3+
  std::vector<elm::classic::KneserNeyDiscount> d;
  estimate_kneser_ney(c, opt, &d);
  CHECK(d[0].d[1] == 0.7);
  CHECK(d[0].d[3] == 0.7);
  CHECK(!d[1].fallback);  // only the orders whose closed form failed take the fallback
  opt.fallback_discounts = {0.5, 2.5};  // D2 must lie in [0, 2]
  CHECK_THROWS_AS(estimate_kneser_ney(c, opt), elm::InvalidArgument);
  NgramCounts empty(3);
  CHECK_THROWS_AS(estimate_kneser_ney(empty), elm::InvalidArgument);
}

TEST_CASE("Kneser-Ney pruning: fewer n-grams, consistent tables, normalised distributions", "[ngram][kneser_ney][prune]") {
  NgramCounts c(3);
  const auto& lines = ngram_test::train_lines();
  for (std::size_t i = 0; i < 1500; ++i) c.add_line(lines[i]);
  const auto full = estimate_kneser_ney(c);
  KneserNeyOptions opt;
  opt.prune = {0, 1};  // singletons of orders 2 and 3 (the last value repeats)
  const auto pruned = estimate_kneser_ney(c, opt);
  CHECK(pruned.orders[0].size() == full.orders[0].size());
  CHECK(pruned.orders[1].size() < full.orders[1].size());
  CHECK(pruned.orders[2].size() < full.orders[2].size() / 2);
  // NgramModel checks that every context is listed; every suffix must be listed too.
  const elm::classic::NgramModel m(pruned);
  for (int n = 2; n <= 3; ++n) {
    elm::classic::detail::NgramStore lower(n - 1);
    const auto& lo = pruned.orders[std::size_t(n - 2)];
    for (std::size_t i = 0; i < lo.size(); ++i) lower.insert(lo.ngram(i));
    const auto& o = pruned.orders[std::size_t(n - 1)];
    std::size_t missing = 0;
    for (std::size_t i = 0; i < o.size(); ++i) missing += lower.find(o.ngram(i) + 1) == elm::classic::detail::NgramStore::npos;
    CHECK(missing == 0);
  }
  for (const std::vector<std::string_view>& h : std::vector<std::vector<std::string_view>>{
           {"<s>"}, {"of", "the"}, {"and", "god"}, {"the", "lord"}, {"in"}}) {
    double sum = 0.0;
    for (std::size_t w = 0; w < m.vocabulary().size(); ++w)
      if (w != m.bos_id()) sum += std::pow(10.0, m.log_prob(h, m.vocabulary().word(elm::classic::WordId(w))));
    CHECK_THAT(sum, Catch::Matchers::WithinAbs(1.0, 1e-5));
  }
  const elm::classic::NgramModel unpruned(full);
  const auto test = std::vector<std::string>(ngram_test::test_lines().begin(), ngram_test::test_lines().begin() + 200);
  const double p_full = unpruned.perplexity(test).perplexity(), p_pruned = m.perplexity(test).perplexity();
  CHECK(p_pruned > p_full);
  CHECK(p_pruned < 1.5 * p_full);  // a sanity bound: on 1,500 sentences half the bigrams are singletons
  opt.prune = {1};
  CHECK_THROWS_AS(estimate_kneser_ney(c, opt), elm::InvalidArgument);
  opt.prune = {0, 2, 1};
  CHECK_THROWS_AS(estimate_kneser_ney(c, opt), elm::InvalidArgument);
}
