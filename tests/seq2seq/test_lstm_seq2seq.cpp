// SPDX-License-Identifier: MIT
// LstmSeq2Seq (models/lstm_seq2seq.hpp) against the same model written in PyTorch
// (tools/make_lstm_seq2seq_fixtures.py): logits, loss and every gradient with additive, general and dot attention; a
// finite-difference gradient check of all three scores; the decoding calls against the teacher-forced forward;
// beam search's n-best lists against transformers' beam search over the PyTorch model; bad input; the configuration
// saved as metadata, read back, and files of another configuration refused.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "../common/metadata_refusals.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/beam_search.hpp"
#include "elm/models/lstm_seq2seq.hpp"
#include "seq2seq_fixture.hpp"

using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::models::AttentionScore;
using elm::models::LstmSeq2Seq;
using elm::models::LstmSeq2SeqConfig;

namespace lstm_s2s_test {

LstmSeq2SeqConfig config_of(const attention_test::Fixture& f) {
  LstmSeq2SeqConfig c;
  c.src_vocab = f.dim("src_vocab");
  c.tgt_vocab = f.dim("tgt_vocab");
  c.embedding_dim = f.dim("embedding_dim");
  c.encoder_hidden = f.dim("encoder_hidden");
  c.encoder_layers = f.dim("encoder_layers");
  c.decoder_hidden = f.dim("decoder_hidden");
  c.attention_dim = f.dim("attention_dim");
  const std::string kind = f.meta.at("attention").get<std::string>();
  c.attention = kind == "additive" ? AttentionScore::additive : kind == "dot" ? AttentionScore::dot
                                                                               : AttentionScore::general;
  c.pad_id = f.meta.at("pad").get<int>();
  c.bos_id = f.meta.at("bos").get<int>();
  c.eos_id = f.meta.at("eos").get<int>();
  return c;
}

template <typename Scalar>
LstmSeq2Seq<Scalar> load_model(const attention_test::Fixture& f) {
  LstmSeq2Seq<Scalar> model(config_of(f));
  attention_test::load_parameters<Scalar>(model, f);
  return model;
}

std::vector<Index> ids_of(const Matrix<double>& m) {
  std::vector<Index> ids(static_cast<std::size_t>(m.size()));
  for (Index i = 0; i < m.size(); ++i) ids[static_cast<std::size_t>(i)] = static_cast<Index>(m.data()[i]);
  return ids;
}

// Float against the float64 reference: the 1e-5 relative (to the tensor's largest entry); double: 1e-9.
template <typename Scalar>
constexpr double tolerance() {
  return std::is_same_v<Scalar, float> ? 1e-5 : 1e-9;
}

template <typename Scalar>
void check_parity(const std::string& fixture) {
  const auto f = attention_test::load_fixture(fixture, "seq2seq/lstm");
  auto model = load_model<Scalar>(f);
  const std::vector<Index> src = ids_of(f.matrix<double>("src")), tgt_in = ids_of(f.matrix<double>("tgt_in")),
                           targets = ids_of(f.matrix<double>("targets"));
  const auto src_lengths = f.meta.at("src_lengths").get<std::vector<Index>>();
  Matrix<Scalar> logits;
  model.forward(src, src_lengths, tgt_in, logits);
  CHECK(attention_test::relative_error<Scalar>("logits", logits, f.matrix<double>("logits")) < tolerance<Scalar>());
  model.zero_grad();
  const double loss = model.loss_and_backward(src, src_lengths, tgt_in, targets);
  const double want_loss = f.matrix<double>("loss")(0, 0);
  CHECK(std::abs(loss - want_loss) <= tolerance<Scalar>() * std::abs(want_loss));
  // Relative to each gradient's largest entry, floored in float at 1e-4: attention.query.weight's gradient (~1e-6)
  // is a sum of terms of ~1e-4 that nearly cancel (the query enters every source position's score alike, up to
  // tanh's curvature, and softmax ignores what all scores share), so float rounding is relative to the terms.
  const double floor = std::is_same_v<Scalar, float> ? 1e-4 : 0.0;
  int seen = 0;
  model.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    ++seen;
    const Matrix<double> want = f.matrix<double>("grad." + name);
    const double scale = want.cwiseAbs().maxCoeff();
    const double err = attention_test::relative_error<Scalar>("grad." + name, p.grad, want) * std::max(scale, 1e-30);
    INFO("grad." << name << ": max abs diff " << err << ", largest entry " << scale);
    CHECK(err <= tolerance<Scalar>() * std::max(scale, floor));
  });
  int grads = 0;  // every gradient of the fixture was compared
  for (const auto& entry : f.tensors) grads += entry.first.rfind("grad.", 0) == 0;
  CHECK(seen == grads);
}

