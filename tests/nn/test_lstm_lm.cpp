// SPDX-License-Identifier: MIT
// LstmLm: gradients, learning a tiny corpus, scoring, sampling, resume, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "elm/io/checkpoint.hpp"
#include "elm/io/training_state.hpp"
#include "elm/models/lstm_lm.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
namespace models = elm::models;
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
}

TEST_CASE("LstmLm learns a periodic stream, scores it and samples it", "[nn][lstm_lm]") {
  elm::Rng rng(1);
  models::LstmLm<float> lm({6, 8, 16, 1}, rng);
  const auto stream = cycle_stream(400, 5);  // id 5 is the boundary token, never in the stream
  models::LstmLmTrainOptions options;
  options.batch_size = 8;
  options.seq_len = 10;
  options.steps = 150;
  options.warmup = 10;
  options.lr = 0.02;
  nn::AdamW<float> opt({options.lr, 0.9, 0.999, 1e-8, 0.0});
  std::int64_t calls = 0;
  const auto result = models::train_lstm_lm(lm, stream, options, opt, [&](const models::LstmLmProgress& p) {
    ++calls;
    CHECK(p.step == calls);
    CHECK(p.tokens == calls * 80);
  });
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

TEST_CASE("An LstmLm run resumed from its training state repeats the same losses", "[nn][lstm_lm][resume]") {
  const auto stream = cycle_stream(300, 7);
  models::LstmLmTrainOptions options;
  options.batch_size = 4;
  options.seq_len = 6;
  options.steps = 12;
  options.warmup = 2;
  const nn::AdamWOptions adamw{options.lr, 0.9, 0.999, 1e-8, 0.01};
  elm::Rng rng_a(5);
  models::LstmLm<float> straight({8, 4, 6, 2}, rng_a);
  nn::AdamW<float> opt_a(adamw);
  const auto full = models::train_lstm_lm(straight, stream, options, opt_a);

  elm::Rng rng_b(5);
  models::LstmLm<float> first({8, 4, 6, 2}, rng_b);
  nn::AdamW<float> opt_b(adamw);
  auto stop_early = options;
  stop_early.steps = 12;
  // Run the first 5 steps with the same schedule (steps = 12), then save.
  for (std::int64_t s = 0; s < 5; ++s) {
    const double lr = nn::LrSchedule::warmup_cosine(options.lr, options.warmup, options.steps,
                                                    options.lr * options.min_lr_fraction)(s);
    CHECK(models::lstm_lm_train_step(first, stream, options, opt_b, s, lr) == full.losses[std::size_t(s)]);
  }
  const std::string path = (std::filesystem::temp_directory_path() / "elm-nn-lstm-lm-resume.safetensors").string();
  elm::io::save_training_state(path, first, opt_b, opt_b.steps(), first.metadata());
  elm::Rng rng_c(77);
  models::LstmLm<float> resumed({8, 4, 6, 2}, rng_c);
  nn::AdamW<float> opt_c(adamw);
  elm::io::load_training_state(path, resumed, opt_c);
  const auto rest = models::train_lstm_lm(resumed, stream, stop_early, opt_c);
  REQUIRE(rest.losses.size() == 7);
  for (std::size_t k = 0; k < 7; ++k) CHECK(rest.losses[k] == full.losses[k + 5]);
  std::remove(path.c_str());
}

TEST_CASE("A const LstmLm is counted and saved; loading the file restores every parameter", "[nn][lstm_lm][io]") {
  elm::Rng rng_a(8);
  const models::LstmLm<float> trained({9, 3, 5, 2}, rng_a);
  CHECK(nn::count_parameters(trained) == 9 * 3 + (4 * 5 * 3 + 4 * 5 * 5 + 2 * 4 * 5) +
                                             (4 * 5 * 5 + 4 * 5 * 5 + 2 * 4 * 5) + 9 * 5 + 9);
  const std::string path = (std::filesystem::temp_directory_path() / "elm-nn-lstm-lm-const.safetensors").string();
  elm::io::save_parameters(path, trained, trained.metadata());
  elm::Rng rng_b(99);
  models::LstmLm<float> loaded({9, 3, 5, 2}, rng_b);
  CHECK(elm::io::load_parameters(path, loaded).at("architecture") == "elm-lstm-lm");
  std::vector<elm::Matrix<float>> expected, got;
  trained.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { expected.push_back(p.value); });
  loaded.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { got.push_back(p.value); });
  CHECK(got == expected);
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
  models::LstmLmTrainOptions options;
  options.seq_len = 10;
  REQUIRE_THROWS_MATCHES(models::train_lstm_lm(lm, std::vector<Index>{1, 2, 3}, options, opt), elm::InvalidArgument,
                         elm_test::MessageContains("expected at least seq_len + 1 = 11"));
  REQUIRE_THROWS_AS(models::train_lstm_lm(lm, std::vector<Index>(50, 9), options, opt), elm::RangeError);
  elm::Rng sample_rng(1);
  REQUIRE_THROWS_AS(models::lstm_lm_sample(lm, {}, 3, -1, 1.0, sample_rng), elm::InvalidArgument);
  REQUIRE_THROWS_AS(models::lstm_lm_sample(lm, {1}, 3, -1, 0.0, sample_rng), elm::InvalidArgument);
}

TEST_CASE("make_lstm_lm_corpus maps rare words to <unk> and shares <unk>'s mass in perplexity", "[nn][lstm_lm]") {
  // Training counts: a 3, b 2, c 1 (rare at min_count 2). Vocabulary: <unk>, </s>, a, b.
  const auto corpus = models::make_lstm_lm_corpus({"a b a", "a c b"}, {"a c", "d"}, false, 2);
  CHECK(corpus.tokens == std::vector<std::string>{"<unk>", "</s>", "a", "b"});
  CHECK(corpus.unk_types == 2);  // c, plus one for types never seen (d)
  CHECK(corpus.train_stream == std::vector<Index>{1, 2, 3, 2, 1, 2, 0, 3, 1});
  CHECK(corpus.test_sentences == std::vector<std::vector<Index>>{{2, 0}, {0}});
  CHECK(corpus.decode({2, 3, 1, 2}) == "a b");
  const auto chars = models::make_lstm_lm_corpus({"ab a"}, {"ba"}, true, 1);
  CHECK(chars.tokens == std::vector<std::string>{"<unk>", "</s>", "a", " ", "b"});
  CHECK(chars.decode({4, 3, 2}) == "b a");
  // Perplexity: 5 predicted tokens (a, c, </s>, d, </s>), two through <unk>, each charged log 2 more than
  // the model's own log p(<unk>).
  elm::Rng rng(4);
  models::LstmLm<double> lm({4, 2, 3, 1}, rng);
  const auto ppl = models::lstm_lm_perplexity(lm, corpus);
  const auto raw = models::lstm_lm_sentence_log_probs(lm, corpus.test_sentences, 1, 1);
  double total = 0;
  for (const auto& s : raw)
    for (double v : s) total += v;
  CHECK(ppl.tokens == 5);
  CHECK(ppl.unk_tokens == 2);
  CHECK_THAT(ppl.log_prob, Catch::Matchers::WithinAbs(total - 2 * std::log(2.0), 1e-12));
  CHECK_THAT(ppl.perplexity(), Catch::Matchers::WithinRel(std::exp(-(total - 2 * std::log(2.0)) / 5), 1e-12));
  REQUIRE_THROWS_AS(models::make_lstm_lm_corpus({}, {}, false), elm::InvalidArgument);
}
