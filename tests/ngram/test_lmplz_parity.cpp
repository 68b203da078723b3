// SPDX-License-Identifier: MIT
// Our estimate of train.txt against lmplz's ARPA files (sampled entries) and KenLM query's numbers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "elm/classic/ngram_model.hpp"
#include "elm/io/arpa.hpp"
#include "ngram_test_data.hpp"

namespace {

struct Diff {
  double max = 0.0;
  std::string where;
  std::size_t compared = 0, missing = 0;
};

// Compares every sampled lmplz entry (order, log10 p, words, back-off) with our tables.
void compare_sample(int order, const std::string& file) {
  const ngram_test::Estimate& est = ngram_test::estimate(order);
  Diff prob, backoff;
  for (const std::string& line : ngram_test::read_lines(ngram_test::data_path(file))) {
    const auto f = ngram_test::split(line, '\t');
    REQUIRE(f.size() == 4);
    const int n = std::stoi(f[0]);
    std::vector<elm::classic::WordId> ids;
    bool known = true;
    for (const std::string& w : ngram_test::split(f[2], ' ')) {
      elm::classic::WordId id = 0;
      known = known && est.counts.vocabulary().find(w, &id);
      ids.push_back(id);
    }
    const std::size_t i = known ? est.counts.store(n).find(ids.data()) : elm::classic::detail::NgramStore::npos;
    if (i == elm::classic::detail::NgramStore::npos) {
      ++prob.missing;
      continue;
    }
    const auto& o = est.tables.orders[std::size_t(n - 1)];
    const double dp = std::abs(o.log10_prob[i] - std::stod(f[1]));
    ++prob.compared;
    if (dp > prob.max) prob = {dp, f[2], prob.compared, prob.missing};
    if (f[3] != "-") {
      const double db = std::abs(o.log10_backoff[i] - std::stod(f[3]));
      ++backoff.compared;
      if (db > backoff.max) backoff = {db, f[2], backoff.compared, 0};
    }
  }
  std::printf("lmplz order %d sample: %zu entries, max |dlog10 p| = %.3g at '%s', max |dlog10 b| = %.3g at '%s'\n",
              order, prob.compared, prob.max, prob.where.c_str(), backoff.max, backoff.where.c_str());
  CHECK(prob.missing == 0);
  CHECK(prob.compared > 4000);
  // lmplz computes in float32: its printed values carry about 5e-7 of rounding.
  CHECK(prob.max < 1e-5);
  CHECK(backoff.max < 1e-5);
}

}  // namespace

TEST_CASE("lmplz parity: same n-grams and discounts as lmplz -o 3 and -o 5", "[ngram][parity]") {
  // lmplz's \data\ counts and the discounts its log printed (lmplz.o3.log, lmplz.o5.log).
  for (const std::string& line : ngram_test::read_lines(ngram_test::data_path("lmplz_counts.tsv"))) {
    const auto f = ngram_test::split(line, '\t');
    const ngram_test::Estimate& est = ngram_test::estimate(std::stoi(f[0]));
    CHECK(est.tables.orders[std::size_t(std::stoi(f[1]) - 1)].size() == std::stoul(f[2]));
  }
  const auto& d5 = ngram_test::estimate(5).discounts;
  // lmplz.o5.log: "1 5762 D1=0.565771 D2=1.03926 D3+=1.60024", "5 157706 D1=0.901361 D2=1.32551 D3+=1.70327"
  CHECK_THAT(d5[0].d[1], Catch::Matchers::WithinAbs(0.565771, 2e-6));
  CHECK_THAT(d5[0].d[2], Catch::Matchers::WithinAbs(1.03926, 2e-5));
  CHECK_THAT(d5[0].d[3], Catch::Matchers::WithinAbs(1.60024, 2e-5));
  CHECK_THAT(d5[4].d[1], Catch::Matchers::WithinAbs(0.901361, 2e-6));
  CHECK_THAT(d5[4].d[2], Catch::Matchers::WithinAbs(1.32551, 2e-5));
  CHECK_THAT(d5[4].d[3], Catch::Matchers::WithinAbs(1.70327, 2e-5));
  const auto& d3 = ngram_test::estimate(3).discounts;
  // lmplz.o3.log: "3 110056 D1=0.773748 D2=1.19481 D3+=1.45108"
  CHECK_THAT(d3[2].d[1], Catch::Matchers::WithinAbs(0.773748, 2e-6));
  CHECK_THAT(d3[2].d[3], Catch::Matchers::WithinAbs(1.45108, 2e-5));
}