// V_src = 5, V = 6, E = 3, He = 2, Hd = 4 (so dot attention fits), A = 3.
LstmSeq2SeqConfig tiny_config() {
  LstmSeq2SeqConfig c;
  c.src_vocab = 5;
  c.tgt_vocab = 6;
  c.embedding_dim = 3;
  c.encoder_hidden = 2;
  c.decoder_hidden = 4;
  c.attention_dim = 3;
  return c;
}

// Inputs for a tiny model: B = 2 sources of lengths 3 and 2 (S = 3), targets of 3 and 2 tokens (T = 3).
struct TinyBatch {
  std::vector<Index> src = {3, 4, 2, 1, 4, 0}, src_lengths = {3, 2};
  std::vector<Index> tgt_in = {1, 3, 5, 1, 4, 0}, targets = {3, 5, 2, 4, 2, -100};
};

}  // namespace lstm_s2s_test

TEMPLATE_TEST_CASE("LstmSeq2Seq's logits, loss and every gradient are PyTorch's", "[seq2seq][lstm]", float, double) {
  SECTION("additive attention, two encoder layers") { lstm_s2s_test::check_parity<TestType>("lstm_additive"); }
  SECTION("general attention, one encoder layer") { lstm_s2s_test::check_parity<TestType>("lstm_general"); }
  SECTION("dot attention, one encoder layer") { lstm_s2s_test::check_parity<TestType>("lstm_dot"); }
}

TEST_CASE("LstmSeq2Seq's gradients agree with central differences for every attention score", "[seq2seq][lstm]") {
  for (AttentionScore kind : {AttentionScore::additive, AttentionScore::dot, AttentionScore::general}) {
    INFO("attention score " << static_cast<int>(kind));
    LstmSeq2SeqConfig c = lstm_s2s_test::tiny_config();
    c.encoder_layers = 2;
    c.attention = kind;
    elm::Rng rng(7 + static_cast<int>(kind));
    LstmSeq2Seq<double> model(c, rng);
    const lstm_s2s_test::TinyBatch in;
    elm::nn::CrossEntropyOptions summed;
    summed.reduction = elm::nn::Reduction::sum;
    model.zero_grad();
    model.loss_and_backward(in.src, in.src_lengths, in.tgt_in, in.targets, summed);
    model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
      const Matrix<double> analytic = p.grad;
      attention_test::check_gradient(
          name, p.value, [&] { return model.loss(in.src, in.src_lengths, in.tgt_in, in.targets, summed); }, analytic);
    });
  }
}

