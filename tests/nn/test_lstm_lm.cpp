// SPDX-License-Identifier: MIT
// LstmLm: gradients, learning a tiny corpus with the trainer, scoring, sampling, save and load, resume, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/io/training_state.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
#include "../common/metadata_refusals.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
namespace models = elm::models;
namespace train = elm::train;
using elm::Index;
using elm_test::MatD;

namespace {
// "0 1 2 3 4 0 1 2 3 4 ...": after a few hundred steps the next token is certain.
std::vector<Index> cycle_stream(Index n, Index period) {
  std::vector<Index> s;
  for (Index i = 0; i < n; ++i) s.push_back(i % period);
  return s;
}
}  // namespace

TEST_CASE("LstmLm gradients match central differences", "[nn][lstm_lm][gradcheck]") {
  elm::Rng rng(8);
  models::LstmLm<double> lm({7, 3, 4, 2}, rng);
  const std::vector<Index> ids{1, 2, 3, 6, 0, 5}, targets{2, 3, 4, 0, 5, 1}, lengths{3, 3};
  // The central differences use the same model in long double: in double, the loss's rounding would exceed
  // 1e-6 of the smallest gradient entries (see test_recurrent.cpp).
  elm::Rng unused(0);
  models::LstmLm<long double> lm_ld({7, 3, 4, 2}, unused);
  auto loss = [&] {
    elm_test::copy_parameters(lm, lm_ld);
    elm::Matrix<long double> logits;
    lm_ld.forward(ids, lengths, logits);
    long double total = 0;
    for (std::size_t n = 0; n < targets.size(); ++n) {
      const Index col = Index(n);
      total += elm::log_sum_exp(logits.col(col)) - logits(targets[n], col);
    }
    return total / static_cast<long double>(targets.size());  // the mean cross-entropy, written out
  };
  models::LstmLm<double>::Cache cache;
  MatD logits, dlogits;
  lm.forward(ids, lengths, logits, nullptr, nullptr, &cache);
  nn::cross_entropy<double>(logits, targets, {}, &dlogits);
  lm.zero_grad();
  lm.backward(cache, dlogits);
  lm.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    INFO(name);
    CHECK(elm_test::max_rel_error(p.value, p.grad, loss) < 1e-6);
  });
  std::vector<std::string> names;
  lm.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>&) { names.push_back(name); });
  CHECK(names.front() == "embedding.weight");
  CHECK(names[1] == "lstm.weight_ih_l0");
  CHECK(names.back() == "head.bias");
  // loss_and_backward: the summed cross-entropy and its gradient, N = 6 times the mean's.
  std::vector<MatD> mean_grads;
  lm.for_each_parameter("", [&](const std::string&, nn::Parameter<double>& p) { mean_grads.push_back(p.grad); });
  lm.zero_grad();
  const double summed = lm.loss_and_backward(ids, lengths, targets);
  CHECK_THAT(summed, Catch::Matchers::WithinRel(6.0 * static_cast<double>(loss()), 1e-12));
  CHECK_THAT(lm.loss(ids, lengths, targets), Catch::Matchers::WithinRel(summed, 1e-15));
  std::size_t k = 0;
  lm.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    INFO(name);
    CHECK((p.grad - 6.0 * mean_grads[k++]).cwiseAbs().maxCoeff() < 1e-12);
  });
}

TEST_CASE("LstmLm learns a periodic stream, scores it and samples it", "[nn][lstm_lm]") {
  elm::Rng rng(1);
  models::LstmLm<float> lm({6, 8, 16, 1}, rng);
  // id 5 is the boundary token, never in the stream
  train::TokenWindows windows(cycle_stream(400, 5), /*batch_size=*/8, /*seq_len=*/10, /*seed=*/1);
  train::TrainerOptions options;
  options.steps = 150;
  options.schedule = nn::LrSchedule::warmup_cosine(0.02, 10, 150, 0.002);
  options.clip_norm = 1.0;
  nn::AdamW<float> opt({0.02, 0.9, 0.999, 1e-8, 0.0});
  train::Trainer trainer(lm, opt, windows, train::language_model_step(lm), options);
  std::int64_t calls = 0;
  trainer.set_progress([&](const train::Progress& p) {
    ++calls;
    CHECK(p.step == calls);
    CHECK(p.tokens == calls * 80);
  });
  const auto result = trainer.run();
  CHECK(calls == 150);
  CHECK(result.steps_done == 150);
  CHECK(result.losses.front() > 1.5);  // about log 6 at the start
  CHECK(result.losses.back() < 0.05);
  // The sentence (1 2 3) after the boundary: after 1, 2 and 3 the next token is certain.
  const auto scores = models::lstm_lm_sentence_log_probs(lm, {{1, 2, 3}, {4}}, 5, 5);
  REQUIRE(scores.size() == 2);
  REQUIRE(scores[0].size() == 4);
  CHECK(scores[0][1] > std::log(0.9));  // p(2 | 5 1)
  CHECK(scores[0][2] > std::log(0.9));  // p(3 | 5 1 2)
  for (const auto& s : scores)
    for (double v : s) CHECK(v <= 0.0);
  elm::Rng a(3), b(3);
  const auto sample_a = models::lstm_lm_sample(lm, {0, 1}, 12, -1, 1.0, a);
  const auto sample_b = models::lstm_lm_sample(lm, {0, 1}, 12, -1, 1.0, b);
  CHECK(sample_a == sample_b);
  CHECK(sample_a == std::vector<Index>{2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3});
}

