// SPDX-License-Identifier: MIT
// Bad input to the HMM tables and algorithms: each raises an elm::Error that says what and where.
#include <catch2/catch.hpp>

#include <limits>

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/viterbi.hpp"
#include "elm/io/hmm_json.hpp"

using namespace elm::classic;
using Catch::Matchers::Contains;
using elm::Index;

namespace {
struct Tables {
  elm::Vector<double> start = elm::Vector<double>::Constant(2, 0.5);
  elm::Matrix<double> trans = elm::Matrix<double>::Constant(2, 2, 0.5);
  elm::Matrix<double> emit = elm::Matrix<double>::Constant(2, 3, 1.0 / 3.0);
  Hmm<double> make() const { return Hmm<double>(start, trans, emit); }
};
}  // namespace

TEST_CASE("tables whose rows do not sum to one are rejected", "[hmm][errors]") {
  Tables t;
  REQUIRE_NOTHROW(t.make());
  t.start(0) = 0.6;
  REQUIRE_THROWS_MATCHES(t.make(), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::classic::Hmm: startprob sums to 1.1000000000000001, "
                                                  "expected 1 within 9.9999999999999995e-07"));
  t = Tables{};
  t.trans(1, 0) = 0.2;
  REQUIRE_THROWS_WITH(t.make(), Contains("transmat row 1 sums to 0.69999") && Contains("expected 1 within"));
  t = Tables{};
  t.emit(0, 2) = 0.0;
  REQUIRE_THROWS_WITH(t.make(), Contains("emissionprob row 0 sums to 0.66"));
  // Within the stated tolerance (1e-6) is accepted.
  t = Tables{};
  t.emit(1, 0) += 5e-7;
  REQUIRE_NOTHROW(t.make());
}

TEST_CASE("negative and non-finite entries are rejected", "[hmm][errors]") {
  Tables t;
  t.trans(0, 0) = 1.5;
  t.trans(0, 1) = -0.5;
  REQUIRE_THROWS_MATCHES(t.make(), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::classic::Hmm: transmat[0][1] = -0.5, expected a finite "
                                                  "probability >= 0"));
  t = Tables{};
  t.emit(1, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(t.make(), Contains("emissionprob[1][1] = nan") && Contains("expected a finite"));
  t = Tables{};
  t.start(1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_AS(t.make(), elm::InvalidArgument);
}

TEST_CASE("mismatched table sizes are shape errors", "[hmm][errors]") {
  Tables t;
  t.start = elm::Vector<double>::Constant(3, 1.0 / 3.0);
  REQUIRE_THROWS_MATCHES(t.make(), elm::ShapeError,
                         Catch::Matchers::Message("elm::classic::Hmm: startprob is 3x1, expected 2x1"));
  t = Tables{};
  t.trans = elm::Matrix<double>::Constant(2, 3, 1.0 / 3.0);
  REQUIRE_THROWS_WITH(t.make(), Contains("transmat is 2x3, expected 2x2"));
  t = Tables{};
  t.emit = elm::Matrix<double>::Constant(3, 3, 1.0 / 3.0);
  REQUIRE_THROWS_WITH(t.make(), Contains("emissionprob is 3x3, expected 2xV with V >= 1"));
  t = Tables{};
  t.emit.resize(2, 0);
  REQUIRE_THROWS_AS(t.make(), elm::ShapeError);
  REQUIRE_THROWS_WITH(Hmm<double>(elm::Vector<double>(0), elm::Matrix<double>(0, 0), elm::Matrix<double>(0, 1)),
                      Contains("expected N >= 1 states"));
  // set_tables checks too, and leaves the model unchanged on failure.
  Hmm<double> hmm = Tables{}.make();
  REQUIRE_THROWS_AS(hmm.set_tables(t.start, t.trans, t.emit), elm::ShapeError);
  CHECK(hmm.n_symbols() == 3);
}

TEST_CASE("symbol ids out of range and empty sequences are rejected by every algorithm", "[hmm][errors]") {
  const Hmm<double> hmm = Tables{}.make();
  const Sequence bad{0, 2, 3};
  const char* message = "symbol id 3 at position 2 is out of range, expected 0 <= id < V = 3";
  REQUIRE_THROWS_MATCHES(log_likelihood(hmm, bad), elm::RangeError,
                         Catch::Matchers::Message(std::string("elm::classic::log_likelihood: ") + message));
  REQUIRE_THROWS_WITH(forward(hmm, bad), Contains("elm::classic::forward") && Contains(message));
  REQUIRE_THROWS_WITH(backward(hmm, bad), Contains("elm::classic::backward") && Contains(message));
  REQUIRE_THROWS_WITH(viterbi(hmm, bad), Contains("elm::classic::viterbi") && Contains(message));
  REQUIRE_THROWS_AS(posteriors(hmm, Sequence{-1}), elm::RangeError);
  REQUIRE_THROWS_AS(BaumWelch<double>().fit(*std::make_unique<Hmm<double>>(hmm), {Sequence{0}, bad}),
                    elm::RangeError);

  const Sequence empty;
  REQUIRE_THROWS_MATCHES(log_likelihood(hmm, empty), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::classic::log_likelihood: the observation sequence is "
                                                  "empty, expected T >= 1"));
  REQUIRE_THROWS_AS(viterbi(hmm, empty), elm::InvalidArgument);
  REQUIRE_THROWS_AS(forward(hmm, empty), elm::InvalidArgument);
  Hmm<double> copy = hmm;
  REQUIRE_THROWS_WITH(BaumWelch<double>().fit(copy, {Sequence{0, 1}, empty}),
                      Contains("sequence 1 is empty"));
  REQUIRE_THROWS_WITH(BaumWelch<double>().fit(copy, {}), Contains("no sequences"));
  CHECK(copy.transmat() == hmm.transmat());
}