TEST_CASE("lmplz parity: sampled log10 p and back-off of orders 3 and 5", "[ngram][parity]") {
  compare_sample(3, "lmplz_o3_sample.tsv");
  compare_sample(5, "lmplz_o5_sample.tsv");
}

TEST_CASE("KenLM query parity: perplexity of test.txt from our ARPA", "[ngram][parity]") {
  for (const std::string& line : ngram_test::read_lines(ngram_test::data_path("query_summary.tsv"))) {
    const auto f = ngram_test::split(line, '\t');
    const int order = std::stoi(f[0]);
    // Order 3 through ARPA text, as KenLM would read our file; order 5 straight from the estimate.
    const elm::classic::NgramModel model(order == 3 ? ngram_test::arpa_round_trip_o3()
                                                    : ngram_test::estimate(order).tables);
    const auto p = model.perplexity(ngram_test::test_lines());
    std::printf("order %d: perplexity %.10g (KenLM %s), excl. OOV %.10g (KenLM %s), %.2f bytes per n-gram\n",
                order, p.perplexity(), f[1].c_str(), p.perplexity_excl_oov(), f[2].c_str(), model.bytes_per_ngram());
    CHECK_THAT(p.perplexity(), Catch::Matchers::WithinRel(std::stod(f[1]), 1e-6));
    CHECK_THAT(p.perplexity_excl_oov(), Catch::Matchers::WithinRel(std::stod(f[2]), 1e-6));
    CHECK(p.oov == std::stol(f[3]));
    CHECK(p.tokens == std::stol(f[4]));
  }
}

TEST_CASE("KenLM query parity: per-token log10 p and n-gram length (query -v word)", "[ngram][parity]") {
  const elm::classic::NgramModel model(ngram_test::estimate(3).tables);
  const auto ref = ngram_test::read_lines(ngram_test::data_path("query_o3_words_head.tsv"));
  std::size_t k = 0, wrong_length = 0;
  double max_diff = 0.0;
  for (const std::string& line : ngram_test::test_lines()) {
    if (k >= ref.size()) break;
    std::vector<std::string_view> tokens;
    elm::classic::split_tokens(line, tokens);
    std::vector<elm::classic::WordId> ids;
    for (auto t : tokens) ids.push_back(model.index(t));
    ids.push_back(model.eos_id());
    elm::classic::NgramState s = model.begin_sentence_state();
    for (elm::classic::WordId w : ids) {
      if (k >= ref.size()) break;
      const auto f = ngram_test::split(ref[k++], '\t');
      const auto r = model.score(s, w, s);
      // query prints an OOV under its own spelling with id 0; we score it as <unk> as well.
      CHECK((r.oov || model.vocabulary().word(w) == f[0]));
      max_diff = std::max(max_diff, std::abs(r.log10_prob - std::stod(f[2])));
      if (r.ngram_length != std::stoi(f[1])) ++wrong_length;
    }
  }
  std::printf("query -v word: %zu tokens, max |dlog10 p| = %.3g, %zu n-gram lengths differ\n", k, max_diff,
              wrong_length);
  CHECK(k == ref.size());
  CHECK(max_diff < 1e-5);
  CHECK(wrong_length == 0);
}
