// SPDX-License-Identifier: MIT
// Greedy decoding and beam search (models/beam_search.hpp) over a table model: n-best lists and scores against
// transformers' beam search (tools/make_lstm_seq2seq_fixtures.py), width 1 against greedy, wider beams against
// narrower ones, batched decoding against one source at a time, and the refusals of bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "elm/models/beam_search.hpp"
#include "seq2seq_fixture.hpp"

using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::models::BeamSearchConfig;
using elm::models::EarlyStopping;
using elm::models::Hypothesis;

namespace beam_test {

// The generator's table model: logits(. | source, prefix) = last[:, prefix.back()] + sum_{w in source} src[:, w]
// + step[:, t] with t = prefix.size() - 1. Its state per hypothesis is its source's sum and the step; it records
// how many rows each decode_step received.
struct TableModel {
  using scalar_type = double;
  struct DecodingState {
    Matrix<double> source_bias;  // (V, rows)
    Index step = 0;
  };
  Matrix<double> last, src, step;
  int bos = 1, eos = 2;
  mutable std::vector<Index> rows_per_step;

  int bos_id() const { return bos; }
  int eos_id() const { return eos; }

  DecodingState begin_decoding(const std::vector<std::vector<int>>& sources, Index k, Index max_steps) const {
    REQUIRE(max_steps <= step.cols());
    rows_per_step.clear();
    DecodingState s;
    s.source_bias = Matrix<double>::Zero(last.rows(), static_cast<Index>(sources.size()) * k);
    for (std::size_t b = 0; b < sources.size(); ++b)
      for (Index j = 0; j < k; ++j)
        for (int w : sources[b]) s.source_bias.col(static_cast<Index>(b) * k + j) += src.col(w);
    return s;
  }
  void decode_step(DecodingState& s, const std::vector<int>& last_tokens, Matrix<double>& logits) const {
    REQUIRE(static_cast<Index>(last_tokens.size()) == s.source_bias.cols());
    rows_per_step.push_back(s.source_bias.cols());
    logits.resize(last.rows(), s.source_bias.cols());
    for (Index r = 0; r < logits.cols(); ++r)
      logits.col(r) = last.col(last_tokens[static_cast<std::size_t>(r)]) + s.source_bias.col(r) + step.col(s.step);
    ++s.step;
  }
  void reorder(DecodingState& s, const std::vector<Index>& parents) const {
    Matrix<double> next(s.source_bias.rows(), static_cast<Index>(parents.size()));
    for (std::size_t i = 0; i < parents.size(); ++i) next.col(static_cast<Index>(i)) = s.source_bias.col(parents[i]);
    s.source_bias.swap(next);
  }
};

// A model that names neither a start nor an end token.
struct NoIds {
  using scalar_type = double;
  int begin_decoding(const std::vector<std::vector<int>>&, Index, Index) const { return 0; }
  void decode_step(int&, const std::vector<int>&, Matrix<double>&) const {}
  void reorder(int&, const std::vector<Index>&) const {}
};

TableModel table_model(const attention_test::Fixture& f) {
  TableModel m;
  m.last = f.matrix<double>("last");
  m.src = f.matrix<double>("src");
  m.step = f.matrix<double>("step");
  m.bos = f.meta.at("bos").get<int>();
  m.eos = f.meta.at("eos").get<int>();
  return m;
}

}  // namespace beam_test

using beam_test::TableModel;

TEST_CASE("beam_search's n-best lists and scores are transformers' on the table model", "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("beam_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  // double logits and double sums on both sides: the scores agree to rounding
  seq2seq_test::check_beam_cases(model, sources, f.meta.at("beam_cases"), 1e-9);
}

TEST_CASE("beam_search and greedy under min_length: transformers' n-best lists, no end token before it",
          "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("min_length_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  seq2seq_test::check_beam_cases(model, sources, f.meta.at("beam_cases"), 1e-9);
  // greedy honours it too: the first case (width 1, early stopping) is what generate's greedy decoding gave
  const auto& first = f.meta.at("beam_cases").at(0);
  REQUIRE(first.at("num_beams").get<Index>() == 1);
  BeamSearchConfig config;
  config.max_length = first.at("max_length").get<Index>();
  config.min_length = first.at("min_length").get<Index>();
  const auto got = elm::models::greedy(model, sources, config);
  for (std::size_t s = 0; s < sources.size(); ++s)
    CHECK(got[s].tokens == first.at("results").at(s).at(0).at("tokens").get<std::vector<int>>());
  // with min_length = max_length every source runs max_length - 1 tokens, none of them the end token
  config.min_length = config.max_length;
  for (const Hypothesis& h : elm::models::greedy(model, sources, config)) {
    CHECK(static_cast<Index>(h.tokens.size()) == config.max_length - 1);
    CHECK(std::count(h.tokens.begin(), h.tokens.end(), model.eos) == 0);
  }
}

