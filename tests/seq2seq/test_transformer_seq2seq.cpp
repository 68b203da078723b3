// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "elm/io/checkpoint.hpp"
#include "elm/models/beam_search.hpp"
#include "elm/models/transformer_seq2seq.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "../common/metadata_refusals.hpp"
#include "seq2seq_fixture.hpp"

using namespace attention_test;
using elm::models::PositionKind;
using elm::models::Seq2SeqBatch;
using elm::models::TransformerSeq2Seq;
using elm::models::TransformerSeq2SeqConfig;
using elm::nn::ActivationKind;
using Catch::Matchers::Contains;

namespace {

const char* const fixtures[] = {"post_relu", "pre_gelu", "post_bare"};

TransformerSeq2SeqConfig fixture_config(const Fixture& f) {
  const auto& m = f.meta;
  TransformerSeq2SeqConfig c;
  c.source_vocab_size = f.dim("Vs");
  c.target_vocab_size = f.dim("Vt");
  c.shared_vocabulary = m.at("shared").get<bool>();
  c.width = f.dim("C");
  c.heads = f.dim("H");
  c.intermediate = f.dim("F");
  c.encoder_layers = f.dim("encoder_layers");
  c.decoder_layers = f.dim("decoder_layers");
  c.dropout = 0.0;
  c.activation = m.at("activation").get<std::string>() == "gelu" ? ActivationKind::gelu : ActivationKind::relu;
  c.norm_first = m.at("norm_first").get<bool>();
  c.final_norms = m.at("final_norms").get<bool>();
  c.max_positions = f.dim("P");
  c.positions = m.at("positions").get<std::string>() == "learned" ? PositionKind::learned : PositionKind::sinusoidal;
  c.scale_embeddings = m.at("scale").get<bool>();
  c.tie_output = m.at("tie").get<bool>();
  c.output_bias = m.at("output_bias").get<bool>();
  c.pad_id = f.dim("pad_id");
  c.bos_id = f.dim("bos_id");
  c.eos_id = f.dim("eos_id");
  return c;
}

std::vector<std::vector<Index>> id_lists(const Fixture& f, const char* key) {
  return f.meta.at(key).get<std::vector<std::vector<Index>>>();
}

std::vector<Index> ids_of(const Fixture& f, const std::string& name) {
  const Matrix<double> m = f.matrix<double>(name);
  std::vector<Index> ids(static_cast<std::size_t>(m.size()));
  for (Index i = 0; i < m.size(); ++i) ids[static_cast<std::size_t>(i)] = static_cast<Index>(m.data()[i]);
  return ids;
}

template <typename Scalar>
TransformerSeq2Seq<Scalar> fixture_model(const Fixture& f) {
  TransformerSeq2Seq<Scalar> model(fixture_config(f));
  load_parameters<Scalar>(model, f);
  return model;
}

/// A fixture's reference, its model in float and its unpadded sources.
struct Reference {
  explicit Reference(const std::string& name)
      : fixture(load_fixture(name, "seq2seq/transformer")),
        model(fixture_model<float>(fixture)),
        sources(id_lists(fixture, "sources")) {}
  Fixture fixture;
  TransformerSeq2Seq<float> model;
  std::vector<std::vector<Index>> sources;
};

/// A teacher-forced batch of every hypothesis's tokens so far (no padding: all have the same length), each with
/// its source padded as make_batch pads it.
Seq2SeqBatch history_batch(const std::vector<std::vector<Index>>& sources, const std::vector<Index>& source_of,
                           const std::vector<std::vector<Index>>& histories, Index pad) {
  std::vector<std::vector<Index>> srcs;
  for (Index s : source_of) srcs.push_back(sources[static_cast<std::size_t>(s)]);
  std::size_t S = 0;
  for (const auto& s : srcs) S = std::max(S, s.size());
  Seq2SeqBatch batch;
  batch.batch = static_cast<Index>(histories.size());
  batch.source_padding.setConstant(static_cast<Index>(S), batch.batch, true);
  for (std::size_t b = 0; b < srcs.size(); ++b) {
    std::vector<Index> row = srcs[b];
    batch.source_padding.col(static_cast<Index>(b)).head(static_cast<Index>(row.size())).setConstant(false);
    row.resize(S, pad);
    batch.source.insert(batch.source.end(), row.begin(), row.end());
    batch.target.insert(batch.target.end(), histories[b].begin(), histories[b].end());
  }
  return batch;
}

/// A tiny double-precision model with random parameters (layer norm weights near 1).
TransformerSeq2Seq<double> tiny_model(bool variant, double dropout) {
  TransformerSeq2SeqConfig c;
  c.source_vocab_size = 7;
  c.target_vocab_size = variant ? 7 : 6;
  c.shared_vocabulary = variant;
  c.width = 4;
  c.heads = 2;
  c.intermediate = 6;
  c.encoder_layers = variant ? 1 : 2;
  c.decoder_layers = variant ? 2 : 1;
  c.dropout = dropout;
  c.activation = variant ? ActivationKind::gelu : ActivationKind::relu;
  c.norm_first = variant;
  c.max_positions = 6;
  c.positions = variant ? PositionKind::learned : PositionKind::sinusoidal;
  c.tie_output = variant;
  TransformerSeq2Seq<double> model(c);
  elm::Rng rng(variant ? 5 : 6);
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    p.value = random_matrix(rng, p.value.rows(), p.value.cols(), 0.5);
    if (name.find("norm") != std::string::npos && name.find("weight") != std::string::npos) p.value.array() += 1.0;
  });
  return model;
}

}  // namespace