TEST_CASE("lstm_lm_sample with top_k = 1 takes the most likely token at every step", "[nn][lstm_lm]") {
  elm::Rng init(6);
  const models::LstmLm<double> lm({9, 4, 6, 1}, init);
  elm::Rng rng(2);
  const auto greedy = models::lstm_lm_sample(lm, {3, 1}, 8, -1, 0.7, rng, /*top_k=*/1);
  std::vector<Index> ids{3, 1};
  for (Index next : greedy) {
    elm::Matrix<double> logits;
    lm.forward(ids, {Index(ids.size())}, logits);
    Index argmax = 0;
    logits.col(logits.cols() - 1).maxCoeff(&argmax);
    CHECK(next == argmax);
    ids.push_back(next);
  }
  // top_k = V is no restriction: the same draws as top_k = 0.
  elm::Rng r1(4), r2(4);
  CHECK(models::lstm_lm_sample(lm, {1}, 10, -1, 1.0, r1, 9) == models::lstm_lm_sample(lm, {1}, 10, -1, 1.0, r2, 0));
}

TEST_CASE("An LstmLm run resumed from its checkpoint ends with the same parameters", "[nn][lstm_lm][resume]") {
  const auto stream = cycle_stream(300, 7);
  train::TrainerOptions options;
  options.steps = 12;
  options.schedule = nn::LrSchedule::warmup_cosine(1e-3, 2, 12, 1e-4);
  options.clip_norm = 1.0;
  const nn::AdamWOptions adamw{1e-3, 0.9, 0.999, 1e-8, 0.01};
  const auto run = [&](models::LstmLm<float>& lm, nn::AdamW<float>& opt, train::TokenWindows& windows,
                       const train::TrainerOptions& o, const std::string& resume_from) {
    train::Trainer trainer(lm, opt, windows, train::language_model_step(lm), o);
    if (!resume_from.empty()) trainer.resume(resume_from);
    return trainer.run();
  };
  elm::Rng rng_a(5);
  models::LstmLm<float> straight({8, 4, 6, 2}, rng_a);
  nn::AdamW<float> opt_a(adamw);
  train::TokenWindows windows_a(stream, 4, 6, 1);
  const auto full = run(straight, opt_a, windows_a, options, "");

  // The first 5 steps (the same schedule), with a checkpoint at the end; then a model with other weights resumes.
  const std::string path = (std::filesystem::temp_directory_path() / "elm-nn-lstm-lm-resume.safetensors").string();
  elm::Rng rng_b(5);
  models::LstmLm<float> first({8, 4, 6, 2}, rng_b);
  nn::AdamW<float> opt_b(adamw);
  train::TokenWindows windows_b(stream, 4, 6, 1);
  auto first_leg = options;
  first_leg.steps = 5;
  first_leg.checkpoint_path = path;
  const auto head = run(first, opt_b, windows_b, first_leg, "");
  elm::Rng rng_c(77);
  models::LstmLm<float> resumed({8, 4, 6, 2}, rng_c);
  nn::AdamW<float> opt_c(adamw);
  train::TokenWindows windows_c(stream, 4, 6, 1);
  const auto rest = run(resumed, opt_c, windows_c, options, path);
  REQUIRE(head.losses.size() == 5);
  REQUIRE(rest.losses.size() == 7);
  for (std::size_t k = 0; k < 5; ++k) CHECK(head.losses[k] == full.losses[k]);
  for (std::size_t k = 0; k < 7; ++k) CHECK(rest.losses[k] == full.losses[k + 5]);
  std::vector<elm::Matrix<float>> expected, got;
  straight.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { expected.push_back(p.value); });
  resumed.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { got.push_back(p.value); });
  CHECK(got == expected);  // bit for bit
  std::remove(path.c_str());
}

TEST_CASE("A const LstmLm is counted and saved; a model built from the file restores every parameter", "[nn][lstm_lm][io]") {
  elm::Rng rng_a(8);
  const models::LstmLm<float> trained({9, 3, 5, 2}, rng_a);
  CHECK(nn::count_parameters(trained) == 9 * 3 + (4 * 5 * 3 + 4 * 5 * 5 + 2 * 4 * 5) +
                                             (4 * 5 * 5 + 4 * 5 * 5 + 2 * 4 * 5) + 9 * 5 + 9);
  const std::string path = (std::filesystem::temp_directory_path() / "elm-nn-lstm-lm-const.safetensors").string();
  auto meta = trained.metadata();
  meta["level"] = "word";
  elm::io::save_parameters(path, trained, meta);
  // The model is built from the configuration in the file, then loaded from it.
  const elm::io::SafetensorsReader reader(path);
  models::LstmLm<float> loaded(models::LstmLm<float>::config_from(reader));
  elm::io::load_parameters(reader, loaded);
  CHECK(reader.metadata().at("architecture") == "elm-lstm-lm");
  CHECK(reader.metadata().at("level") == "word");
  CHECK(loaded.config().hidden_size == 5);
  CHECK(loaded.config().num_layers == 2);
  std::vector<elm::Matrix<float>> expected, got;
  trained.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { expected.push_back(p.value); });
  loaded.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { got.push_back(p.value); });
  CHECK(got == expected);
  std::remove(path.c_str());
}