TEST_CASE("LstmSeq2Seq's decoding calls give the teacher-forced logits, and reorder follows the parents",
          "[seq2seq][lstm]") {
  const auto f = attention_test::load_fixture("lstm_additive", "seq2seq/lstm");
  const auto model = lstm_s2s_test::load_model<double>(f);
  const std::vector<Index> src = lstm_s2s_test::ids_of(f.matrix<double>("src")),
                           tgt_in = lstm_s2s_test::ids_of(f.matrix<double>("tgt_in"));
  const auto src_lengths = f.meta.at("src_lengths").get<std::vector<Index>>();
  const Index batch = static_cast<Index>(src_lengths.size()), s_len = static_cast<Index>(src.size()) / batch,
              t_len = static_cast<Index>(tgt_in.size()) / batch;
  Matrix<double> full;
  model.forward(src, src_lengths, tgt_in, full);
  std::vector<std::vector<int>> sources(static_cast<std::size_t>(batch));
  for (Index b = 0; b < batch; ++b)
    for (Index s = 0; s < src_lengths[static_cast<std::size_t>(b)]; ++s)
      sources[static_cast<std::size_t>(b)].push_back(static_cast<int>(src[static_cast<std::size_t>(b * s_len + s)]));
  // two hypotheses per source, both fed the teacher's tokens; after step 1 the rows are permuted (each source's two
  // rows swapped, then source 0's rows moved last), and each row must still continue its own source's target
  auto state = model.begin_decoding(sources, 2, t_len);
  std::vector<Index> row_source;
  for (Index r = 0; r < 2 * batch; ++r) row_source.push_back(r / 2);
  Matrix<double> logits;
  double worst = 0.0;
  for (Index t = 0; t < t_len; ++t) {
    std::vector<int> last;
    for (Index b : row_source) last.push_back(static_cast<int>(tgt_in[static_cast<std::size_t>(b * t_len + t)]));
    model.decode_step(state, last, logits);
    REQUIRE(logits.cols() == static_cast<Index>(row_source.size()));
    for (std::size_t r = 0; r < row_source.size(); ++r)
      worst = std::max(worst, (logits.col(static_cast<Index>(r)) - full.col(row_source[r] * t_len + t)).cwiseAbs().maxCoeff());
    if (t == 0) {
      std::vector<Index> parents = {3, 2, 5, 4, 1, 0};
      REQUIRE(static_cast<Index>(parents.size()) == 2 * batch);
      std::vector<Index> moved;
      for (Index p : parents) moved.push_back(row_source[static_cast<std::size_t>(p)]);
      model.reorder(state, parents);
      row_source = moved;
    }
    if (t == 1) {  // the batch shrinks to source 2's and source 0's rows
      const std::vector<Index> parents = {1, 5};
      model.reorder(state, parents);
      row_source = {row_source[1], row_source[5]};
    }
  }
  INFO("largest difference from the teacher-forced logits " << worst);
  CHECK(worst < 1e-12);
}