TEMPLATE_TEST_CASE("TransformerSeq2Seq matches torch.nn.Transformer: logits, loss and every parameter gradient",
                   "[seq2seq][transformer][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, fixtures[0], fixtures[1], fixtures[2]);
  INFO("fixture " << name);
  const Fixture f = load_fixture(name, "seq2seq/transformer");
  // float against the float64 reference: the 1e-5 relative (to each tensor's largest entry); double: 1e-9
  const double tol = std::is_same_v<TestType, float> ? 1e-5 : 1e-9;
  TransformerSeq2Seq<TestType> model = fixture_model<TestType>(f);
  // 1) the batch make_batch pads is the generator's
  std::vector<Index> labels;
  const Seq2SeqBatch batch = model.make_batch(id_lists(f, "sources"), id_lists(f, "targets"), labels);
  REQUIRE(batch.source == ids_of(f, "source"));
  REQUIRE(batch.target == ids_of(f, "target"));
  REQUIRE(labels == ids_of(f, "labels"));
  REQUIRE(batch.source_padding == f.bool_matrix("source_padding"));
  REQUIRE(batch.target_padding == f.bool_matrix("target_padding"));
  // 2) logits, loss, gradients
  Matrix<TestType> logits;
  model.forward(batch, logits);
  CHECK(relative_error<TestType>("logits", logits, f.matrix<double>("logits")) < tol);
  model.zero_grad();
  const auto options = model.loss_options(f.meta.at("label_smoothing").get<double>());
  const TestType loss = model.loss_and_backward(batch, labels, options);
  const double want_loss = f.matrix<double>("loss")(0, 0);
  CHECK(std::abs(double(loss) - want_loss) <= tol * std::abs(want_loss));
  CHECK(double(model.loss(batch, labels, options)) == Approx(double(loss)).epsilon(1e-12));
  check_parameter_grads<TestType>(model, f, tol);
  // 3) every parameter of the reference is one of the model's
  Index reference_parameters = 0;
  for (const auto& [key, tensor] : f.tensors) reference_parameters += key.rfind("grad.", 0) == 0 ? 1 : 0;
  Index visited = 0;
  model.for_each_parameter("", [&](const std::string&, const auto&) { ++visited; });
  CHECK(visited == reference_parameters);
}

