// SPDX-License-Identifier: MIT
// elm-demo: the library's main demo. Trains language models on Jane Austen's six novels: a word n-gram model with
// interpolated modified Kneser-Ney smoothing (as KenLM's lmplz estimates it), character n-gram models and a
// character LSTM, and prints their held-out perplexities side by side, with text sampled from each.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/austen.hpp"
#include "common/lm_corpus.hpp"
#include "common/ngram_baseline.hpp"
#include "elm/classic/ngram_estimate.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
#include "elm/version.hpp"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void bar(const char* label, double fraction, const std::string& detail) {
  const int width = 30;
  const int filled = std::clamp(int(fraction * width + 0.5), 0, width);
  std::fprintf(stderr, "\r  %-10s [%s%s] %3d%% %s   ", label, std::string(std::size_t(filled), '#').c_str(),
               std::string(std::size_t(width - filled), '.').c_str(), int(fraction * 100 + 0.5), detail.c_str());
  std::fflush(stderr);
}

// What the demo reports of a neural model's training.
struct NeuralRun {
  elm::train::TrainResult result;
  std::optional<double> overtook;  // seconds of training at the first evaluation below the target perplexity
};

// Trains `model` for `seconds` on the training windows with AdamW (warmup, then cosine decay over the time budget)
// and gradient clipping, drawing a bar. With eval_every > 0, prints the held-out perplexity (`perplexity()`)
// every eval_every seconds of training and notes when it first falls below `target`.
template <typename Model, typename Perplexity>
NeuralRun train_for(Model& model, const char* label, const std::vector<elm::Index>& stream, elm::Index batch,
                    elm::Index seq_len, double lr, double beta2, double seconds, std::uint64_t seed,
                    double eval_every, double target, elm::train::TrainingClock clock, Perplexity perplexity) {
  elm::nn::AdamW<float> optimizer({lr, 0.9, beta2, 1e-8, 0.01});
  elm::train::TokenWindows windows(stream, batch, seq_len, seed);
  elm::train::TrainerOptions options;
  options.steps = 1000000;  // the schedule follows time: max_seconds ends the run
  options.schedule = elm::nn::LrSchedule::warmup_cosine(lr, /*warmup=*/20, options.steps, 0.1 * lr);
  options.clip_norm = 1.0;
  options.max_seconds = seconds;
  options.clock = clock;
  options.eval_every_seconds = eval_every;
  options.seed = seed;
  elm::train::Trainer trainer(model, optimizer, windows, elm::train::language_model_step(model), options);
  NeuralRun run;
  if (eval_every > 0)
    trainer.set_evaluation([&] {
      const auto ppl = perplexity();
      return elm::train::Loss{-ppl.log_prob, ppl.tokens};
    });
  auto last_draw = std::chrono::steady_clock::now();
  trainer.set_progress([&](const elm::train::Progress& p) {
    if (p.eval_loss) {
      const double ppl = std::exp(*p.eval_loss);
      if (!run.overtook && ppl < target) run.overtook = p.training_seconds;
      std::fprintf(stderr, "\r  %-10s %6.0f s of training, step %lld: held-out perplexity %.3f%s\n", label,
                   p.training_seconds, static_cast<long long>(p.step), ppl, ppl < target ? " (below the target)" : "");
    }
    if (seconds_since(last_draw) < 0.25 && p.fraction < 1.0) return;
    last_draw = std::chrono::steady_clock::now();
    bar("train", p.fraction, fmt::format("loss {:.2f}, {:.0f} chars/s", p.loss, p.tokens_per_second));
  });
  run.result = trainer.run();
  std::fprintf(stderr, "\n");
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elm's main demo: n-gram models, an LSTM and a GPT trained on Jane Austen's novels, compared on the "
               "same held-out sentences"};
  std::string data_dir = elm::examples::find_data_dir(argv[0], "austen");
  int order = 4;
  double seconds = 75, lstm_seconds = 0, gpt_seconds = 0, eval_every = 0;
  elm::models::Gpt2Config gpt_config;  // the character GPT's sizes (docs/models/gpt2_training.md: how they were chosen)
  gpt_config.n_layer = 1;
  gpt_config.n_embd = 192;
  gpt_config.n_head = 6;
  gpt_config.n_positions = 64;
  double gpt_lr = 0.003;
  elm::Index gpt_batch = 32;
  elm::Index lstm_embedding = 32, lstm_hidden = 128;
  std::uint64_t seed = 1;
  std::string clock_name = "wall";
  app.add_option("--data", data_dir, "Folder of the corpus (*.txt)")->capture_default_str();
  app.add_option("--order", order, "Order of the n-gram model")->capture_default_str()->check(CLI::Range(1, 7));
  app.add_option("--seconds", seconds, "Training time of each neural model (the LSTM and the GPT)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lstm-seconds", lstm_seconds, "Training time of the LSTM (default: --seconds)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gpt-seconds", gpt_seconds, "Training time of the GPT (default: --seconds)")
      ->check(CLI::PositiveNumber);
  app.add_option("--lstm-embedding", lstm_embedding, "The LSTM's embedding width")->capture_default_str();
  app.add_option("--lstm-hidden", lstm_hidden, "The LSTM's width H")->capture_default_str();
  app.add_option("--gpt-layers", gpt_config.n_layer, "The GPT's blocks")->capture_default_str();
  app.add_option("--gpt-width", gpt_config.n_embd, "The GPT's width C")->capture_default_str();
  app.add_option("--gpt-heads", gpt_config.n_head, "The GPT's attention heads")->capture_default_str();
  app.add_option("--gpt-context", gpt_config.n_positions, "The GPT's context (characters)")->capture_default_str();
  app.add_option("--gpt-lr", gpt_lr, "The GPT's peak learning rate")->capture_default_str();
  app.add_option("--gpt-batch", gpt_batch, "The GPT's windows per step")->capture_default_str();
  app.add_option("--eval-every-seconds", eval_every, "Print each neural model's held-out perplexity every S seconds "
                                                     "of training and when it first beats the 7-gram Kneser-Ney "
                                                     "model (0: at the end only)")->capture_default_str();
  app.add_option("--clock", clock_name, "What the training times are measured on: wall (real time) or cpu (the "
                                        "process's CPU time, which other programs on a shared machine do not "
                                        "take from)")->capture_default_str()->check(CLI::IsMember({"wall", "cpu"}));
  app.add_option("--seed", seed, "Seed of initialisation, batches and samples")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (lstm_seconds == 0) lstm_seconds = seconds;
  if (gpt_seconds == 0) gpt_seconds = seconds;
  const auto clock = clock_name == "cpu" ? elm::train::TrainingClock::cpu : elm::train::TrainingClock::wall;
  const char* of = clock_name == "cpu" ? " of CPU time" : "";

  try {
    fmt::print("elm {}: language models on Jane Austen's six novels\n\n", elm::version_string);
    const auto split = elm::examples::load_austen(data_dir);
    std::size_t train_words = 0;
    for (const auto& s : split.train) train_words += std::size_t(std::count(s.begin(), s.end(), ' ')) + 1;
    fmt::print("corpus: {} sentences for training ({} words), {} held out (every tenth sentence)\n\n",
               split.train.size(), train_words, split.test.size());

    // 1) Words: an n-gram model with interpolated modified Kneser-Ney, exactly as lmplz estimates it.
    fmt::print("[1/4] words: {}-gram model, interpolated modified Kneser-Ney\n", order);
    auto t0 = std::chrono::steady_clock::now();
    elm::classic::NgramEstimateOptions options;
    options.order = order;
    const auto words = elm::classic::estimate_ngram_model(split.train, options, [&](std::string_view stage, double f) {
      bar("estimate", f, std::string(stage));
    });
    bar("estimate", 1.0, "done");
    std::fprintf(stderr, "\n");
    const auto words_ppl = words.perplexity(split.test);
    fmt::print("      {} n-grams, {:.1f} bytes each, estimated in {:.1f} s; held-out perplexity {:.1f} per word "
               "({} tokens with </s>, {} OOV)\n\n",
               words.total_ngrams(), words.bytes_per_ngram(), seconds_since(t0), words_ppl.perplexity(),
               words_ppl.tokens, words_ppl.oov);

    // 2) Characters: n-gram baselines, then an LSTM and a GPT on the same characters for the same time, so their
    // perplexities compare.
    fmt::print("[2/4] characters: n-gram models\n");
    using elm::classic::Smoothing;
    const std::vector<elm::examples::NgramBaseline> baselines{
        {"3-gram, add-k (k = 0.01)", Smoothing::add_k, 3, 0.01},
        {"5-gram, interpolated modified Kneser-Ney", Smoothing::kneser_ney, 5, 0},
        {"7-gram, interpolated modified Kneser-Ney", Smoothing::kneser_ney, 7, 0}};
    std::vector<double> baseline_ppl;
    std::string ngram_sample;
    for (const auto& b : baselines) {
      const auto model = elm::examples::estimate_baseline(b, split, /*chars=*/true);
      baseline_ppl.push_back(model.perplexity(split.test, true).perplexity());
      bar("estimate", double(baseline_ppl.size()) / double(baselines.size()), b.name);
      if (b.order == 7) {
        elm::Rng sample_rng(seed);
        ngram_sample = model.sample_text(sample_rng, 200, true);
      }
    }
    std::fprintf(stderr, "\n\n");

    const auto corpus = elm::examples::make_lm_corpus(split, elm::text::SplitUnit::characters, /*min_count=*/2);
    const double target = baseline_ppl.back();  // the 7-gram Kneser-Ney model's
    fmt::print("[3/4] characters: LSTM language model, trained for {:.0f} s{}\n", lstm_seconds, of);
    elm::models::LstmLmConfig config;
    config.vocab_size = corpus.tokenizer.size();
    config.embedding_dim = lstm_embedding;
    config.hidden_size = lstm_hidden;
    config.num_layers = 1;
    elm::Rng rng(seed);
    elm::models::LstmLm<float> lstm(config, rng);
    const auto lstm_perplexity = [&] {
      return elm::models::lstm_lm_perplexity(lstm, corpus.test_sentences, corpus.boundary_id, corpus.unk_id,
                                             corpus.unk_types());
    };
    const auto lstm_run = train_for(lstm, "LSTM", corpus.train_stream, /*batch=*/32, /*seq_len=*/64, /*lr=*/0.01,
                                    /*beta2=*/0.999, lstm_seconds, seed, eval_every, target, clock, lstm_perplexity);
    fmt::print("      V = {} characters, {} parameters, {} steps, {} characters seen in {:.0f} s ({:.0f} "
               "characters/s); scoring...\n",
               config.vocab_size, elm::nn::count_parameters(lstm), lstm_run.result.losses.size(),
               lstm_run.result.tokens, lstm_run.result.seconds - lstm_run.result.eval_seconds,
               double(lstm_run.result.tokens) / (lstm_run.result.seconds - lstm_run.result.eval_seconds));
    const auto lstm_ppl = lstm_perplexity();

    // 3) The GPT: a decoder-only Transformer of the same order of size, on the same windows of characters.
    fmt::print("\n[4/4] characters: GPT, trained for {:.0f} s{}\n", gpt_seconds, of);
    gpt_config.vocab_size = corpus.tokenizer.size();
    gpt_config.resid_pdrop = gpt_config.embd_pdrop = gpt_config.attn_pdrop = 0.0;  // too short a run to overfit
    elm::models::Gpt2<float> gpt(gpt_config, rng);
    const auto gpt_perplexity = [&] {
      return elm::models::gpt2_perplexity(gpt, corpus.test_sentences, corpus.boundary_id, corpus.unk_id,
                                          corpus.unk_types(), /*batch_size=*/32);
    };
    const auto gpt_run = train_for(gpt, "GPT", corpus.train_stream, gpt_batch, gpt_config.n_positions,
                                   gpt_lr, /*beta2=*/0.99, gpt_seconds, seed, eval_every, target, clock, gpt_perplexity);
    fmt::print("      {} parameters, {} steps, {} characters seen in {:.0f} s ({:.0f} characters/s); scoring...\n",
               elm::nn::count_parameters(gpt), gpt_run.result.losses.size(), gpt_run.result.tokens,
               gpt_run.result.seconds - gpt_run.result.eval_seconds,
               double(gpt_run.result.tokens) / (gpt_run.result.seconds - gpt_run.result.eval_seconds));
    const auto gpt_ppl = gpt_perplexity();

    fmt::print("\nheld-out perplexity per character ({} held-out sentences, {} characters with </s>):\n",
               split.test.size(), lstm_ppl.tokens);
    for (std::size_t i = 0; i < baselines.size(); ++i)
      fmt::print("  {:<48} {:>7.2f}\n", baselines[i].name, baseline_ppl[i]);
    fmt::print("  {:<48} {:>7.2f}\n",
               fmt::format("LSTM, {} x {}, {:.0f} s of training", config.num_layers, config.hidden_size,
                           lstm_seconds),
               lstm_ppl.perplexity());
    fmt::print("  {:<48} {:>7.2f}\n",
               fmt::format("GPT, {} x {}, context {}, {:.0f} s of training", gpt_config.n_layer, gpt_config.n_embd,
                           gpt_config.n_positions, gpt_seconds),
               gpt_ppl.perplexity());
    if (eval_every > 0)
      for (const auto& [label, run] : {std::pair{"LSTM", &lstm_run}, std::pair{"GPT", &gpt_run}})
        fmt::print("  {} {}\n", label,
                   run->overtook ? fmt::format("beat the 7-gram Kneser-Ney model ({:.2f}) after {:.1f} minutes of "
                                               "training", target, *run->overtook / 60)
                                 : fmt::format("did not beat the 7-gram Kneser-Ney model ({:.2f}) in {:.1f} minutes",
                                               target, (run->result.seconds - run->result.eval_seconds) / 60));

    fmt::print("\nsampled text (seed {}):\n", seed);
    elm::Rng sample_rng(seed);
    fmt::print("  words, Kneser-Ney:  {}\n", words.sample_text(sample_rng, 40));
    fmt::print("  chars, Kneser-Ney:  {}\n", ngram_sample);
    auto ids = elm::models::lstm_lm_sample(lstm, {corpus.boundary_id}, 200, corpus.boundary_id, 0.8, sample_rng);
    if (!ids.empty() && ids.back() == corpus.boundary_id) ids.pop_back();
    fmt::print("  chars, LSTM:        {}\n", corpus.tokenizer.decode(ids));
    elm::models::GenerationConfig sampling;  // past the GPT's context: each character from the last n_positions
    sampling.do_sample = true;
    sampling.temperature = 0.8;
    sampling.max_new_tokens = 200;
    sampling.eos_token_ids = {corpus.boundary_id};
    sampling.prompt_overflow = elm::models::PromptOverflow::slide;
    sampling.seed = seed;
    ids = elm::models::generate(gpt, {corpus.boundary_id}, sampling).front().ids;
    if (!ids.empty() && ids.back() == corpus.boundary_id) ids.pop_back();
    fmt::print("  chars, GPT:         {}\n", corpus.tokenizer.decode(ids));
  } catch (const std::exception& e) {  // elm::Error or any other: a message and status 1
    std::fprintf(stderr, "elm-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
