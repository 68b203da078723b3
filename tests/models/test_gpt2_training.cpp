// SPDX-License-Identifier: MIT
// GPT-2 trained with elm::train::Trainer: exact resume, accumulation as one large batch, learning a tiny task,
// held-out perplexity as the exponential of the mean loss (sentence by sentence, in sliding windows past the
// context), fine-tuning a Hugging Face checkpoint with the same loop, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/trainer_helpers.hpp"
#include "elm/core/math.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

namespace models = elm::models;
namespace nn = elm::nn;
namespace train = elm::train;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using elm::Index;
using elm::Matrix;

namespace gpt_train_test {

// A small GPT-2: V = 11, context 8, C = 8, 2 blocks of 2 heads.
models::Gpt2Config tiny_config(double dropout) {
  models::Gpt2Config c;
  c.vocab_size = 11;
  c.n_positions = 8;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = dropout;
  return c;
}

// -log p(x[t + 1] | x[0..t]) from one forward over x[0..t] (at most the context).
double nll(const models::Gpt2<double>& model, const std::vector<Index>& x, Index t) {
  Matrix<double> logits;
  model.forward(std::vector<Index>(x.begin(), x.begin() + t + 1), 1, {}, logits);
  return elm::log_sum_exp(logits.col(t)) - logits(x[std::size_t(t + 1)], t);
}

}  // namespace gpt_train_test

TEST_CASE("GPT-2: a run stopped and resumed from its checkpoint ends with the bits of one that never stopped",
          "[models][gpt2][train][resume]") {
  // 8 steps of 2 micro-batches with dropout everywhere (the trainer's generator shapes every gradient), clipping,
  // warmup and cosine decay; the second run crashes after step 5, its last checkpoint is step 3, and a model,
  // optimizer and source made afresh from other seeds resume from it.
  const auto stream = elm_test::cycle_stream(300, 7, 2);
  const std::string path = (std::filesystem::temp_directory_path() / "elm-gpt2-resume.safetensors").string();
  train::TrainerOptions options;
  options.steps = 8;
  options.schedule = nn::LrSchedule::warmup_cosine(0.01, 2, 8, 0.001);
  options.accumulation = 2;
  options.clip_norm = 0.5;
  options.seed = 42;
  const auto make = [&](std::uint64_t seed) {
    elm::Rng rng(seed);
    return models::Gpt2<float>(gpt_train_test::tiny_config(0.1), rng);
  };

  auto straight = make(5);
  nn::AdamW<float> opt_a({0.01, 0.9, 0.95, 1e-8, 0.1});
  train::TokenWindows data_a(stream, 3, 8, 11);
  train::Trainer trainer_a(straight, opt_a, data_a, train::language_model_step(straight), options);
  const auto full = trainer_a.run();
  REQUIRE(full.losses.size() == 8);

  auto crashed = make(5);
  nn::AdamW<float> opt_b({0.01, 0.9, 0.95, 1e-8, 0.1});
  train::TokenWindows data_b(stream, 3, 8, 11);
  auto with_checkpoints = options;
  with_checkpoints.checkpoint_path = path;
  with_checkpoints.checkpoint_every = 3;
  train::Trainer trainer_b(crashed, opt_b, data_b, train::language_model_step(crashed), with_checkpoints);
  trainer_b.set_progress([](const train::Progress& p) {
    if (p.step == 5) throw elm_test::Stop();
  });
  REQUIRE_THROWS_AS(trainer_b.run(), elm_test::Stop);

  auto resumed = make(99);
  REQUIRE(elm_test::values_of(resumed) != elm_test::values_of(straight));
  nn::AdamW<float> opt_c({0.01, 0.9, 0.95, 1e-8, 0.1});
  train::TokenWindows data_c(stream, 3, 8, 11);
  train::Trainer trainer_c(resumed, opt_c, data_c, train::language_model_step(resumed), with_checkpoints);
  trainer_c.resume(path);
  CHECK(trainer_c.step() == 3);
  const auto rest = trainer_c.run();
  REQUIRE(rest.losses.size() == 5);
  for (std::size_t k = 0; k < 5; ++k) CHECK(rest.losses[k] == full.losses[k + 3]);
  CHECK(elm_test::values_of(resumed) == elm_test::values_of(straight));  // bit for bit
  CHECK(opt_c.steps() == opt_a.steps());
  CHECK(trainer_c.rng().next_u64() == trainer_a.rng().next_u64());
  std::remove(path.c_str());
}

