// SPDX-License-Identifier: MIT
// elm-gpt train: trains a GPT-2 from scratch on a bundled task (or fine-tunes a Hugging Face checkpoint) with
// elm::train::Trainer, and writes a model directory that io::load_gpt2_hf and transformers read.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../common/austen.hpp"
#include "../common/data_parallel.hpp"
#include "../common/training_options.hpp"
#include "../common/training_report.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
#include "command.hpp"
#include "task.hpp"

namespace elm::examples::gpt {

/// A model with the sizes and dropouts of `config` and the parameters of `loaded` (a checkpoint read with its
/// own dropouts, trained with others).
template <typename Scalar>
models::Gpt2<Scalar> with_config(const models::Gpt2<Scalar>& loaded, const models::Gpt2Config& config) {
  models::Gpt2<Scalar> model(config);
  std::vector<const nn::Parameter<Scalar>*> from;
  loaded.for_each_parameter("", [&](const std::string&, const nn::Parameter<Scalar>& p) { from.push_back(&p); });
  std::size_t k = 0;
  model.for_each_parameter("", [&](const std::string&, nn::Parameter<Scalar>& p) { p.value = from[k++]->value; });
  return model;
}

/// The held-out perplexity of a model on a task's first `units` held-out units (0: all), each scored on its own
/// from the boundary; the windows run in batches of about 16 M logits.
template <typename Scalar>
models::SentencePerplexity task_perplexity(const models::Gpt2<Scalar>& model, const Task& task, std::size_t units = 0) {
  const auto& c = model.config();
  const Index batch = std::clamp<Index>((Index(1) << 24) / (c.n_positions * c.vocab_size), 1, 32);
  if (units == 0 || units >= task.held_out.size())
    return models::gpt2_perplexity(model, task.held_out, task.boundary_id, task.unk_id, task.unk_types, batch);
  const std::vector<std::vector<Index>> some(task.held_out.begin(), task.held_out.begin() + std::ptrdiff_t(units));
  return models::gpt2_perplexity(model, some, task.boundary_id, task.unk_id, task.unk_types, batch);
}

/// What `train` is told.
struct TrainArgs {
  std::string program;  ///< argv[0], where the bundled data is found from
  std::string task = "austen", data_dir, bpe_dir, init_dir;
  TrainingArgs training;  ///< steps, AdamW, schedule, intervals, seed, --out, --resume (defaults in add_train_command)
  models::Gpt2Config config;
  double dropout = 0.0;
  Index batch_size = 16;
  double eval_every_seconds = 0, temperature = 0.8;
  std::size_t eval_units = 500;
  std::uint64_t sample_seed = 7;
  int samples = 3;
  Index sample_tokens = 0, top_k = 0;
  bool quiet = false;
};

/// Trains as told: the task, the model (new or --init), the trainer, the model directory, the final score. On
/// several processes (mpirun), each trains on its share of every batch (--batch is the global batch) and rank 0
/// alone writes the files and scores the result.
inline int run_train(const TrainArgs& a, dist::Communicator& comm) {
  const TrainingArgs& t = a.training;
  if (!global_batch_divides("elm-gpt train", a.batch_size, comm)) return 1;
  const std::string data_dir = a.data_dir.empty() ? find_data_dir(a.program.c_str(), task_data_name(a.task)) : a.data_dir;
  // 1) the model: a Hugging Face checkpoint to fine-tune, or a new one of the given sizes
  std::optional<models::Gpt2<float>> loaded;
  std::optional<Tokenizer> given;
  if (!a.init_dir.empty()) {
    loaded.emplace(io::load_gpt2_hf<float>(a.init_dir));
    given = Tokenizer::from_directory(std::filesystem::exists(std::filesystem::path(a.init_dir) / "vocab.json") ||
                                              std::filesystem::exists(std::filesystem::path(a.init_dir) / "vocab.txt")
                                          ? a.init_dir
                                          : a.bpe_dir);
  }
  const Task task = load_task(a.task, data_dir, a.bpe_dir, given);
  models::Gpt2Config config = loaded ? loaded->config() : a.config;
  config.vocab_size = task.tokenizer.size();
  config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = a.dropout;
  if (!task.tokenizer.is_bpe()) config.bos_token_id = config.eos_token_id = task.boundary_id;  // </s>
  const Index context = loaded ? std::min(a.config.n_positions, config.n_positions) : config.n_positions;
  if (loaded && loaded->config().vocab_size != config.vocab_size)
    throw InvalidArgument(fmt::format("elm-gpt train: {} has vocab_size {}, but the tokenizer has {} tokens",
                                      a.init_dir, loaded->config().vocab_size, config.vocab_size));
  Rng init_rng(t.seed);
  models::Gpt2<float> model = loaded ? with_config(*loaded, config) : models::Gpt2<float>(config, init_rng);
  loaded.reset();
  fmt::print("task {} ({}): {} training {}s ({} tokens), {} held out; V = {}{}\n", task.name, data_dir,
             task.train_units, task.unit, task.train_stream.size(), task.held_out.size(), config.vocab_size,
             task.tokenizer.is_bpe() ? " (GPT-2's byte-level BPE)" : " characters");
  fmt::print("model: {}GPT-2, {} layers, C = {}, {} heads, context {}; {} parameters; {} steps of {} x {} x {} "
             "tokens\n", a.init_dir.empty() ? "" : "fine-tuning " + a.init_dir + ": ", config.n_layer,
             config.n_embd, config.n_head, context, nn::count_parameters(model), t.steps, t.accumulation,
             a.batch_size, context);

  // 2) the trainer: windows of the training stream, AdamW, warmup + cosine, clipping, held-out perplexity
  nn::AdamW<float> optimizer = make_optimizer(t);
  train::TokenWindows windows(task.train_stream, a.batch_size, context, t.seed);
  windows.shard(comm.rank(), comm.size());
  train::TrainerOptions options = trainer_options(t, {{"architecture", "gpt2"}, {"task", task.name}});
  options.eval_every_seconds = a.eval_every_seconds;
  train::Trainer trainer(model, optimizer, windows, train::language_model_step(model), options);
  trainer.set_communicator(comm);
  trainer.set_evaluation([&] {
    const auto ppl = task_perplexity(model, task, a.eval_units);
    return train::Loss{-ppl.log_prob, ppl.tokens};
  });
  resume_if_asked(trainer, t);
  const auto result = run_with_progress_bar(trainer, a.quiet || comm.rank() != 0);
  if (comm.rank() != 0) return 0;  // the other processes' parameters are rank 0's
  const double training_seconds = result.seconds - result.eval_seconds;
  fmt::print("trained {} steps ({} tokens) in {:.1f} s of training: {:.0f} tokens/s; last loss {:.3f}{}{}\n",
             result.losses.size(), result.tokens, training_seconds, result.tokens / std::max(1e-9, training_seconds),
             result.losses.empty() ? 0.0 : result.losses.back(), result.out_of_time ? " (time budget reached)" : "",
             communication_note(comm, result.communication_seconds, training_seconds));
  for (const auto& e : result.evaluations)
    fmt::print("held-out after step {} ({:.0f} s of training): perplexity {:.3f} per token\n", e.step, e.seconds,
               e.perplexity());

  // 3) the model directory, the loss curve
  save_model_directory(model, task.tokenizer, t.out_dir);
  io::write_text_atomically((std::filesystem::path(t.out_dir) / "loss.csv").string(), loss_csv(result));
  io::write_text_atomically(
      (std::filesystem::path(t.out_dir) / "loss.svg").string(),
      loss_svg(result, fmt::format("elm-gpt: training loss ({}, {} layers, C = {}, context {})", task.name,
                                   config.n_layer, config.n_embd, context)));

  // 4) the held-out perplexity over every unit (unless the last evaluation scored them all), samples
  const auto t0 = std::chrono::steady_clock::now();
  const auto ppl = task_perplexity(model, task);
  fmt::print("\nheld-out perplexity ({} {}s, {} tokens with their ends, {} through <unk>; {:.1f} s): {:.3f} per "
             "token{}\n",
             task.held_out.size(), task.unit, ppl.tokens, ppl.unk_tokens,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), ppl.perplexity(),
             task.tokenizer.is_bpe()
                 ? fmt::format(", {:.3f} per character", std::exp(-ppl.log_prob / task.characters()))
                 : "");
  if (a.samples > 0) fmt::print("\nsamples (temperature {}, seed {}):\n", a.temperature, a.sample_seed);
  if (a.samples > 0) {  // as long as asked, past the context: each token from the last n_positions
    models::GenerationConfig sampling;
    sampling.do_sample = true;
    sampling.temperature = a.temperature;
    sampling.top_k = a.top_k;
    sampling.max_new_tokens = a.sample_tokens > 0 ? a.sample_tokens : (task.tokenizer.is_bpe() ? 100 : 200);
    if (!task.tokenizer.is_bpe()) sampling.eos_token_ids = {task.boundary_id};
    sampling.num_return_sequences = a.samples;
    sampling.prompt_overflow = models::PromptOverflow::slide;
    sampling.seed = a.sample_seed;
    for (auto& sequence : models::generate(model, {task.boundary_id}, sampling)) {
      if (!sequence.ids.empty() && sequence.ids.back() == task.boundary_id) sequence.ids.pop_back();
      fmt::print("  {}\n", task.tokenizer.decode(sequence.ids));
    }
  }
  fmt::print("\nwrote {}: config.json, model.safetensors, {}, loss.csv, loss.svg, training_state.safetensors\n",
             t.out_dir, task.tokenizer.is_bpe() ? "vocab.json, merges.txt" : "vocab.txt");
  return 0;
}