TEST_CASE("TransformerSeq2Seq decodes incrementally: every step equals the teacher-forced forward",
          "[seq2seq][transformer][decoding]") {
  const Reference ref(GENERATE(as<std::string>{}, fixtures[0], fixtures[1], fixtures[2]));
  const auto& [f, model, sources] = ref;
  INFO("fixture " << f.meta.at("name").get<std::string>());
  const Index N = static_cast<Index>(sources.size()), K = 2, T = f.dim("T") + 1;
  // K hypotheses of each source with their own random tokens, fed one step at a time
  elm::Rng rng(7);
  auto state = model.begin_decoding(sources, K, T);
  REQUIRE(state.hypotheses() == N * K);
  std::vector<std::vector<Index>> histories(static_cast<std::size_t>(N * K));
  Matrix<float> step_logits;
  std::vector<Matrix<float>> steps;
  for (Index t = 0; t < T; ++t) {
    std::vector<int> tokens;  // int ids, as the decoding interface is also called
    for (auto& h : histories) {
      h.push_back(t == 0 ? model.bos_id() : Index(rng.below(std::uint64_t(model.target_vocab_size()))));
      tokens.push_back(int(h.back()));
    }
    model.decode_step(state, tokens, step_logits);
    REQUIRE(step_logits.rows() == model.target_vocab_size());
    REQUIRE(step_logits.cols() == N * K);
    steps.push_back(step_logits);
  }
  CHECK(state.length() == T);
  Matrix<float> full;
  model.forward(history_batch(sources, state.source_of, histories, model.pad_id()), full);
  for (Index t = 0; t < T; ++t) {
    Matrix<float> want(full.rows(), N * K);
    for (Index i = 0; i < N * K; ++i) want.col(i) = full.col(i * T + t);
    INFO("step " << t);
    CHECK(relative_error<float>("step logits", steps[std::size_t(t)], want.cast<double>()) < 1e-5);
  }
  // one step too many
  CHECK_THROWS_AS(model.decode_step(state, std::vector<int>(std::size_t(N * K), 3), step_logits), elm::RangeError);
}

TEST_CASE("TransformerSeq2Seq reorder: each hypothesis continues its parent, the batch may shrink",
          "[seq2seq][transformer][decoding]") {
  const Reference ref(GENERATE(as<std::string>{}, fixtures[0], fixtures[1]));
  const auto& [f, model, sources] = ref;
  INFO("fixture " << f.meta.at("name").get<std::string>());
  const Index K = 3, T = 7;
  auto state = model.begin_decoding(sources, K, T);
  std::vector<std::vector<Index>> histories(std::size_t(state.hypotheses()));
  std::vector<Index> source_of = state.source_of;
  elm::Rng rng(11);
  Matrix<float> logits, full;
  for (Index t = 0; t < T; ++t) {
    if (t > 0) {
      // survivors: random parents within each source; at step 3 the last source is dropped
      std::vector<Index> parents;
      for (Index i = 0; i < state.hypotheses(); ++i) {
        const Index src = source_of[std::size_t(i)];
        if (t >= 3 && src == Index(sources.size()) - 1) continue;
        std::vector<Index> same;
        for (Index j = 0; j < state.hypotheses(); ++j)
          if (source_of[std::size_t(j)] == src) same.push_back(j);
        parents.push_back(same[std::size_t(rng.below(same.size()))]);
      }
      model.reorder(state, parents);
      std::vector<std::vector<Index>> h;
      std::vector<Index> s;
      for (Index p : parents) {
        h.push_back(histories[std::size_t(p)]);
        s.push_back(source_of[std::size_t(p)]);
      }
      histories = h;
      source_of = s;
      REQUIRE(state.source_of == source_of);
    }
    std::vector<Index> tokens;
    for (auto& h : histories) {
      h.push_back(t == 0 ? model.bos_id() : Index(3 + rng.below(std::uint64_t(model.target_vocab_size() - 3))));
      tokens.push_back(h.back());
    }
    model.decode_step(state, tokens, logits);
    // the hypotheses' logits are those of a full forward over their own histories and sources
    model.forward(history_batch(sources, source_of, histories, model.pad_id()), full);
    Matrix<float> want(full.rows(), state.hypotheses());
    for (Index i = 0; i < state.hypotheses(); ++i) want.col(i) = full.col(i * (t + 1) + t);
    INFO("step " << t);
    CHECK(relative_error<float>("reordered step logits", logits, want.cast<double>()) < 1e-5);
  }
  CHECK(state.hypotheses() == K * (Index(sources.size()) - 1));
}

