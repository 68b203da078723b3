// SPDX-License-Identifier: MIT
// The options every training program shares (steps, time budget, AdamW's settings, warmup and decay, clipping,
// accumulation, evaluation and checkpoint intervals, seed, resume), registered on a CLI11 command in one place and
// turned into the trainer's options, so that the programs spell, document and apply them alike.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "elm/core/types.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/schedule.hpp"
#include "elm/train/trainer.hpp"

namespace elm::examples {

/// What a training command is told about the optimisation. Each program sets its own defaults before
/// add_training_options registers them (the help shows them).
struct TrainingArgs {
  std::string out_dir, resume_path, decay = "cosine";
  Index accumulation = 1;
  std::int64_t steps = 2000, warmup = 20, eval_every = 0, checkpoint_every = 0;
  double seconds = 120, lr = 1e-3, min_lr_fraction = 0.1, weight_decay = 0.01, beta2 = 0.999, clip = 1.0;
  std::uint64_t seed = 1;
};

/// Registers the shared options on command c; `outputs` completes --out's help (what the folder receives).
inline void add_training_options(CLI::App* c, TrainingArgs& a, const std::string& outputs) {
  c->add_option("--out", a.out_dir, "Output folder: " + outputs)->capture_default_str();
  c->add_option("--steps", a.steps, "Optimizer steps (the schedule's length)")->capture_default_str();
  c->add_option("--seconds", a.seconds, "Stop after this many seconds of training, the schedule following time "
                                        "(0: run all steps, reproducibly)")->capture_default_str();
  c->add_option("--accumulation", a.accumulation, "Micro-batches per optimizer step")->capture_default_str();
  c->add_option("--lr", a.lr, "Peak AdamW learning rate")->capture_default_str();
  c->add_option("--warmup", a.warmup, "Linear warmup steps (at most --steps - 1)")->capture_default_str();
  c->add_option("--decay", a.decay, "cosine or linear decay after the warmup")
      ->check(CLI::IsMember({"cosine", "linear"}))->capture_default_str();
  c->add_option("--min-lr-fraction", a.min_lr_fraction, "The decay's end, as a fraction of --lr")
      ->capture_default_str();
  c->add_option("--weight-decay", a.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--beta2", a.beta2, "AdamW's second-moment decay")->capture_default_str();
  c->add_option("--clip", a.clip, "Gradient-norm clipping (0: off)")->capture_default_str();
  c->add_option("--eval-every", a.eval_every, "Held-out evaluation every N steps (0: at the end only)")
      ->capture_default_str();
  c->add_option("--checkpoint-every", a.checkpoint_every, "Write training_state.safetensors every N steps (0: at "
                                                          "the end only)")->capture_default_str();
  c->add_option("--resume", a.resume_path, "Continue from a training_state.safetensors of an earlier run with the "
                                           "same data and options");
  c->add_option("--seed", a.seed, "Seed of initialisation, batches and dropout")->capture_default_str();
}

/// AdamW with the told learning rate, beta2 and weight decay (beta1 0.9, epsilon 1e-8).
inline nn::AdamW<float> make_optimizer(const TrainingArgs& a) {
  return nn::AdamW<float>({a.lr, 0.9, a.beta2, 1e-8, a.weight_decay});
}

/// The trainer's options: warmup (at most steps - 1) then the told decay, checkpoints to out_dir (created here)
/// with `metadata` in them.
inline train::TrainerOptions trainer_options(const TrainingArgs& a, std::map<std::string, std::string> metadata) {
  train::TrainerOptions options;
  options.steps = a.steps;
  const std::int64_t warmup = std::min<std::int64_t>(a.warmup, std::max<std::int64_t>(a.steps - 1, 0));
  const double min_lr = a.lr * a.min_lr_fraction;
  options.schedule = a.decay == "linear" ? nn::LrSchedule::warmup_linear(a.lr, warmup, a.steps, min_lr)
                                         : nn::LrSchedule::warmup_cosine(a.lr, warmup, a.steps, min_lr);
  options.accumulation = a.accumulation;
  options.clip_norm = a.clip;
  options.eval_every = a.eval_every;
  options.max_seconds = a.seconds;
  options.seed = a.seed;
  std::filesystem::create_directories(a.out_dir);
  options.checkpoint_path = (std::filesystem::path(a.out_dir) / "training_state.safetensors").string();
  options.checkpoint_every = a.checkpoint_every;
  options.checkpoint_metadata = std::move(metadata);
  return options;
}

/// Resumes the trainer from --resume when given, saying so.
template <typename Trainer>
void resume_if_asked(Trainer& trainer, const TrainingArgs& a) {
  if (a.resume_path.empty()) return;
  trainer.resume(a.resume_path);
  fmt::print("resumed from {} at step {}\n", a.resume_path, trainer.step());
}

}  // namespace elm::examples
