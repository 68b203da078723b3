// SPDX-License-Identifier: MIT
// Supervised estimation of an Hmm from sequences with known states: counts by hand, add-k, unknown symbol.
#include <catch2/catch.hpp>

#include "elm/classic/hmm_estimation.hpp"
#include "elm/core/rng.hpp"

using namespace elm::classic;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

namespace {
// Two sequences, N = 2, V = 3:
//   states  0 0 1 | 1 0
//   symbols 0 1 1 | 2 0
// starts: state 0 once, state 1 once. transitions: 0->0, 0->1, 1->0.
// emissions: state 0 emits 0, 1, 0; state 1 emits 1, 2. Symbol 2 occurs once (a hapax), 0 and 1 twice.
const std::vector<Sequence> states{{0, 0, 1}, {1, 0}};
const std::vector<Sequence> symbols{{0, 1, 1}, {2, 0}};
}  // namespace

TEST_CASE("maximum likelihood counts, by hand", "[hmm][estimation]") {
  const auto hmm = estimate_supervised(states, symbols, 2, 3);
  CHECK(hmm.startprob()(0) == 0.5);
  CHECK(hmm.transmat()(0, 0) == 0.5);
  CHECK(hmm.transmat()(0, 1) == 0.5);
  CHECK(hmm.transmat()(1, 0) == 1.0);
  CHECK(hmm.transmat()(1, 1) == 0.0);
  CHECK_THAT(hmm.emissionprob()(0, 0), WithinAbs(2.0 / 3.0, 1e-15));
  CHECK_THAT(hmm.emissionprob()(0, 1), WithinAbs(1.0 / 3.0, 1e-15));
  CHECK(hmm.emissionprob()(0, 2) == 0.0);
  CHECK(hmm.emissionprob()(1, 1) == 0.5);
  CHECK(hmm.emissionprob()(1, 2) == 0.5);
}

TEST_CASE("add-k and the unknown symbol, by hand", "[hmm][estimation]") {
  SupervisedOptions options;
  options.emission_k = 1.0;
  options.transition_k = 0.5;
  auto hmm = estimate_supervised(states, symbols, 2, 3, options);
  // state 0 emission counts (2, 1, 0) + 1 each over 3 + 3: (3, 2, 1) / 6; state 1: (1, 2, 2) / 5.
  CHECK_THAT(hmm.emissionprob()(0, 2), WithinAbs(1.0 / 6.0, 1e-15));
  CHECK_THAT(hmm.emissionprob()(1, 0), WithinAbs(1.0 / 5.0, 1e-15));
  // transition row 1: counts (1, 0) + 0.5 over 1 + 1: (0.75, 0.25).
  CHECK_THAT(hmm.transmat()(1, 1), WithinAbs(0.25, 1e-15));

  options = {};
  options.unknown_symbol = true;
  hmm = estimate_supervised(states, symbols, 2, 3, options);
  REQUIRE(hmm.n_symbols() == 4);
  // The hapax symbol 2 was emitted by state 1: unknown column counts (0, 1).
  // state 0: (2, 1, 0, 0) / 3; state 1: (0, 1, 1, 1) / 3.
  CHECK(hmm.emissionprob()(0, 3) == 0.0);
  CHECK_THAT(hmm.emissionprob()(1, 3), WithinAbs(1.0 / 3.0, 1e-15));
  CHECK_THAT(hmm.emissionprob()(0, 0), WithinAbs(2.0 / 3.0, 1e-15));
}

TEST_CASE("estimation recovers the tables that generated the data", "[hmm][estimation]") {
  elm::Vector<double> start(2);
  start << 0.6, 0.4;
  elm::Matrix<double> a(2, 2), b(2, 3);
  a << 0.5, 0.5, 0.3, 0.7;
  b << 0.7, 0.3, 0.0, 0.0, 0.5, 0.5;
  const Hmm<double> truth(start, a, b);
  elm::Rng rng(99);
  std::vector<Sequence> z, x;
  for (int s = 0; s < 2000; ++s) {
    const auto draw = truth.sample(100, rng);
    z.push_back(draw.states);
    x.push_back(draw.symbols);
  }
  const auto hmm = estimate_supervised(z, x, 2, 3);
  // 200,000 steps: standard errors near 0.002 for the tables, 0.011 for the 2,000 starts.
  CHECK((hmm.transmat() - a).cwiseAbs().maxCoeff() < 0.01);
  CHECK((hmm.emissionprob() - b).cwiseAbs().maxCoeff() < 0.01);
  CHECK((hmm.startprob() - start).cwiseAbs().maxCoeff() < 0.05);
}

TEST_CASE("estimation rejects inconsistent input", "[hmm][estimation][errors]") {
  REQUIRE_THROWS_WITH(estimate_supervised({{0, 1}}, {{0}}, 2, 3),
                      Contains("sequence 0 has 2 states and 1 symbols, expected as many"));
  REQUIRE_THROWS_AS(estimate_supervised({{0}}, {{0}, {1}}, 2, 3), elm::ShapeError);
  REQUIRE_THROWS_WITH(estimate_supervised({{0, 2}}, {{0, 0}}, 2, 3),
                      Contains("state id 2 in sequence 0 at position 1 is out of range"));
  REQUIRE_THROWS_AS(estimate_supervised({{0, 1}}, {{0, 3}}, 2, 3), elm::RangeError);
  REQUIRE_THROWS_WITH(estimate_supervised({{}}, {{}}, 2, 3), Contains("sequence 0 is empty"));
  REQUIRE_THROWS_WITH(estimate_supervised({}, {}, 2, 3), Contains("no sequences"));
  // State 1 is never followed by anything: its transition row is 0/0 without add-k.
  REQUIRE_THROWS_WITH(estimate_supervised({{0, 1}}, {{0, 1}}, 2, 3),
                      Contains("transition row 1 has no counts") && Contains("add-k constant > 0"));
  SupervisedOptions options;
  options.transition_k = 1.0;
  REQUIRE_NOTHROW(estimate_supervised({{0, 1}}, {{0, 1}}, 2, 3, options));
  options.emission_k = -1.0;
  REQUIRE_THROWS_WITH(estimate_supervised({{0, 1}}, {{0, 1}}, 2, 3, options), Contains("expected a finite k >= 0"));
}