TEST_CASE("beam_search of width 1 is greedy decoding when it stops at the first finished hypothesis",
          "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("beam_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  seq2seq_test::check_width_one_is_greedy(model, sources, 7);
}

TEST_CASE("a wider beam never returns a lower-scoring best hypothesis on the table model's sources",
          "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("beam_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  seq2seq_test::check_wider_is_no_worse(model, sources, 7, 1e-12);
}

TEST_CASE("beam_search drops finished sources from the batch and decodes each as it would alone",
          "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("beam_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  BeamSearchConfig config;
  config.num_beams = 3;
  config.num_return_sequences = 3;
  config.max_length = 7;
  config.early_stopping = EarlyStopping::when_full;
  const auto batched = elm::models::beam_search(model, sources, config);
  const std::vector<Index> rows = model.rows_per_step;
  // rows shrink by whole sources (k = 3 each) as sources finish, and some source finishes before max_length
  REQUIRE(rows.front() == 3 * static_cast<Index>(sources.size()));
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i] <= rows[i - 1]);
    CHECK(rows[i] % 3 == 0);
  }
  CHECK(rows.back() < rows.front());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const auto alone = elm::models::beam_search(model, {sources[s]}, config);
    REQUIRE(alone[0].size() == batched[s].size());
    for (std::size_t r = 0; r < alone[0].size(); ++r) {
      CHECK(alone[0][r].tokens == batched[s][r].tokens);
      CHECK(alone[0][r].score == batched[s][r].score);
    }
  }
  const auto greedy_batched = elm::models::greedy(model, sources, config);
  for (std::size_t s = 0; s < sources.size(); ++s)
    CHECK(elm::models::greedy(model, {sources[s]}, config)[0].tokens == greedy_batched[s].tokens);
}

TEST_CASE("beam_search and greedy refuse bad input, saying what, where, expected and got", "[seq2seq][beam]") {
  const auto f = attention_test::load_fixture("beam_toy", "seq2seq/lstm");
  const TableModel model = beam_test::table_model(f);
  const std::vector<std::vector<int>> sources = {{3, 4}, {5}};
  using elm::InvalidArgument;
  using elm::RangeError;
  using elm_test::error_message;
  BeamSearchConfig config;
  config.max_length = 5;
  config.num_beams = 0;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("elm::models::beam_search") && Contains("num_beams = 0") && Contains("expected >= 1"));
  config.num_beams = 2;
  config.num_return_sequences = 3;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("num_return_sequences = 3") && Contains("expected 1 <= num_return_sequences <= num_beams = 2"));
  config.num_return_sequences = 0;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("num_return_sequences = 0"));
  config.num_return_sequences = 1;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, {{3}, {}}, config); }),
             Contains("elm::models::beam_search") && Contains("source 1 is empty") && Contains("expected at least one"));
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::greedy(model, {{}}, config); }),
             Contains("elm::models::greedy") && Contains("source 0 is empty"));
  config.max_length = 1;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("max_length = 1") && Contains("expected >= 2"));
  config.max_length = 5;
  config.min_length = -1;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("min_length = -1") && Contains("expected >= 0"));
  config.min_length = 0;
  config.length_penalty = std::numeric_limits<double>::quiet_NaN();
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::greedy(model, sources, config); }),
             Contains("length_penalty = nan") && Contains("expected a finite number"));
  config.length_penalty = 1.0;
  config.eos_id = 99;  // the table model has V = 7
  CHECK_THAT(error_message<RangeError>([&] { elm::models::beam_search(model, sources, config); }),
             Contains("elm::models::beam_search") && Contains("eos_id = 99 is out of range") &&
                 Contains("expected 0 <= eos_id < 7"));
  CHECK_THAT(error_message<RangeError>([&] { elm::models::greedy(model, sources, config); }),
             Contains("elm::models::greedy") && Contains("eos_id = 99"));
  // no ids in the config and none from the model
  const beam_test::NoIds no_ids;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(no_ids, sources, BeamSearchConfig{}); }),
             Contains("bos_id = -1 and eos_id = -1") && Contains("expected ids >= 0"));
  // an empty batch decodes to nothing
  CHECK(elm::models::beam_search(model, {}, BeamSearchConfig{}).empty());
}
