// SPDX-License-Identifier: MIT
// Trainer: exact resume (parameters, optimizer state, generator, data position), gradient accumulation as one
// large batch, the schedule and clipping as applied, periodic evaluation, atomic checkpoints, bad input.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/trainer_helpers.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

namespace nn = elm::nn;
namespace models = elm::models;
namespace train = elm::train;
namespace fs = std::filesystem;
using elm::Index;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using elm_test::cycle_stream;
using elm_test::ListSource;
using elm_test::Stop;
using elm_test::values_of;

namespace {

std::string temp_path(const std::string& leaf) { return (fs::temp_directory_path() / ("elm-train-" + leaf)).string(); }

// A step that replaces each input token by id 0 with probability 0.25, drawn from the training context's
// generator (word dropout): the trainer's generator then shapes the gradients, so a resume must restore it.
template <typename Scalar>
auto word_dropout_step(models::LstmLm<Scalar>& lm) {
  return [&lm](const train::TokenBatch& b, const nn::ForwardContext& context) {
    auto inputs = b.inputs;
    elm::Rng& rng = context.require_rng("word_dropout_step");
    for (auto& id : inputs)
      if (rng.bernoulli(0.25)) id = 0;
    return train::Loss{lm.loss_and_backward(inputs, b.lengths, b.targets, context), b.tokens};
  };
}

template <typename Optimizer>
std::vector<elm::Matrix<float>> state_of(Optimizer& opt) {
  std::vector<elm::Matrix<float>> out;
  opt.for_each_state([&](const std::string&, const elm::Matrix<float>& m) { out.push_back(m); });
  return out;
}

// A small language model, AdamW and windows of a periodic stream: the setting of most cases.
template <typename Scalar>
struct Setup {
  elm::Rng rng;
  models::LstmLm<Scalar> lm;
  nn::AdamW<Scalar> adamw;
  train::TokenWindows data;
  Setup(const models::LstmLmConfig& config, std::uint64_t seed, Index stream_length, Index batch_size, Index seq_len)
      : rng(seed), lm(config, rng), data(cycle_stream(stream_length, 5), batch_size, seq_len, 1) {}
};

// 10 steps of 2 micro-batches with word dropout and clipping, straight; then the same run stopped by a crash
// after step 6 (its last checkpoint: step 4) and resumed in a model, optimizer and source made afresh from other
// seeds. Both must end with the same bits.
template <typename Optimizer>
void check_exact_resume(const Optimizer& fresh_optimizer) {
  const auto stream = cycle_stream(200, 7);
  const std::string path = temp_path("resume.safetensors");
  train::TrainerOptions options;
  options.steps = 10;
  options.schedule = nn::LrSchedule::warmup_cosine(0.01, 3, 10, 0.001);
  options.accumulation = 2;
  options.clip_norm = 0.5;
  options.seed = 42;

  elm::Rng rng_a(5);
  models::LstmLm<float> straight({8, 4, 6, 2}, rng_a);
  Optimizer opt_a = fresh_optimizer;
  train::TokenWindows data_a(stream, 3, 5, 11);
  train::Trainer trainer_a(straight, opt_a, data_a, word_dropout_step(straight), options);
  const auto full = trainer_a.run();
  REQUIRE(full.losses.size() == 10);

  elm::Rng rng_b(5);
  models::LstmLm<float> crashed({8, 4, 6, 2}, rng_b);
  Optimizer opt_b = fresh_optimizer;
  train::TokenWindows data_b(stream, 3, 5, 11);
  auto with_checkpoints = options;
  with_checkpoints.checkpoint_path = path;
  with_checkpoints.checkpoint_every = 4;
  train::Trainer trainer_b(crashed, opt_b, data_b, word_dropout_step(crashed), with_checkpoints);
  trainer_b.set_progress([](const train::Progress& p) {
    if (p.step == 6) throw Stop();
  });
  REQUIRE_THROWS_AS(trainer_b.run(), Stop);

  elm::Rng rng_c(99);
  models::LstmLm<float> resumed({8, 4, 6, 2}, rng_c);
  Optimizer opt_c = fresh_optimizer;
  train::TokenWindows data_c(stream, 3, 5, 11);
  train::Trainer trainer_c(resumed, opt_c, data_c, word_dropout_step(resumed), with_checkpoints);
  trainer_c.resume(path);
  CHECK(trainer_c.step() == 4);
  CHECK(data_c.position() == 8);  // 4 steps of 2 micro-batches
  const auto rest = trainer_c.run();
  REQUIRE(rest.losses.size() == 6);
  CHECK(rest.first_step == 4);
  for (std::size_t k = 0; k < 6; ++k) CHECK(rest.losses[k] == full.losses[k + 4]);
  CHECK(values_of(resumed) == values_of(straight));  // bit for bit
  CHECK(state_of(opt_c) == state_of(opt_a));
  CHECK(opt_c.steps() == opt_a.steps());
  CHECK(trainer_c.rng().next_u64() == trainer_a.rng().next_u64());
  std::remove(path.c_str());
}

}  // namespace