TEST_CASE("beam_search over LstmSeq2Seq gives transformers' n-best lists over the PyTorch model", "[seq2seq][lstm]") {
  const auto f = attention_test::load_fixture("beam_lstm", "seq2seq/lstm");
  const auto model = lstm_s2s_test::load_model<float>(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  // float logits summed in double against the float64 reference: scores within the 1e-4
  seq2seq_test::check_beam_cases(model, sources, f.meta.at("beam_cases"), 1e-4);
  seq2seq_test::check_width_one_is_greedy(model, sources, 9);
  seq2seq_test::check_wider_is_no_worse(model, sources, 9, 1e-6);
}

TEST_CASE("LstmSeq2Seq and beam_search over it refuse bad input, saying what, where, expected and got",
          "[seq2seq][lstm]") {
  using elm::InvalidArgument;
  using elm::RangeError;
  using elm::ShapeError;
  using elm_test::error_message;
  LstmSeq2SeqConfig c = lstm_s2s_test::tiny_config();
  elm::Rng rng(3);
  const LstmSeq2Seq<float> model(c, rng);
  const std::vector<std::vector<int>> sources = {{3, 4}, {1}};
  elm::models::BeamSearchConfig beam;
  beam.max_length = 5;
  beam.num_beams = 0;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, beam); }),
             Contains("elm::models::beam_search: num_beams = 0, expected >= 1"));
  beam.num_beams = 2;
  beam.num_return_sequences = 3;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, sources, beam); }),
             Contains("num_return_sequences = 3, expected 1 <= num_return_sequences <= num_beams = 2"));
  beam.num_return_sequences = 2;
  CHECK_THAT(error_message<InvalidArgument>([&] { elm::models::beam_search(model, {{3}, {}}, beam); }),
             Contains("source 1 is empty"));
  CHECK_THAT(error_message<InvalidArgument>([&] { model.begin_decoding({{3}, {}}, 1, 4); }),
             Contains("elm::models::LstmSeq2Seq::begin_decoding: source 1 is empty, expected at least one token"));
  CHECK_THAT(error_message<RangeError>([&] { elm::models::beam_search(model, {{3, 7}}, beam); }),
             Contains("elm::models::LstmSeq2Seq::begin_decoding") && Contains("source token id = 7 is out of range") &&
                 Contains("expected 0 <= source token id < 5"));
  CHECK_THAT(error_message<InvalidArgument>([&] { model.begin_decoding(sources, 0, 4); }),
             Contains("hypotheses per source = 0, expected >= 1"));
  auto state = model.begin_decoding(sources, 1, 4);
  Matrix<float> logits;
  CHECK_THAT(error_message<RangeError>([&] { model.decode_step(state, {1, 6}, logits); }),
             Contains("elm::models::LstmSeq2Seq::decode_step: last token id = 6 is out of range, expected 0 <= last "
                      "token id < 6"));
  CHECK_THAT(error_message<ShapeError>([&] { model.decode_step(state, {1}, logits); }),
             Contains("last_tokens has 1 ids, expected one per hypothesis (2)"));
  CHECK_THAT(error_message<RangeError>([&] { model.reorder(state, {0, 2}); }),
             Contains("elm::models::LstmSeq2Seq::reorder: parent = 2 is out of range, expected 0 <= parent < 2"));
  beam.eos_id = 6;  // outside the target vocabulary
  CHECK_THAT(error_message<RangeError>([&] { elm::models::greedy(model, sources, beam); }),
             Contains("elm::models::greedy: eos_id = 6 is out of range, expected 0 <= eos_id < 6"));
  beam.bos_id = 6;  // the start token is the first token the model reads: the model refuses it
  CHECK_THAT(error_message<RangeError>([&] { elm::models::beam_search(model, sources, beam); }),
             Contains("elm::models::LstmSeq2Seq::decode_step: last token id = 6 is out of range"));
  const lstm_s2s_test::TinyBatch in;
  Matrix<float> out;
  CHECK_THAT(error_message<InvalidArgument>([&] { model.forward(in.src, {3, 0}, in.tgt_in, out); }),
             Contains("elm::models::LstmSeq2Seq::forward: source length 0 is out of range, expected 1 <= length <= S = 3"));
  CHECK_THAT(error_message<ShapeError>([&] { model.forward({3, 4, 2, 1, 4}, in.src_lengths, in.tgt_in, out); }),
             Contains("src has 5 ids, expected B S with B = 2"));
  CHECK_THAT(error_message<RangeError>([&] { model.forward(in.src, in.src_lengths, {1, 3, 9, 1, 4, 0}, out); }),
             Contains("target token id = 9 is out of range"));
  c.attention = AttentionScore::dot;
  c.decoder_hidden = 3;
  CHECK_THAT(error_message<InvalidArgument>([&] { LstmSeq2Seq<float> bad(c); }),
             Contains("dot attention") && Contains("expected decoder_hidden = 2 encoder_hidden = 4, got 3"));
  c.attention = AttentionScore::general;
  c.eos_id = 6;
  CHECK_THAT(error_message<RangeError>([&] { LstmSeq2Seq<float> bad(c); }),
             Contains("elm::models::LstmSeq2Seq: eos_id = 6 is out of range, expected 0 <= eos_id < 6"));
}