TEST_CASE("TransformerSeq2Seq under beam_search: transformers' n-best lists, width 1 is greedy, wider is no worse",
          "[seq2seq][transformer][beam]") {
  const Fixture f = load_fixture("beam_transformer", "seq2seq/transformer");
  const TransformerSeq2Seq<float> model = fixture_model<float>(f);
  const auto sources = f.meta.at("sources").get<std::vector<std::vector<int>>>();
  const Index max_length = f.meta.at("beam_cases").at(0).at("max_length").get<Index>();
  // float logits against the float64 reference: the same tokens, scores within the 1e-4
  seq2seq_test::check_beam_cases(model, sources, f.meta.at("beam_cases"), 1e-4);
  seq2seq_test::check_width_one_is_greedy(model, sources, max_length);
  // Widths 1 to 6 under Hugging Face's default rule (the heuristic) and "never": the best hypothesis never scores
  // lower at a wider beam. (early_stopping = True stops once num_beams hypotheses are finished, and at width 2
  // sources 1 and 2 finish two short ones before the greedy hypothesis ends: no such property for it.)
  for (const auto early : {elm::models::EarlyStopping::heuristic, elm::models::EarlyStopping::never})
    for (const double lp : {0.6, 1.0, 2.0}) {
      elm::models::BeamSearchConfig config;
      config.max_length = max_length;
      config.early_stopping = early;
      config.length_penalty = lp;
      std::vector<double> best(sources.size(), -std::numeric_limits<double>::infinity());
      for (config.num_beams = 1; config.num_beams <= 6; ++config.num_beams) {
        const auto nbest = elm::models::beam_search(model, sources, config);
        for (std::size_t s = 0; s < sources.size(); ++s) {
          INFO("early_stopping " << int(early) << ", length_penalty " << lp << ", width " << config.num_beams
                                 << ", source " << s);
          CHECK(nbest[s][0].score >= best[s] - 1e-5 * std::abs(best[s]));
          best[s] = nbest[s][0].score;
        }
      }
    }
}

TEST_CASE("TransformerSeq2Seq under greedy: PyTorch's greedy tokens and log-probabilities",
          "[seq2seq][transformer][beam]") {
  const Reference ref(GENERATE(as<std::string>{}, fixtures[0], fixtures[1], fixtures[2]));
  const auto& [f, model, sources] = ref;
  INFO("fixture " << f.meta.at("name").get<std::string>());
  elm::models::BeamSearchConfig config;
  config.max_length = f.dim("greedy_length") + 1;
  const auto got = elm::models::greedy(model, f.meta.at("sources").get<std::vector<std::vector<int>>>(), config);
  const auto want_tokens = f.meta.at("greedy_tokens").get<std::vector<std::vector<int>>>();
  const auto want_scores = f.meta.at("greedy_scores").get<std::vector<double>>();
  REQUIRE(got.size() == sources.size());
  for (std::size_t n = 0; n < got.size(); ++n) {
    INFO("source " << n);
    CHECK(got[n].tokens == want_tokens[n]);
    CHECK(got[n].sum_logprobs == Approx(want_scores[n]).epsilon(1e-5));
  }
}