TEST_CASE("A run stopped and resumed from its checkpoint ends with the bits of one that never stopped",
          "[train][trainer][resume]") {
  SECTION("AdamW") { check_exact_resume(nn::AdamW<float>({0.01, 0.9, 0.999, 1e-8, 0.01})); }
  SECTION("SGD with Nesterov momentum") {
    nn::SgdOptions sgd;
    sgd.lr = 0.01;
    sgd.momentum = 0.9;
    sgd.nesterov = true;
    check_exact_resume(nn::Sgd<float>(sgd));
  }
}

TEST_CASE("Accumulated micro-batches step as one batch of all their tokens", "[train][trainer]") {
  // Micro-batches of 2 full windows and of 1 window of 3 tokens: their accumulated step must be the step of the
  // 3-window batch, the mean over its 11 tokens (not the mean of the two micro-batches' means).
  const std::vector<Index> stream{1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3};
  auto two = train::consecutive_windows(std::vector<Index>(stream.begin(), stream.begin() + 9), 2, 4)[0];
  auto one = train::consecutive_windows(std::vector<Index>(stream.begin() + 8, stream.end()), 1, 4)[0];
  REQUIRE(two.tokens == 8);
  REQUIRE(one.tokens == 4);
  one.lengths[0] = 3;  // the last target becomes padding: 3 tokens
  one.targets[3] = train::ignore_target;
  one.tokens = 3;
  train::TokenBatch all;
  all.batch_size = 3;
  all.seq_len = 4;
  all.inputs = two.inputs;
  all.inputs.insert(all.inputs.end(), one.inputs.begin(), one.inputs.end());
  all.targets = two.targets;
  all.targets.insert(all.targets.end(), one.targets.begin(), one.targets.end());
  all.lengths = {4, 4, 3};
  all.tokens = 11;

  train::TrainerOptions options;
  options.steps = 1;
  options.schedule = nn::LrSchedule::constant(0.5);
  elm::Rng rng_a(3), rng_b(3);
  models::LstmLm<double> split_lm({6, 3, 4, 1}, rng_a), whole_lm({6, 3, 4, 1}, rng_b);
  const auto before = values_of(split_lm);
  nn::Sgd<double> opt_a({0.5}), opt_b({0.5});
  ListSource micro{{two, one}}, whole{{all}};
  auto accumulated = options;
  accumulated.accumulation = 2;
  train::Trainer a(split_lm, opt_a, micro, train::language_model_step(split_lm), accumulated);
  train::Trainer b(whole_lm, opt_b, whole, train::language_model_step(whole_lm), options);
  const auto ra = a.run();
  const auto rb = b.run();
  CHECK(micro.position() == 2);
  CHECK(ra.tokens == 11);
  CHECK_THAT(ra.losses[0], WithinRel(rb.losses[0], 1e-12));
  elm::Rng rng_c(3);
  const models::LstmLm<double> untrained({6, 3, 4, 1}, rng_c);
  CHECK_THAT(ra.losses[0], WithinRel(untrained.loss(all.inputs, all.lengths, all.targets) / 11.0, 1e-12));
  const auto got = values_of(split_lm), expected = values_of(whole_lm);
  for (std::size_t k = 0; k < got.size(); ++k) {
    CHECK((got[k] - expected[k]).cwiseAbs().maxCoeff() < 1e-13);
    CHECK((got[k] - before[k]).cwiseAbs().maxCoeff() > 0.0);  // every parameter moved
  }
}