TEST_CASE("GPT-2: two accumulated micro-batches step as one batch of twice the size", "[models][gpt2][train]") {
  // Micro-batches of 2 windows each (one of them shorter: padding on the right) against one batch of their 4
  // windows; AdamW, one step, double precision. The step's gradient is the mean over all targets either way.
  train::TokenWindows windows(elm_test::cycle_stream(200, 5, 3), 2, 6, 7);
  auto first = windows.batch(0), second = windows.batch(1);
  second.lengths[1] = 4;  // the last two positions of the last window are padding
  second.targets[10] = second.targets[11] = train::ignore_target;
  second.tokens = 10;
  train::TokenBatch both;
  both.batch_size = 4;
  both.seq_len = 6;
  for (const auto* b : {&first, &second}) {
    both.inputs.insert(both.inputs.end(), b->inputs.begin(), b->inputs.end());
    both.targets.insert(both.targets.end(), b->targets.begin(), b->targets.end());
    both.lengths.insert(both.lengths.end(), b->lengths.begin(), b->lengths.end());
  }
  both.tokens = 22;

  elm::Rng rng_a(3), rng_b(3), rng_c(3);
  const auto config = gpt_train_test::tiny_config(0.0);
  models::Gpt2<double> split(config, rng_a), whole(config, rng_b);
  const models::Gpt2<double> untrained(config, rng_c);
  nn::AdamW<double> opt_a({0.01, 0.9, 0.999, 1e-8, 0.01}), opt_b({0.01, 0.9, 0.999, 1e-8, 0.01});
  elm_test::ListSource micro{{first, second}}, one{{both}};
  train::TrainerOptions options;
  options.steps = 1;
  options.schedule = nn::LrSchedule::constant(0.01);
  options.clip_norm = 1.0;
  auto accumulated = options;
  accumulated.accumulation = 2;
  train::Trainer a(split, opt_a, micro, train::language_model_step(split), accumulated);
  train::Trainer b(whole, opt_b, one, train::language_model_step(whole), options);
  const auto ra = a.run();
  const auto rb = b.run();
  CHECK(ra.tokens == 22);
  CHECK_THAT(ra.losses[0], WithinRel(rb.losses[0], 1e-12));
  CHECK_THAT(ra.losses[0], WithinRel(untrained.loss(both.inputs, both.lengths, both.targets) / 22.0, 1e-12));
  const auto got = elm_test::values_of(split), expected = elm_test::values_of(whole);
  const auto before = elm_test::values_of(untrained);
  for (std::size_t k = 0; k < got.size(); ++k) {
    CHECK((got[k] - expected[k]).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((got[k] - before[k]).cwiseAbs().maxCoeff() > 1e-4);  // every parameter moved (AdamW: by about lr)
  }
}

TEST_CASE("GPT-2 learns a tiny task through the trainer: the loss falls and the held-out perplexity nears 1",
          "[models][gpt2][train]") {
  // A period-5 stream: after a few tokens of context every next token is certain.
  elm::Rng rng(1);
  models::Gpt2<float> model(gpt_train_test::tiny_config(0.0), rng);
  nn::AdamW<float> adamw({0.0, 0.9, 0.99, 1e-8, 0.0});
  train::TokenWindows data(elm_test::cycle_stream(500, 5, 1), 8, 8, 1);
  train::TrainerOptions options;
  options.steps = 150;
  options.schedule = nn::LrSchedule::warmup_cosine(0.02, 10, 150, 0.002);
  options.clip_norm = 1.0;
  options.eval_every = 50;
  train::Trainer trainer(model, adamw, data, train::language_model_step(model), options);
  trainer.set_evaluation(train::consecutive_windows(elm_test::cycle_stream(41, 5, 1), 2, 8),
                         train::language_model_eval(model));
  const auto result = trainer.run();
  REQUIRE(result.evaluations.size() == 3);
  INFO("first loss " << result.losses.front() << ", last " << result.losses.back());
  CHECK(result.losses.front() > std::log(5.0));  // no better than a uniform guess among the five at first
  CHECK(result.losses.back() < 0.1 * result.losses.front());
  CHECK(result.evaluations[2].loss < result.evaluations[0].loss);
  CHECK(result.evaluations.back().perplexity() < 1.25);
}

TEST_CASE("GPT-2's held-out perplexity is the exponential of its mean loss", "[models][gpt2][train][eval]") {
  elm::Rng rng(4);
  models::Gpt2<double> model(gpt_train_test::tiny_config(0.0), rng);

  SECTION("the trainer's evaluation over windows") {
    const auto held_out = elm_test::cycle_stream(20, 7, 1);  // 19 targets: windows of 8, 8 and 3
    const auto batches = train::consecutive_windows(held_out, 2, 8);
    double total = 0.0;
    for (const Index start : {0, 8, 16}) {
      const std::vector<Index> x(held_out.begin() + start, held_out.begin() + std::min<Index>(start + 9, 20));
      for (Index t = 0; t + 1 < Index(x.size()); ++t) total += gpt_train_test::nll(model, x, t);
    }
    nn::Sgd<double> sgd({0.0});
    train::TokenWindows data(held_out, 1, 4);
    train::Trainer trainer(model, sgd, data, train::language_model_step(model));
    trainer.set_evaluation(batches, train::language_model_eval(model));
    const auto e = trainer.evaluate();
    CHECK(e.tokens == 19);
    CHECK_THAT(e.loss, WithinRel(total / 19.0, 1e-12));
    CHECK_THAT(e.perplexity(), WithinRel(std::exp(total / 19.0), 1e-12));
  }

  SECTION("sentences scored one by one from the boundary, <unk> sharing its mass") {
    // boundary 10, <unk> 0 standing for 3 types; the sentences fit the context ("b s b": at most 8 tokens)
    const std::vector<std::vector<Index>> sentences{{1, 2, 3}, {4, 0, 5, 6, 7, 8}, {9}};
    const auto ppl = models::gpt2_perplexity(model, sentences, 10, 0, 3, /*batch_size=*/2);
    double log_prob = 0.0;
    for (const auto& s : sentences) {
      std::vector<Index> x{10};
      x.insert(x.end(), s.begin(), s.end());
      x.push_back(10);
      for (Index t = 0; t + 1 < Index(x.size()); ++t) log_prob -= gpt_train_test::nll(model, x, t);
    }
    CHECK(ppl.tokens == 3 + 1 + 6 + 1 + 1 + 1);
    CHECK(ppl.unk_tokens == 1);
    CHECK_THAT(ppl.log_prob, WithinRel(log_prob - std::log(3.0), 1e-12));
    CHECK_THAT(ppl.perplexity(), WithinRel(std::exp(-(log_prob - std::log(3.0)) / 13.0), 1e-12));
  }

  SECTION("sequences longer than the context, in sliding windows") {
    // 30 tokens, context 8: each token is scored once, from a forward over a window that holds it and at least
    // P - stride tokens before it (all of them in the first window).
    std::vector<Index> x;
    elm::Rng draw(9);
    for (int i = 0; i < 30; ++i) x.push_back(Index(draw.below(11)));
    for (const Index stride : {Index(1), Index(3), Index(4), Index(7)}) {
      const auto scores = models::gpt2_sequence_log_probs(model, {x, {x.begin(), x.begin() + 5}}, 3, stride);
      REQUIRE(scores[0].size() == 29);
      REQUIRE(scores[1].size() == 4);
      for (Index j = 1; j < 30; ++j) {  // target j
        bool found = false;
        const Index min_context = j < 8 ? j : 8 - stride;
        for (Index begin = std::max<Index>(0, j - 7); begin <= j - min_context && !found; ++begin) {
          const std::vector<Index> w(x.begin() + begin, x.begin() + std::min<Index>(begin + 8, 30));
          found = std::abs(-gpt_train_test::nll(model, w, j - 1 - begin) - scores[0][std::size_t(j - 1)]) < 1e-12;
        }
        INFO("stride " << stride << ", target " << j);
        CHECK(found);
      }
      for (Index j = 1; j < 5; ++j)
        CHECK_THAT(scores[1][std::size_t(j - 1)], WithinAbs(-gpt_train_test::nll(model, x, j - 1), 1e-12));

    }
  }
}

TEST_CASE("GPT-2 loaded from a Hugging Face directory fine-tunes with the same loop", "[models][gpt2][train]") {
  // The transformers-made tiny checkpoint (V = 40, context 24) learns a stream it has never seen; its dropouts
  // (0.1, from config.json) draw from the trainer's generator.
  auto model = elm::io::load_gpt2_hf<float>(std::string(ELM_TEST_DATA_DIR) + "/gpt2/tiny");
  const std::vector<std::vector<Index>> held_out{{3, 14, 15, 9, 26}, {5, 35, 8, 9, 7, 9, 3}};
  std::vector<Index> stream;
  for (int r = 0; r < 40; ++r)
    for (const auto& s : held_out) {
      stream.push_back(0);
      stream.insert(stream.end(), s.begin(), s.end());
    }
  const double before = models::gpt2_perplexity(model, held_out, 0, -1, 1).perplexity();
  nn::AdamW<float> adamw({0.0, 0.9, 0.999, 1e-8, 0.01});
  train::TokenWindows data(stream, 4, 16, 3);
  train::TrainerOptions options;
  options.steps = 100;
  options.schedule = nn::LrSchedule::warmup_cosine(0.01, 5, 100, 0.001);
  options.clip_norm = 1.0;
  train::Trainer trainer(model, adamw, data, train::language_model_step(model), options);
  trainer.set_evaluation([&] {
    const auto p = models::gpt2_perplexity(model, held_out, 0, -1, 1);
    return train::Loss{-p.log_prob, p.tokens};
  });
  const auto result = trainer.run();
  const double after = models::gpt2_perplexity(model, held_out, 0, -1, 1).perplexity();
  INFO("held-out perplexity " << before << " -> " << after);
  CHECK(before > 20.0);  // random weights: about V = 40
  CHECK(after < 4.0);
  CHECK_THAT(result.evaluations.back().perplexity(), WithinRel(after, 1e-9));
  CHECK(result.losses.back() < 0.4 * result.losses.front());
}

TEST_CASE("GPT-2's losses and scorers refuse inputs that do not fit", "[models][gpt2][train][bad-input]") {
  elm::Rng rng(2);
  models::Gpt2<float> model(gpt_train_test::tiny_config(0.0), rng);
  const std::vector<Index> ids{1, 2, 3, 4, 5, 6}, targets{2, 3, 4, 5, 6, -100};
  CHECK(model.loss(ids, {3, 2}, targets) > 0.0);
  REQUIRE_THROWS_WITH(model.loss(ids, {6, 6, 6, 6}, targets), Contains("expected B = lengths.size() > 0"));
  REQUIRE_THROWS_WITH(model.loss(ids, {3, 3}, {2, 3, 4}), Contains("got 3 targets for 6 token ids"));
  REQUIRE_THROWS_WITH(model.loss(ids, {3, 4}, targets), Contains("lengths[1] = 4, expected 0 <= length <= T = 3"));
  REQUIRE_THROWS_WITH(model.loss(ids, {3, 1}, targets), Contains("position 1 of sequence 1 is padding (length 1) "
                                                                 "but has target 6, expected -100"));
  REQUIRE_THROWS_AS(model.loss(std::vector<Index>(9, 1), {9}, std::vector<Index>(9, 1)), elm::RangeError);  // T > 8
  REQUIRE_THROWS_AS(model.loss_and_backward({1, 11}, {2}, {11, -100}), elm::RangeError);               // id >= V
  REQUIRE_THROWS_WITH(models::gpt2_sequence_log_probs(model, {{1, 2}, {3}}), Contains("sequence 1 has 1 tokens"));
  REQUIRE_THROWS_WITH(models::gpt2_sequence_log_probs(model, {{1, 2}}, 4, 8), Contains("expected 0 <= stride < "
                                                                                       "n_positions = 8, got 8"));
  REQUIRE_THROWS_WITH(models::gpt2_perplexity(model, {{1, 2}}, 1, 0, 0), Contains("expected unk_types >= 1"));
  REQUIRE_THROWS_AS(models::gpt2_perplexity(model, {{1, 2}}, 11, 0, 1), elm::RangeError);
}