TEST_CASE("LstmLm::config_from rejects files that are not a saved LstmLm", "[nn][lstm_lm][io][bad-input]") {
  const std::string path = (std::filesystem::temp_directory_path() / "elm-nn-lstm-lm-bad.safetensors").string();
  elm::Rng rng(3);
  const models::LstmLm<float> lm({5, 2, 3, 1}, rng);
  elm::io::save_parameters(path, lm, lm.metadata());
  CHECK(models::LstmLm<float>::config_from(elm::io::SafetensorsReader(path)).vocab_size == 5);
  elm_test::check_metadata_refusals(
      lm, path, "elm::models::LstmLm::config_from",
      {{"architecture", "gpt2", "holds architecture 'gpt2', expected 'elm-lstm-lm'"},
       {"vocab_size", "4000000000", "tensor 'embedding.weight'"},  // refused before anything that size is allocated
       {"vocab_size", "five", "vocab_size = 'five', expected a positive integer"},
       {"num_layers", "3", "is missing tensor 'lstm.weight_hh_l2'"},
       {"hidden_size", nullptr, "lacks the 'hidden_size'"}});
  std::remove(path.c_str());
}

TEST_CASE("LstmLm rejects bad ids, sizes and options", "[nn][lstm_lm][bad-input]") {
  elm::Rng rng(2);
  REQUIRE_THROWS_AS(models::LstmLm<float>({0, 4, 4, 1}, rng), elm::InvalidArgument);
  models::LstmLm<float> lm({5, 3, 4, 1}, rng);
  elm::Matrix<float> logits;
  REQUIRE_THROWS_MATCHES(lm.forward({1, 5}, {2}, logits), elm::RangeError,
                         elm_test::MessageContains("token id = 5 is out of range"));
  REQUIRE_THROWS_AS(lm.forward({1, 2, 3}, {4}, logits), elm::RangeError);  // length 4 > T = 3
  nn::AdamW<float> opt;
  REQUIRE_THROWS_MATCHES(train::TokenWindows(std::vector<Index>{1, 2, 3}, 4, 10), elm::InvalidArgument,
                         elm_test::MessageContains("expected at least seq_len + 1 = 11"));
  train::TokenWindows bad_ids(std::vector<Index>(50, 9), 4, 10);
  train::Trainer trainer(lm, opt, bad_ids, train::language_model_step(lm));
  REQUIRE_THROWS_AS(trainer.run(), elm::RangeError);
  elm::Rng sample_rng(1);
  REQUIRE_THROWS_AS(models::lstm_lm_sample(lm, {}, 3, -1, 1.0, sample_rng), elm::InvalidArgument);
  REQUIRE_THROWS_AS(models::lstm_lm_sample(lm, {1}, 3, -1, 0.0, sample_rng), elm::InvalidArgument);
  REQUIRE_THROWS_AS(models::lstm_lm_sample(lm, {1}, 3, -1, 1.0, sample_rng, -1), elm::InvalidArgument);
}

TEST_CASE("lstm_lm_perplexity shares <unk>'s mass among the types it stands for", "[nn][lstm_lm]") {
  // Held-out "a c" and "d" with the vocabulary <unk> 0, </s> 1, a 2, b 3 (c rare in training, d never seen):
  // 5 predicted tokens (a, c, </s>, d, </s>), two through <unk>, each charged log 2 more than the model's own
  // log p(<unk>) (unk_types = 2: c, plus one for types never seen).
  const std::vector<std::vector<Index>> sentences{{2, 0}, {0}};
  elm::Rng rng(4);
  models::LstmLm<double> lm({4, 2, 3, 1}, rng);
  const auto ppl = models::lstm_lm_perplexity(lm, sentences, /*boundary_id=*/1, /*unk_id=*/0, /*unk_types=*/2);
  const auto raw = models::lstm_lm_sentence_log_probs(lm, sentences, 1, 1);
  double total = 0;
  for (const auto& s : raw)
    for (double v : s) total += v;
  CHECK(ppl.tokens == 5);
  CHECK(ppl.unk_tokens == 2);
  CHECK_THAT(ppl.log_prob, Catch::Matchers::WithinAbs(total - 2 * std::log(2.0), 1e-12));
  CHECK_THAT(ppl.perplexity(), Catch::Matchers::WithinRel(std::exp(-(total - 2 * std::log(2.0)) / 5), 1e-12));
  REQUIRE_THROWS_AS(models::lstm_lm_perplexity(lm, sentences, 1, 0, 0), elm::InvalidArgument);
}