TEST_CASE("Each step runs at the schedule's rate, clipped, and reports it", "[train][trainer]") {
  // Plain SGD: the update is -lr * clipped mean gradient, so its norm is lr * clip_norm whenever the gradient's
  // norm exceeds clip_norm (torch's clip_grad_norm_ scales by clip / (norm + 1e-6)).
  elm::Rng rng(8);
  models::LstmLm<double> lm({7, 3, 5, 1}, rng);
  nn::Sgd<double> sgd({1.0});
  train::TokenWindows data(cycle_stream(100, 7), 2, 6, 3);
  train::TrainerOptions options;
  options.steps = 6;
  options.schedule = nn::LrSchedule::warmup_linear(0.2, 2, 6, 0.02);
  options.clip_norm = 1e-3;
  train::Trainer trainer(lm, sgd, data, train::language_model_step(lm), options);
  std::vector<train::Progress> seen;
  auto previous = values_of(lm);
  trainer.set_progress([&](const train::Progress& p) {
    seen.push_back(p);
    const auto now = values_of(lm);
    double squared = 0.0;
    for (std::size_t k = 0; k < now.size(); ++k) squared += (now[k] - previous[k]).squaredNorm();
    previous = now;
    INFO("step " << p.step);
    CHECK(p.grad_norm > options.clip_norm);
    CHECK_THAT(std::sqrt(squared), WithinRel(p.lr * options.clip_norm * p.grad_norm / (p.grad_norm + 1e-6), 1e-9));
  });
  const auto result = trainer.run();
  REQUIRE(seen.size() == 6);
  for (std::size_t k = 0; k < 6; ++k) {
    CHECK(seen[k].step == std::int64_t(k) + 1);
    CHECK(seen[k].steps == 6);
    CHECK(seen[k].lr == options.schedule(std::int64_t(k)));
    CHECK(seen[k].tokens == 12 * (std::int64_t(k) + 1));
    CHECK(seen[k].loss == result.losses[k]);
    CHECK(seen[k].fraction == double(k + 1) / 6.0);
    CHECK_FALSE(seen[k].eval_loss.has_value());
  }
  CHECK(sgd.lr() == options.schedule(5));
}