TEST_CASE("Baum-Welch options and impossible data are checked", "[hmm][errors]") {
  BaumWelchOptions options;
  options.n_iter = 0;
  REQUIRE_THROWS_WITH(BaumWelch<double>(options), Contains("n_iter = 0, expected >= 1"));
  options = {};
  options.tol = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_AS(BaumWelch<double>(options), elm::InvalidArgument);
  Tables t;
  t.emit << 1, 0, 0, 1, 0, 0;  // nobody emits symbol 2
  Hmm<double> hmm = t.make();
  REQUIRE_THROWS_AS(BaumWelch<double>().fit(hmm, {Sequence{0, 2}}), elm::NumericalError);
}

TEST_CASE("a step probability below the normal range is a numerical error, not a silent -inf", "[hmm][errors]") {
  elm::Vector<double> start(1);
  start << 1.0;
  elm::Matrix<double> a(1, 1), b(1, 2);
  a << 1.0;
  b << 1.0, 1e-300;
  const Hmm<double> hmm(start, a, b);
  REQUIRE_THROWS_WITH(log_likelihood(hmm, Sequence{0, 1}),
                      Contains("probability of step 1 given the past is 1e-300, below"));
  REQUIRE_THROWS_AS(forward(hmm, Sequence{1}), elm::NumericalError);
  // Viterbi works in log space and has no such limit.
  CHECK(viterbi(hmm, Sequence{0, 1}).log_prob == Approx(std::log(1e-300)));
}

