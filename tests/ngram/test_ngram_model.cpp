// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/core/rng.hpp"
#include "ngram_test_data.hpp"

using elm::classic::NgramModel;
using elm::classic::NgramState;

namespace {
const NgramModel& model5() {
  static const NgramModel m(ngram_test::estimate(5).tables);
  return m;
}
}  // namespace

TEST_CASE("NgramModel: incremental states give the same scores as whole sentences", "[ngram][model]") {
  const NgramModel& m = model5();
  CHECK(m.order() == 5);
  const auto& lines = ngram_test::test_lines();
  for (std::size_t i = 0; i < 50; ++i) {
    std::vector<std::string_view> tokens;
    elm::classic::split_tokens(lines[i], tokens);
    NgramState s = m.begin_sentence_state();
    double incremental = 0.0;
    std::vector<std::string_view> history = {"<s>"};
    for (std::string_view t : tokens) {
      NgramState next;
      const auto r = m.score(s, m.index(t), next);
      incremental += r.log10_prob;
      // log_prob from the explicit history agrees with the state's score.
      CHECK_THAT(m.log_prob(history, t), Catch::Matchers::WithinAbs(r.log10_prob, 1e-9));
      CHECK(r.ngram_length >= 1);
      CHECK(r.ngram_length <= 5);
      CHECK(int(next.length) <= 4);
      history.push_back(t);
      s = next;
    }
    incremental += m.score(s, m.eos_id(), s).log10_prob;
    elm::classic::NgramPerplexity totals;
    m.accumulate(lines[i], totals);
    CHECK_THAT(totals.log10_prob, Catch::Matchers::WithinAbs(incremental, 1e-9));
  }
  // Equal states: after "x the" and "y the" for unseen x, y the context is just "the".
  NgramState a = m.begin_sentence_state(), b = a;
  m.score(a, m.index("and"), a);
  m.score(b, m.index("for"), b);
  m.score(a, m.index("qqqq"), a);
  m.score(b, m.index("zzzz"), b);
  m.score(a, m.index("the"), a);
  m.score(b, m.index("the"), b);
  CHECK(a == b);
  CHECK(a.length == 1);
}

TEST_CASE("NgramModel: OOV words score as <unk> and count apart", "[ngram][model]") {
  const NgramModel& m = model5();
  const auto p = m.perplexity({"and the qqqq said", "zzzz"});
  CHECK(p.tokens == 7);
  CHECK(p.oov == 2);
  CHECK(p.sentences == 2);
  CHECK(p.perplexity() > p.perplexity_excl_oov());
  NgramState s;
  CHECK(m.score(m.null_context_state(), m.index("qqqq"), s).oov);
}

TEST_CASE("NgramModel: sampling is reproducible and follows the model", "[ngram][model][sample]") {
  const NgramModel& m = model5();
  elm::Rng r1(7), r2(7), r3(8);
  const auto s1 = m.sample(r1, 40);
  const auto s2 = m.sample(r2, 40);
  CHECK(s1 == s2);
  CHECK(!s1.empty());
  CHECK(s1.size() <= 40);
  for (const auto& w : s1) {
    CHECK(w != "<s>");
    CHECK(w != "<unk>");
    CHECK(w != "</s>");
  }
  // Frequencies of the first word over many draws follow p(w | <s>) (3 standard errors).
  const int draws = 400;
  int and_count = 0;
  elm::Rng rng(123);
  for (int i = 0; i < draws; ++i) {
    const auto s = m.sample(rng, 1);
    if (!s.empty() && s[0] == "and") ++and_count;
  }
  const double p_and = std::pow(10.0, m.log_prob({"<s>"}, "and"));
  const double sd = std::sqrt(p_and * (1 - p_and) / draws);
  CHECK(std::abs(double(and_count) / draws - p_and) < 3 * sd + 1e-9);
  (void)r3;
}

TEST_CASE("NgramModel: memory per n-gram close to KenLM's probing layout", "[ngram][model]") {
  const NgramModel& m = model5();
  CHECK(m.total_ngrams() == 5762u + 49355u + 110056u + 144789u + 157706u);
  // 16-byte middle and 12-byte top entries at 1.5 slots per entry: 18 to 24 bytes per n-gram.
  CHECK(m.bytes_per_ngram() > 16.0);
  CHECK(m.bytes_per_ngram() < 26.0);
}

TEST_CASE("Character models: estimate, perplexity and sampling over code points", "[ngram][model][chars]") {
  elm::classic::NgramEstimateOptions opt;
  opt.order = 4;
  opt.chars = true;
  opt.kneser_ney.discount_fallback = true;  // every character follows many others: no unigram has a(c) = 1
  const auto& lines = ngram_test::train_lines();
  const std::vector<std::string> some(lines.begin(), lines.begin() + 400);
  const NgramModel m = elm::classic::estimate_ngram_model(some, opt);
  CHECK(m.vocabulary().size() < 60);
  const auto p = m.perplexity({ngram_test::test_lines()[0]}, true);
  CHECK(p.tokens == std::int64_t(ngram_test::test_lines()[0].size()) + 1);
  CHECK(p.perplexity() > 1.0);
  CHECK(p.perplexity() < 20.0);
  elm::Rng rng(3);
  const std::string text = m.sample_text(rng, 80, true);
  CHECK(text.size() <= 80);
}

TEST_CASE("NgramModel: bad input", "[ngram][model][bad_input]") {
  const NgramModel empty;
  CHECK_THROWS_AS(empty.perplexity({"a"}), elm::InvalidArgument);
  NgramState s;
  CHECK_THROWS_AS(model5().score(s, 999999, s), elm::RangeError);
  elm::classic::NgramTables t = ngram_test::estimate(3).tables;
  t.orders[1].log10_prob.pop_back();
  CHECK_THROWS_AS(NgramModel(t), elm::FormatError);
  CHECK_THROWS_AS(elm::classic::parse_smoothing("witten-bell"), elm::InvalidArgument);
  elm::classic::NgramEstimateOptions opt;
  opt.order = 0;
  CHECK_THROWS_AS(elm::classic::estimate_ngram_model({"a b"}, opt), elm::InvalidArgument);
  opt.order = 3;
  CHECK_THROWS_AS(elm::classic::estimate_ngram_model({}, opt), elm::InvalidArgument);
}