TEST_CASE("Periodic evaluation scores every held-out token with an inference forward", "[train][trainer][eval]") {
  Setup<double> setup({6, 3, 4, 1}, 2, 60, 2, 5);
  auto& lm = setup.lm;
  train::TrainerOptions options;
  options.steps = 7;
  options.eval_every = 3;
  train::Trainer trainer(lm, setup.adamw, setup.data, train::language_model_step(lm), options);
  const std::vector<Index> held_out{5, 0, 1, 2, 3, 4, 5, 0, 1};  // 8 targets: windows of 4 and 4
  trainer.set_evaluation(train::consecutive_windows(held_out, 1, 4), train::language_model_eval(lm));
  std::vector<std::int64_t> evaluated_at;
  trainer.set_progress([&](const train::Progress& p) {
    if (p.eval_loss) evaluated_at.push_back(p.step);
  });
  const auto result = trainer.run();
  CHECK(evaluated_at == std::vector<std::int64_t>{3, 6, 7});  // every 3 steps, and at the end
  REQUIRE(result.evaluations.size() == 3);
  CHECK(result.evaluations.back().step == 7);
  CHECK(result.evaluations.back().tokens == 8);
  // The mean of -log p(target) over the 8 targets, each window from a zero state, written out.
  double total = 0.0;
  for (Index w = 0; w < 2; ++w) {
    const std::vector<Index> ids(held_out.begin() + 4 * w, held_out.begin() + 4 * w + 4);
    elm::Matrix<double> logits;
    lm.forward(ids, {4}, logits);
    for (Index t = 0; t < 4; ++t)
      total += elm::log_sum_exp(logits.col(t)) - logits(held_out[std::size_t(4 * w + t + 1)], t);
  }
  CHECK_THAT(result.evaluations.back().loss, WithinAbs(total / 8.0, 1e-12));
  CHECK_THAT(result.evaluations.back().perplexity(), WithinRel(std::exp(total / 8.0), 1e-12));
  CHECK(trainer.evaluate().loss == result.evaluations.back().loss);  // evaluation changes nothing
  CHECK(trainer.evaluate().seconds == 0.0);  // not taken by run()
  CHECK(result.evaluations[1].seconds >= result.evaluations[0].seconds);

  // The same windows scored by an evaluation that holds its own data: the same summed loss and count.
  const auto batches = train::consecutive_windows(held_out, 1, 4);
  trainer.set_evaluation([&] {
    train::Loss sum;
    for (const auto& b : batches) sum += train::Loss{lm.loss(b.inputs, b.lengths, b.targets), b.tokens};
    return sum;
  });
  CHECK(trainer.evaluate().tokens == 8);
  CHECK(trainer.evaluate().loss == result.evaluations.back().loss);
  REQUIRE_THROWS_WITH(trainer.set_evaluation(std::function<train::Loss()>{}),
                      Contains("expected an evaluation function"));
}

TEST_CASE("A checkpoint is one file written atomically, with the trainer's metadata", "[train][trainer][io]") {
  const fs::path dir = fs::temp_directory_path() / "elm-train-checkpoints";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "state.safetensors").string();
  Setup<float> setup({5, 2, 3, 1}, 1, 40, 2, 4);
  auto& lm = setup.lm;
  train::TrainerOptions options;
  options.steps = 5;
  options.accumulation = 3;
  options.checkpoint_path = path;
  options.checkpoint_every = 2;
  options.checkpoint_metadata = lm.metadata();
  train::Trainer trainer(lm, setup.adamw, setup.data, train::language_model_step(lm), options);
  std::vector<std::string> steps_on_disk;
  trainer.set_progress([&](const train::Progress&) {
    if (fs::exists(path)) steps_on_disk.push_back(elm::io::SafetensorsReader(path).metadata().at("step"));
  });
  trainer.run();
  CHECK(steps_on_disk == std::vector<std::string>{"2", "2", "4", "4"});  // after steps 2 and 4; then 5 at the end
  const elm::io::SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  CHECK(meta.at("step") == "5");
  CHECK(meta.at("format") == "elm-training-state");
  CHECK(meta.at("architecture") == "elm-lstm-lm");
  CHECK(meta.at("trainer.data_position") == "15");
  CHECK(meta.at("trainer.accumulation") == "3");
  CHECK(reader.contains("embedding.weight"));
  CHECK(reader.contains("optimizer.exp_avg.head.weight"));
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    INFO(entry.path().string());
    CHECK(entry.path().filename() == "state.safetensors");  // no temporary file left behind
    ++files;
  }
  CHECK(files == 1);
  fs::remove_all(dir);
}