TEST_CASE("TransformerSeq2Seq gradients pass a finite-difference check (dropout, label smoothing, padding)",
          "[seq2seq][transformer][grad]") {
  const bool variant = GENERATE(false, true);
  INFO((variant ? "pre-norm gelu, shared tied vocabulary, learned positions"
                : "post-norm relu, separate vocabularies, untied head, sinusoids"));
  TransformerSeq2Seq<double> model = tiny_model(variant, 0.1);
  std::vector<Index> labels;
  const Seq2SeqBatch batch = model.make_batch({{3, 4, 5}, {6}}, {{4, 3}, {5, 4, 3}}, labels);
  const auto options = model.loss_options(variant ? 0.1 : 0.0);
  // the same seed before every forward draws the same dropout masks: the loss is a smooth function
  elm::Rng rng;
  const auto loss = [&]() {
    rng.reseed(42);
    Matrix<double> logits;
    model.forward(batch, logits, nullptr, elm::nn::ForwardContext::train(rng));
    return elm::nn::cross_entropy<double>(logits, labels, options);
  };
  model.zero_grad();
  rng.reseed(42);
  const double value = model.loss_and_backward(batch, labels, options, elm::nn::ForwardContext::train(rng));
  CHECK(value == Approx(loss()).epsilon(1e-14));
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEST_CASE("TransformerSeq2Seq learns to copy short sequences in a few AdamW steps", "[seq2seq][transformer]") {
  TransformerSeq2SeqConfig c;
  c.source_vocab_size = c.target_vocab_size = 8;
  c.shared_vocabulary = true;
  c.width = 16;
  c.heads = 2;
  c.intermediate = 32;
  c.encoder_layers = c.decoder_layers = 1;
  c.dropout = 0.0;
  c.max_positions = 8;
  elm::Rng rng(3);
  TransformerSeq2Seq<float> model(c, rng);
  std::vector<std::vector<Index>> sources;
  for (int n = 0; n < 16; ++n) {
    std::vector<Index> s;
    for (Index t = 0, len = 2 + Index(rng.below(3)); t < len; ++t) s.push_back(3 + Index(rng.below(5)));
    sources.push_back(s);
  }
  std::vector<Index> labels;
  const Seq2SeqBatch batch = model.make_batch(sources, sources, labels);
  const auto options = model.loss_options();
  elm::nn::AdamW<float> opt({0.01, 0.9, 0.98, 1e-8, 0.0});
  const float first = model.loss(batch, labels, options);
  for (int step = 0; step < 60; ++step) {
    model.zero_grad();
    model.loss_and_backward(batch, labels, options);
    opt.step(model);
  }
  const float last = model.loss(batch, labels, options);
  INFO("loss " << first << " -> " << last);
  CHECK(first > 1.5f);
  CHECK(last < 0.1f * first);
}

TEST_CASE("TransformerSeq2Seq checkpoints: saved and loaded under its names; another configuration is refused",
          "[seq2seq][transformer][io]") {
  using elm_test::error_message;
  const Reference ref("post_relu");
  const auto path = (elm_test::fresh_directory("transformer-seq2seq") / "model.safetensors").string();
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  elm::io::save_parameters(path, ref.model);
  std::vector<Index> labels;
  const Seq2SeqBatch batch = ref.model.make_batch(ref.sources, id_lists(ref.fixture, "targets"), labels);
  Matrix<float> want, got;
  ref.model.forward(batch, want);
  // the same configuration: the same logits, bit for bit
  const TransformerSeq2SeqConfig config = fixture_config(ref.fixture);
  TransformerSeq2Seq<float> loaded(config);
  elm::io::load_parameters(path, loaded);
  loaded.forward(batch, got);
  CHECK(got == want);
  // another configuration: the tensor that does not fit is named, the model is left unchanged
  TransformerSeq2SeqConfig fewer = config;
  fewer.decoder_layers = 1;
  TransformerSeq2Seq<float> shallow(fewer);
  CHECK_THAT(error_message<elm::FormatError>([&] { elm::io::load_parameters(path, shallow); }),
             Contains("has tensor 'decoder.layers.1.") && Contains("that the model does not have"));
  TransformerSeq2SeqConfig tied = config;
  tied.tie_output = true;
  TransformerSeq2Seq<float> tied_model(tied);
  CHECK_THAT(error_message<elm::FormatError>([&] { elm::io::load_parameters(path, tied_model); }),
             Contains("output_projection.weight"));
  TransformerSeq2SeqConfig wider = config;
  wider.intermediate = 20;
  TransformerSeq2Seq<float> wide(wider);
  CHECK_THAT(error_message<elm::ShapeError>([&] { elm::io::load_parameters(path, wide); }),
             Contains("encoder.layers.0.linear1.weight") && Contains("expected [20, 8]"));
  Index nonzero = 0;
  wide.for_each_parameter("", [&](const std::string&, const elm::nn::Parameter<float>& p) {
    nonzero += (p.value.array() != 0.0f).count();
  });
  // a zero model but for its layer norms' weights (ones): nothing was assigned
  CHECK(nonzero == config.width * (config.encoder_layers * 2 + config.decoder_layers * 3 + 2));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("TransformerSeq2Seq saved with its metadata is rebuilt from the file alone", "[seq2seq][transformer][io]") {
  // every field away from its default, so that a field metadata() forgot or config_from misreads shows
  TransformerSeq2SeqConfig c;
  c.source_vocab_size = 9;
  c.target_vocab_size = 7;
  c.width = 8;
  c.heads = 2;
  c.encoder_layers = 2;
  c.decoder_layers = 1;
  c.intermediate = 12;
  c.dropout = 0.125;
  c.activation = ActivationKind::gelu;
  c.norm_first = true;
  c.layer_norm_eps = 1e-6;
  c.final_norms = false;
  c.max_positions = 24;
  c.positions = PositionKind::learned;
  c.scale_embeddings = false;
  c.tie_output = false;
  c.output_bias = false;
  c.pad_id = 3;
  c.bos_id = 4;
  c.eos_id = 5;
  elm::Rng rng(8);
  const TransformerSeq2Seq<float> model(c, rng);
  const auto dir = elm_test::fresh_directory("transformer-seq2seq-metadata");
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  elm::io::save_parameters(path, model, model.metadata());
  const elm::io::SafetensorsReader reader(path);
  TransformerSeq2Seq<float> loaded(TransformerSeq2Seq<float>::config_from(reader));
  elm::io::load_parameters(reader, loaded);
  const TransformerSeq2SeqConfig& got = loaded.config();
  CHECK(got.source_vocab_size == 9);
  CHECK(got.target_vocab_size == 7);
  CHECK_FALSE(got.shared_vocabulary);
  CHECK(got.width == 8);
  CHECK(got.heads == 2);
  CHECK(got.encoder_layers == 2);
  CHECK(got.decoder_layers == 1);
  CHECK(got.intermediate == 12);
  CHECK(got.dropout == 0.125);
  CHECK(got.activation == ActivationKind::gelu);
  CHECK(got.norm_first);
  CHECK(got.layer_norm_eps == 1e-6);  // read back exactly
  CHECK_FALSE(got.final_norms);
  CHECK(got.max_positions == 24);
  CHECK(got.positions == PositionKind::learned);
  CHECK_FALSE(got.scale_embeddings);
  CHECK_FALSE(got.tie_output);
  CHECK_FALSE(got.output_bias);
  CHECK(got.pad_id == 3);
  CHECK(got.bos_id == 4);
  CHECK(got.eos_id == 5);
  CHECK(loaded.metadata() == model.metadata());
  std::vector<Index> labels;
  const Seq2SeqBatch batch = model.make_batch({{1, 2, 8}, {6, 0}}, {{1, 2}, {6}}, labels);
  Matrix<float> want, have;
  model.forward(batch, want);
  loaded.forward(batch, have);
  CHECK(have == want);  // bit for bit
  // a shared vocabulary and sinusoidal positions round-trip too
  c.target_vocab_size = 9;
  c.shared_vocabulary = true;
  c.positions = PositionKind::sinusoidal;
  const TransformerSeq2Seq<float> shared(c, rng);
  elm::io::save_parameters(path, shared, shared.metadata());
  CHECK(TransformerSeq2Seq<float>::config_from(elm::io::SafetensorsReader(path)).shared_vocabulary);
  std::filesystem::remove_all(dir);
}

TEST_CASE("TransformerSeq2Seq::config_from refuses a file of another model or a configuration its tensors deny",
          "[seq2seq][transformer][io][bad-input]") {
  using elm_test::error_message;
  TransformerSeq2SeqConfig c;
  c.source_vocab_size = 9;
  c.target_vocab_size = 7;
  c.width = 8;
  c.heads = 2;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.intermediate = 12;
  c.max_positions = 16;
  elm::Rng rng(9);
  const TransformerSeq2Seq<float> model(c, rng);
  const auto dir = elm_test::fresh_directory("transformer-seq2seq-bad-metadata");
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  elm::io::save_parameters(path, model, model.metadata());
  CHECK(TransformerSeq2Seq<float>::config_from(elm::io::SafetensorsReader(path)).intermediate == 12);
  elm_test::check_metadata_refusals(
      model, path, "elm::models::TransformerSeq2Seq::config_from",
      {{"architecture", "elm-lstm-seq2seq", "holds architecture 'elm-lstm-seq2seq', expected 'elm-transformer-seq2seq'"},
       {"source_vocab_size", "4000000", "tensor 'source_embedding.weight'"},  // refused before allocating
       {"width", "16", "tensor 'source_embedding.weight'"},
       {"encoder_layers", "3", "is missing tensor 'encoder.layers.2.self_attn.in_proj_weight'"},
       {"intermediate", "twelve", "intermediate = 'twelve', expected a positive integer"},
       {"heads", "3", "holds a configuration TransformerSeq2Seq refuses"},
       {"dropout", "1.5", "dropout = '1.5', expected a number in [0, 1]"},
       {"layer_norm_eps", "nan", "layer_norm_eps = 'nan', expected a number"},
       {"norm_first", "yes", "norm_first = 'yes', expected true or false"},
       {"positions", "rotary", "positions = 'rotary', expected sinusoidal or learned"},
       {"positions", "learned", "is missing tensor 'target_positions.weight'"},
       {"max_positions", "100000000", "max_positions = 100000000 with sinusoidal positions, expected at most 65536"},
       {"activation", "swish", "unknown activation \"swish\""},
       {"tie_output", "false", "is missing tensor 'output_projection.weight'"},
       {"shared_vocabulary", "true", "holds a configuration TransformerSeq2Seq refuses"},
       {"eos_id", "7", "holds a configuration TransformerSeq2Seq refuses"},
       {"bos_id", nullptr, "lacks the 'bos_id' metadata"}});
  // a file claiming fewer decoder layers than it holds reads as a smaller model, whose load names the extra ones
  auto fewer_layers = model.metadata();
  fewer_layers["decoder_layers"] = "1";
  elm::io::save_parameters(path, model, fewer_layers);
  const elm::io::SafetensorsReader reader(path);
  TransformerSeq2Seq<float> fewer(TransformerSeq2Seq<float>::config_from(reader));
  CHECK_THAT(error_message<elm::FormatError>([&] { elm::io::load_parameters(reader, fewer); }),
             Contains("decoder.layers.1."));
  std::filesystem::remove_all(dir);
}

TEST_CASE("TransformerSeq2Seq rejects bad input with what, where, expected and got", "[seq2seq][transformer][errors]") {
  using elm_test::error_message;
  TransformerSeq2SeqConfig good;
  good.source_vocab_size = 7;
  good.target_vocab_size = 6;
  good.width = 4;
  good.heads = 2;
  good.intermediate = 6;
  good.encoder_layers = good.decoder_layers = 1;
  good.max_positions = 5;

  SECTION("configuration") {
    TransformerSeq2SeqConfig c = good;
    c.heads = 3;
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { TransformerSeq2Seq<float> m(c); }),
               Contains("elm::models::TransformerSeq2Seq") && Contains("does not divide the width C = 4"));
    c = good;
    c.shared_vocabulary = true;
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { TransformerSeq2Seq<float> m(c); }),
               Contains("shared vocabulary") && Contains("V_s = 7, V_t = 6"));
    c = good;
    c.width = 3;
    c.heads = 1;
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { TransformerSeq2Seq<float> m(c); }),
               Contains("even width") && Contains("C = 3"));
    c = good;
    c.eos_id = 6;
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { TransformerSeq2Seq<float> m(c); }),
               Contains("eos_id = 6") && Contains("target_vocab_size = 6"));
  }

  const TransformerSeq2Seq<float> model(good);
  std::vector<Index> labels;
  const Seq2SeqBatch batch = model.make_batch({{3, 4}, {5}}, {{3}, {4, 5}}, labels);
  Matrix<float> logits;
  constexpr const char* forward = "elm::models::TransformerSeq2Seq::forward";

  SECTION("teacher-forced batches") {
    Seq2SeqBatch b = batch;
    b.source.clear();
    CHECK_THAT(error_message<elm::ShapeError>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("got 0 source ids, expected a positive multiple of B = 2"));
    b = batch;
    b.source_padding.col(1).setConstant(true);
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("source sequence 1 is all padding"));
    b = batch;
    b.source.assign(2 * 6, 3);
    b.source_padding.resize(0, 0);
    CHECK_THAT(error_message<elm::RangeError>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("source sequences have 6 positions, expected at most max_positions = 5"));
    b = batch;
    b.target[3] = 6;
    CHECK_THAT(error_message<elm::RangeError>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("target token id 6 at position 0 of sequence 1") &&
                   Contains("expected 0 <= id < 6"));
    b = batch;
    b.source_padding.resize(3, 2);
    b.source_padding.setConstant(false);
    CHECK_THAT(error_message<elm::ShapeError>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("source_padding") && Contains("is 3x2, expected 2x2"));
    b = batch;
    b.target_padding.resize(2, 3);
    b.target_padding.setConstant(false);
    CHECK_THAT(error_message<elm::ShapeError>([&] { model.forward(b, logits); }),
               Contains(forward) && Contains("target_padding") && Contains("is 2x3, expected 3x2"));
    CHECK_THROWS_AS(model.make_batch({{3}, {}}, {{3}, {4}}, labels), elm::InvalidArgument);
  }

  SECTION("decoding") {
    using Sources = std::vector<std::vector<int>>;
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { model.begin_decoding(Sources{{3}, {}}, 2, 4); }),
               Contains("begin_decoding") && Contains("source 1 is empty"));
    CHECK_THAT(error_message<elm::RangeError>([&] { model.begin_decoding(Sources{{3, 3, 3, 3, 3, 3}}, 2, 4); }),
               Contains("begin_decoding") && Contains("source 0 has 6 tokens, expected at most max_positions = 5"));
    CHECK_THAT(error_message<elm::RangeError>([&] { model.begin_decoding(Sources{{3, 7}}, 2, 4); }),
               Contains("begin_decoding") && Contains("source token id 7 at position 1 of sequence 0") &&
                   Contains("expected 0 <= id < 7"));
    CHECK_THAT(error_message<elm::RangeError>([&] { model.begin_decoding(Sources{{3}}, 2, 6); }),
               Contains("max_target_length = 6"));
    CHECK_THROWS_AS(model.begin_decoding(Sources{{3}}, 0, 4), elm::InvalidArgument);
    auto state = model.begin_decoding(Sources{{3, 4}, {5}}, 2, 4);
    CHECK_THAT(error_message<elm::ShapeError>([&] { model.decode_step(state, std::vector<int>{1, 1, 1}, logits); }),
               Contains("decode_step") && Contains("got 3 tokens, expected one per live hypothesis (4)"));
    CHECK_THAT(error_message<elm::RangeError>([&] { model.decode_step(state, std::vector<int>{1, 1, -1, 1}, logits); }),
               Contains("decode_step") && Contains("target token id -1 at position 0 of hypothesis 2"));
    CHECK(state.length() == 0);
    model.decode_step(state, std::vector<int>{1, 1, 1, 1}, logits);
    CHECK_THAT(error_message<elm::RangeError>([&] { model.reorder(state, std::vector<Index>{0, 4}); }),
               Contains("reorder") && Contains("parent = 4 is out of range, expected 0 <= parent < 4"));
    CHECK_THROWS_AS(model.reorder(state, std::vector<Index>{}), elm::InvalidArgument);
    CHECK(state.hypotheses() == 4);
    model.reorder(state, std::vector<int>{3, 3});
    CHECK(state.source_of == std::vector<Index>{1, 1});
    model.decode_step(state, std::vector<int>{4, 5}, logits);
    CHECK(logits.cols() == 2);
  }
}
