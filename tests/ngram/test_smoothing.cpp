// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>

#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/classic/smoothing.hpp"
#include "ngram_test_data.hpp"

using Catch::Matchers::WithinAbs;
using elm::classic::NgramCounts;
using elm::classic::NgramModel;

namespace {
NgramCounts tiny() {
  // <s> a b </s>, <s> b </s>, <s> a b </s>: T = 5 words + 3 </s> = 8 tokens; c(a) = 2, c(b) = 3, c(</s>) = 3,
  // c(<s> a) = 2, c(<s> b) = 1, c(a b) = 2, c(b </s>) = 3, c(<s>) = 3.
  NgramCounts c(2);
  for (const char* line : {"a b", "b", "a b"}) c.add_line(line);
  return c;
}
double p(const NgramModel& m, const char* h, const char* w) {
  return std::pow(10.0, h ? m.log_prob({h}, w) : m.log_prob({}, w));
}
}  // namespace

TEST_CASE("MLE: relative frequencies, zero for unseen continuations", "[ngram][smoothing]") {
  const NgramModel m(elm::classic::estimate_mle(tiny()));
  CHECK_THAT(p(m, nullptr, "a"), WithinAbs(2.0 / 8, 1e-7));
  CHECK_THAT(p(m, nullptr, "b"), WithinAbs(3.0 / 8, 1e-7));
  CHECK_THAT(p(m, "<s>", "a"), WithinAbs(2.0 / 3, 1e-7));
  CHECK_THAT(p(m, "a", "b"), WithinAbs(1.0, 1e-7));
  CHECK(p(m, "a", "a") < 1e-90);  // seen context, unseen word: log10 0 written as -99
}

TEST_CASE("Add-k: Laplace counts, unseen mass exact and normalised", "[ngram][smoothing]") {
  // V' = {<unk>, </s>, a, b}, |V'| = 4, k = 1.
  // p(a) = 3/12, p(b) = 4/12, p(</s>) = 4/12, p(<unk>) = 1/12.
  // p(a|<s>) = (2+1)/(3+4) = 3/7, p(b|<s>) = 2/7; unseen mass 2/7 spread over </s>, <unk> in proportion to
  // their unigram probabilities 4/12 and 1/12: b(<s>) = (2/7) / (5/12) = 24/35, p(</s>|<s>) = 8/35.
  const NgramModel m(elm::classic::estimate_add_k(tiny(), 1.0));
  CHECK_THAT(p(m, nullptr, "a"), WithinAbs(3.0 / 12, 1e-7));
  CHECK_THAT(p(m, nullptr, "<unk>"), WithinAbs(1.0 / 12, 1e-7));
  CHECK_THAT(p(m, "<s>", "a"), WithinAbs(3.0 / 7, 1e-7));
  CHECK_THAT(p(m, "<s>", "b"), WithinAbs(2.0 / 7, 1e-7));
  CHECK_THAT(p(m, "<s>", "</s>"), WithinAbs(8.0 / 35, 1e-7));
  CHECK_THAT(p(m, "<s>", "<unk>"), WithinAbs(2.0 / 35, 1e-7));
  // k = 0.5: p(b|a) = (2 + 0.5)/(2 + 2) = 0.625.
  const NgramModel half(elm::classic::estimate_add_k(tiny(), 0.5));
  CHECK_THAT(p(half, "a", "b"), WithinAbs(0.625, 1e-7));
  CHECK_THROWS_AS(elm::classic::estimate_add_k(tiny(), 0.0), elm::InvalidArgument);
}

TEST_CASE("Stupid back-off: alpha times the lower order for unseen n-grams", "[ngram][smoothing]") {
  const NgramModel m(elm::classic::estimate_stupid_backoff(tiny(), 0.4));
  CHECK_THAT(p(m, "a", "b"), WithinAbs(1.0, 1e-7));
  CHECK_THAT(p(m, "b", "a"), WithinAbs(0.4 * 2.0 / 8, 1e-7));  // b was seen as a context: S = 0.4 c(a)/T
  CHECK_THROWS_AS(elm::classic::estimate_stupid_backoff(tiny(), 1.5), elm::InvalidArgument);
}

TEST_CASE("Smoothed distributions sum to 1 for every context", "[ngram][smoothing][property]") {
  const auto& lines = ngram_test::train_lines();
  const std::vector<std::string> some(lines.begin(), lines.begin() + 300);
  for (auto smoothing : {elm::classic::Smoothing::kneser_ney, elm::classic::Smoothing::add_k}) {
    elm::classic::NgramEstimateOptions opt;
    opt.order = 3;
    opt.smoothing = smoothing;
    opt.kneser_ney.discount_fallback = true;
    const NgramModel m = elm::classic::estimate_ngram_model(some, opt);
    const std::vector<std::vector<std::string_view>> contexts = {
        {}, {"<s>"}, {"<s>", "in"}, {"of", "the"}, {"the", "lord"}, {"unseen", "words"}, {"and"}};
    for (const auto& h : contexts) {
      double sum = 0.0;
      for (std::size_t w = 0; w < m.vocabulary().size(); ++w)
        if (w != m.bos_id()) sum += std::pow(10.0, m.log_prob(h, m.vocabulary().word(elm::classic::WordId(w))));
      CHECK_THAT(sum, WithinAbs(1.0, 1e-5));
    }
  }
}