TEST_CASE("Trainer rejects bad options, foreign checkpoints and diverging steps", "[train][trainer][bad-input]") {
  Setup<float> setup({5, 2, 3, 1}, 1, 40, 2, 4);
  auto& lm = setup.lm;
  auto& adamw = setup.adamw;
  auto& data = setup.data;
  const auto step = train::language_model_step(lm);
  const auto with = [](auto change) {
    train::TrainerOptions o;
    change(o);
    return o;
  };
  using Trainer = train::Trainer<models::LstmLm<float>, nn::AdamW<float>, train::TokenWindows>;
  REQUIRE_THROWS_WITH(Trainer(lm, adamw, data, step, with([](auto& o) { o.steps = 0; })), Contains("expected steps > 0"));
  REQUIRE_THROWS_WITH(Trainer(lm, adamw, data, step, with([](auto& o) { o.accumulation = 0; })),
                      Contains("expected accumulation >= 1"));
  REQUIRE_THROWS_AS(Trainer(lm, adamw, data, step, with([](auto& o) { o.clip_norm = -1; })), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(Trainer(lm, adamw, data, step, with([](auto& o) { o.checkpoint_every = 3; })),
                      Contains("needs a checkpoint_path"));
  REQUIRE_THROWS_AS(Trainer(lm, adamw, data, nullptr), elm::InvalidArgument);
  Trainer trainer(lm, adamw, data, step);
  REQUIRE_THROWS_WITH(trainer.evaluate(), Contains("call set_evaluation first"));

  // Checkpoints: missing, not a trainer's, another accumulation, a corrupt generator. Nothing changes.
  const auto before = values_of(lm);
  REQUIRE_THROWS_AS(trainer.resume(temp_path("missing.safetensors")), elm::IoError);
  const std::string path = temp_path("foreign.safetensors");
  elm::io::save_parameters(path, lm);
  REQUIRE_THROWS_WITH(trainer.resume(path), Contains("lacks the 'trainer.rng_state' metadata"));
  REQUIRE_THROWS_AS(trainer.resume(path), elm::FormatError);
  Trainer other(lm, adamw, data, step, with([&](auto& o) {
                  o.steps = 2;
                  o.accumulation = 2;
                  o.checkpoint_path = path;
                }));
  other.run();
  const auto trained = values_of(lm);
  REQUIRE_THROWS_WITH(trainer.resume(path), Contains("was written with accumulation = 2, expected this trainer's 1"));
  {
    const auto meta = elm::io::SafetensorsReader(path).metadata();  // a copy: the file is rewritten below
    elm::io::SafetensorsWriter writer;
    for (const auto& [key, value] : meta) writer.set_metadata(key, value);
    writer.set_metadata("trainer.rng_state", "12 34");
    lm.for_each_parameter("", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
    writer.save(path);
  }
  REQUIRE_THROWS_WITH(trainer.resume(path), Contains("expected six hexadecimal numbers"));
  REQUIRE_THROWS_AS(trainer.resume(path), elm::FormatError);
  CHECK(values_of(lm) == trained);
  CHECK(trainer.step() == 0);
  CHECK(trained != before);
  std::remove(path.c_str());

  // Steps: no items to average over; a loss that is not finite.
  train::Trainer empty(lm, adamw, data, [](const train::TokenBatch&, const nn::ForwardContext&) { return train::Loss{}; });
  REQUIRE_THROWS_WITH(empty.run(), Contains("reported 0 items"));
  train::Trainer diverging(lm, adamw, data, [](const train::TokenBatch&, const nn::ForwardContext&) {
    return train::Loss{std::nan(""), 1};
  });
  REQUIRE_THROWS_AS(diverging.run(), elm::NumericalError);

  // A time budget already spent: no step runs.
  train::TokenWindows fresh(cycle_stream(40, 5), 2, 4, 1);
  Trainer timed(lm, adamw, fresh, step, with([](auto& o) { o.max_seconds = 1e-12; }));
  const auto result = timed.run();
  CHECK(result.out_of_time);
  CHECK(result.losses.empty());
  CHECK(fresh.position() == 0);
}

TEST_CASE("A time budget on the CPU clock counts the process's work, not the time it waits",
          "[train][trainer][clock]") {
  // Steps that wait 20 ms each without working: on the wall clock a budget of 100 ms ends the run after about
  // five of them; on the CPU clock the waits do not count, and all 12 steps run.
  Setup<float> setup({5, 2, 3, 1}, 1, 40, 2, 4);
  auto& lm = setup.lm;
  const auto inner = train::language_model_step(lm);
  const auto waiting = [&](const train::TokenBatch& batch, const nn::ForwardContext& context) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return inner(batch, context);
  };
  for (const auto clock : {train::TrainingClock::wall, train::TrainingClock::cpu}) {
    const bool cpu = clock == train::TrainingClock::cpu;
    INFO((cpu ? "cpu" : "wall"));
    train::TrainerOptions options;
    options.steps = 12;
    options.max_seconds = 0.1;
    options.clock = clock;
    train::TokenWindows data(cycle_stream(40, 5), 2, 4, 1);
    train::Trainer trainer(lm, setup.adamw, data, waiting, options);
    std::vector<train::Progress> seen;
    trainer.set_progress([&](const train::Progress& p) { seen.push_back(p); });
    const auto wall0 = std::chrono::steady_clock::now();
    const auto result = trainer.run();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    CHECK(result.out_of_time == !cpu);
    CHECK(result.losses.size() == (cpu ? 12u : std::size_t(result.steps_done)));
    if (!cpu) CHECK(result.losses.size() < 12u);
    CHECK(wall >= 0.02 * double(result.losses.size()));
    if (cpu) {
      CHECK(result.seconds < 0.1);  // the CPU time of 12 small steps, far below their 240 ms of waiting
      CHECK(result.seconds < wall);
    } else {
      CHECK(result.seconds >= 0.1);
    }
    REQUIRE(!seen.empty());
    CHECK(seen.back().seconds <= result.seconds);
  }
}

TEST_CASE("Evaluations every N seconds of training, which neither the time budget nor tokens/s count",
          "[train][trainer][eval]") {
  // An evaluation that takes 60 ms, every 40 ms of training, in a budget of 200 ms of training: about five
  // evaluations, whose time is left out of the budget (the run's wall time is the sum of both).
  Setup<float> setup({5, 2, 3, 1}, 1, 40, 2, 4);
  auto& lm = setup.lm;
  train::TrainerOptions options;
  options.steps = 1000000;
  options.max_seconds = 0.2;
  options.eval_every_seconds = 0.04;
  train::Trainer trainer(lm, setup.adamw, setup.data, train::language_model_step(lm), options);
  int calls = 0;
  trainer.set_evaluation([&] {
    ++calls;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
    while (std::chrono::steady_clock::now() < until) {
    }
    return train::Loss{3.0, 2};
  });
  std::vector<train::Progress> seen;
  trainer.set_progress([&](const train::Progress& p) { seen.push_back(p); });
  const auto result = trainer.run();
  CHECK(result.out_of_time);
  const double training = result.seconds - result.eval_seconds;
  CHECK(training >= 0.2);
  CHECK(result.eval_seconds >= 0.06 * double(calls));
  REQUIRE(result.evaluations.size() == std::size_t(calls));
  CHECK(calls >= 3);  // ~5 periodic and one at the end
  for (std::size_t k = 0; k < result.evaluations.size(); ++k) {
    CHECK(result.evaluations[k].loss == 1.5);
    CHECK(result.evaluations[k].seconds <= training);
    if (k > 0 && k + 1 < result.evaluations.size())  // periodic ones: at least the period apart
      CHECK(result.evaluations[k].seconds - result.evaluations[k - 1].seconds >= 0.04);
  }
  REQUIRE(!seen.empty());
  const auto& last = seen.back();
  CHECK(last.training_seconds <= last.seconds - 0.06 * double(calls - 1));
  CHECK_THAT(last.tokens_per_second, WithinRel(double(last.tokens) / last.training_seconds, 1e-12));
  CHECK(last.fraction <= 1.0);
}