/// Registers `train` on app; `program` (argv[0]) is where the bundled data is found from.
inline CLI::App* add_train_command(CLI::App& app, Commands& commands, const char* program) {
  auto a = std::make_shared<TrainArgs>();
  a->program = program;
  a->bpe_dir = find_data_dir(program, "gpt2");
  a->config.n_layer = 4;
  a->config.n_embd = 128;
  a->config.n_head = 4;
  a->config.n_positions = 128;
  auto* c = app.add_subcommand("train", "Train a GPT-2 from scratch on a bundled task, or fine-tune a Hugging Face "
                                        "checkpoint (--init), with AdamW, warmup and cosine decay, clipping, "
                                        "accumulation, held-out evaluation and checkpoints that resume exactly");
  c->add_option("--task", a->task, "austen (paragraphs, GPT-2's BPE), austen-chars (the demo's sentences, "
                                   "characters) or tang (Tang poems, characters)")
      ->check(CLI::IsMember(task_names))->capture_default_str();
  c->add_option("--data", a->data_dir,
                "Folder of the task's *.txt (default: examples/data/austen or examples/data/chinese-poetry)");
  c->add_option("--tokenizer", a->bpe_dir, "Folder of GPT-2's vocab.json and merges.txt (austen)")
      ->capture_default_str();
  c->add_option("--init", a->init_dir, "Fine-tune this Hugging Face GPT-2 directory (config.json, "
                                       "model.safetensors) instead of training from scratch; its vocab.json and "
                                       "merges.txt are used when it has them");
  c->add_option("--layers", a->config.n_layer, "Blocks (n_layer)")->capture_default_str();
  c->add_option("--width", a->config.n_embd, "Width C (n_embd)")->capture_default_str();
  c->add_option("--heads", a->config.n_head, "Attention heads (n_head), dividing the width")->capture_default_str();
  c->add_option("--context", a->config.n_positions, "Context T (n_positions): the training windows' length")
      ->capture_default_str();
  c->add_option("--dropout", a->dropout, "Dropout of embeddings, attention and residuals")->capture_default_str();
  c->add_option("--batch", a->batch_size, "Windows per micro-batch (under mpirun: of all processes together, a "
                                         "multiple of their number)")->capture_default_str();
  a->training.out_dir = "gpt-out";
  a->training.warmup = 50;
  a->training.seconds = 300;
  a->training.lr = 3e-3;
  a->training.beta2 = 0.99;
  add_training_options(c, a->training, "config.json, model.safetensors, the tokenizer's files, loss.csv, loss.svg, "
                                       "training_state.safetensors");
  c->add_option("--eval-every-seconds", a->eval_every_seconds, "Held-out perplexity every S seconds of training "
                                                               "(0: off)")->capture_default_str();
  c->add_option("--eval-units", a->eval_units, "Held-out units scored by the evaluations during training (0: all; "
                                               "the final score uses all)")->capture_default_str();
  c->add_option("--samples", a->samples, "Samples printed after training")->capture_default_str();
  c->add_option("--sample-tokens", a->sample_tokens, "Tokens per sample (0: 200 characters or 100 BPE tokens)")
      ->capture_default_str();
  c->add_option("--temperature", a->temperature, "Sampling temperature")->capture_default_str();
  c->add_option("--top-k", a->top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str();
  c->add_option("--sample-seed", a->sample_seed, "Seed of the samples")->capture_default_str();
  c->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(c, [a] {
    return run_on_processes("elm-gpt train", [&](dist::Communicator& comm) { return run_train(*a, comm); });
  });
  return c;
}

}  // namespace elm::examples::gpt