TEST_CASE("LstmSeq2Seq saved with its metadata is rebuilt from the file alone and decodes as before",
          "[seq2seq][lstm][io]") {
  LstmSeq2SeqConfig c = lstm_s2s_test::tiny_config();
  c.encoder_layers = 2;
  c.attention = AttentionScore::additive;
  c.pad_id = 5;
  elm::Rng rng(12);
  const LstmSeq2Seq<float> trained(c, rng);
  const std::string path = (std::filesystem::temp_directory_path() / "elm-seq2seq-lstm-io.safetensors").string();
  elm::io::save_parameters(path, trained, trained.metadata());
  const elm::io::SafetensorsReader reader(path);
  LstmSeq2Seq<float> loaded(LstmSeq2Seq<float>::config_from(reader));
  elm::io::load_parameters(reader, loaded);
  const LstmSeq2SeqConfig& got = loaded.config();
  CHECK(got.src_vocab == 5);
  CHECK(got.tgt_vocab == 6);
  CHECK(got.embedding_dim == 3);
  CHECK(got.encoder_hidden == 2);
  CHECK(got.encoder_layers == 2);
  CHECK(got.decoder_hidden == 4);
  CHECK(got.attention_dim == 3);
  CHECK(got.attention == AttentionScore::additive);
  CHECK(got.pad_id == 5);
  CHECK(loaded.metadata() == trained.metadata());
  const lstm_s2s_test::TinyBatch in;
  Matrix<float> want, have;
  trained.forward(in.src, in.src_lengths, in.tgt_in, want);
  loaded.forward(in.src, in.src_lengths, in.tgt_in, have);
  CHECK(have == want);  // bit for bit
  std::remove(path.c_str());
}

TEST_CASE("LstmSeq2Seq::config_from and load_parameters refuse a file of another model or configuration",
          "[seq2seq][lstm][io][bad-input]") {
  using elm_test::error_message;
  const std::string path = (std::filesystem::temp_directory_path() / "elm-seq2seq-lstm-bad.safetensors").string();
  elm::Rng rng(4);
  const LstmSeq2Seq<float> model(lstm_s2s_test::tiny_config(), rng);
  elm::io::save_parameters(path, model, model.metadata());
  CHECK(LstmSeq2Seq<float>::config_from(elm::io::SafetensorsReader(path)).decoder_hidden == 4);
  elm_test::check_metadata_refusals(
      model, path, "elm::models::LstmSeq2Seq::config_from",
      {{"architecture", "elm-lstm-lm", "holds architecture 'elm-lstm-lm', expected 'elm-lstm-seq2seq'"},
       {"src_vocab", "4000000000", "tensor 'src_embed.weight'"},  // refused before anything that size is allocated
       {"tgt_vocab", "7", "tensor 'tgt_embed.weight'"},
       {"encoder_hidden", "3", "tensor 'encoder.weight_hh_l0_reverse'"},
       {"encoder_layers", "2", "is missing tensor 'encoder.weight_hh_l1_reverse'"},
       {"decoder_hidden", "five", "decoder_hidden = 'five', expected a positive integer"},
       {"pad_id", "-1", "pad_id = '-1', expected a non-negative integer"},
       {"bos_id", "3000000000", "bos_id = 3000000000, expected at most 2147483647"},
       {"attention", "additive", "is missing tensor 'attention.v.weight'"},
       {"attention", "cosine", "attention = 'cosine', expected additive, dot or general"},
       {"eos_id", "6", "holds a configuration LstmSeq2Seq refuses"},
       {"bos_id", nullptr, "lacks the 'bos_id' metadata"}});
  // A model of another configuration loads nothing from the file and stays as it was.
  elm::io::save_parameters(path, model, model.metadata());
  LstmSeq2SeqConfig other = lstm_s2s_test::tiny_config();
  other.decoder_hidden = 6;
  LstmSeq2Seq<float> wider(other);
  CHECK_THAT(error_message<elm::ShapeError>([&] { elm::io::load_parameters(path, wider); }),
             Contains("tensor 'bridge_h.weight'") && Contains("has shape [4, 4], expected [6, 4]"));
  std::remove(path.c_str());
}