TEST_CASE("named tables: duplicates, unknown names and missing rows", "[hmm][errors]") {
  const NamedTable trans{{"A", {{"A", 1.0}}}, {"B", {{"B", 1.0}}}};
  const NamedTable emit{{"A", {{"x", 1.0}}}, {"B", {{"y", 1.0}}}};
  REQUIRE_NOTHROW(Hmm<double>::from_named({{"A", 1.0}}, trans, emit));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"C", 1.0}}, trans, emit),
                      Contains("start row \"start\" names \"C\", which is not a state"));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"A", 0.5}, {"A", 0.5}}, trans, emit), Contains("gives \"A\" twice"));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"A", 1.0}}, {{"A", {{"A", 1.0}}}, {"A", {{"A", 1.0}}}}, emit),
                      Contains("state \"A\" has two transition rows"));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"A", 1.0}}, trans, {{"A", {{"x", 1.0}}}}),
                      Contains("state \"B\" has no emission row"));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"A", 1.0}}, trans, {{"A", {{"x", 1.0}}}, {"Z", {{"x", 1.0}}}}),
                      Contains("emission names state \"Z\""));
  REQUIRE_THROWS_WITH(Hmm<double>::from_named({{"A", 1.0}}, {{"A", {{"A", 0.5}}}, {"B", {{"B", 1.0}}}}, emit),
                      Contains("transmat row 0 sums to 0.5"));
  const auto hmm = Hmm<double>::from_named({{"A", 1.0}}, trans, emit);
  REQUIRE_THROWS_MATCHES(hmm.encode({"x", "q"}), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::classic::Hmm::symbol_id: unknown symbol \"q\""));
  REQUIRE_THROWS_AS(hmm.state_id("C"), elm::InvalidArgument);
  REQUIRE_THROWS_AS(hmm.state_names_of({0, 2}), elm::RangeError);
  Hmm<double> copy = hmm;
  REQUIRE_THROWS_WITH(copy.set_names({"A", "A"}, {}), Contains("state name \"A\" appears twice"));
  REQUIRE_THROWS_AS(copy.set_names({"A"}, {}), elm::ShapeError);
  elm::Rng rng(1);
  REQUIRE_THROWS_AS(hmm.sample(-1, rng), elm::InvalidArgument);
}

TEST_CASE("HMM JSON: numbers beyond double's range and other malformed files are FormatErrors naming the file",
          "[hmm][errors][io]") {
  const auto parse = [](const std::string& text) { return elm::io::parse_hmm_json(text, "model.json"); };
  const std::string ok = R"({"startprob": [0.25, 0.75], "transmat": [[0.5, 0.5], [0.1, 0.9]],
                             "emissionprob": [[0.5, 0.5], [1.0, 0.0]]})";
  CHECK(parse(ok).n_states() == 2);
  // 0.1e3084 overflows a double: nlohmann-json throws its out_of_range, which used to escape elm-hmm uncaught.
  REQUIRE_THROWS_AS(parse(R"({"startprob": [0.1e3084], "transmat": [[1.0]], "emissionprob": [[1.0]]})"),
                    elm::FormatError);
  REQUIRE_THROWS_WITH(parse(R"({"startprob": [0.1e3084], "transmat": [[1.0]], "emissionprob": [[1.0]]})"),
                      Contains("elm::io::load_hmm_json: model.json is not valid JSON") && Contains("number overflow"));
  REQUIRE_THROWS_WITH(parse("{\"startprob\": [1.0],"), Contains("model.json is not valid JSON"));
  REQUIRE_THROWS_WITH(parse("[1]"), Contains("model.json: holds a JSON array, expected an object"));
  REQUIRE_THROWS_WITH(parse(R"({"startprob": [1.0], "emissionprob": [[1.0]]})"), Contains("missing \"transmat\""));
  REQUIRE_THROWS_WITH(parse(R"({"startprob": [1.0], "transmat": [], "emissionprob": [[1.0]]})"),
                      Contains("\"transmat\" is not a non-empty array of rows"));
  REQUIRE_THROWS_WITH(parse(R"({"startprob": [1.0], "transmat": [[true]], "emissionprob": [[1.0]]})"),
                      Contains("\"transmat\" holds true, expected a number"));
  // Deep nesting: refused, never a stack overflow (nlohmann-json parses and frees without recursion; the message
  // describes the value instead of dumping it, which would recurse once per level).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  REQUIRE_THROWS_AS(parse(deep), elm::FormatError);
  REQUIRE_THROWS_WITH(parse(R"({"startprob": [)" + deep + R"(], "transmat": [[1.0]], "emissionprob": [[1.0]]})"),
                      Contains("\"startprob\" holds a JSON array nested more than 32 levels deep, expected a number"));
  REQUIRE_THROWS_AS(elm::io::load_hmm_json("/nonexistent/model.json"), elm::IoError);
}
