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
#include <string>
#include <vector>

#include "common/austen.hpp"
#include "common/lm_corpus.hpp"
#include "common/ngram_baseline.hpp"
#include "elm/classic/ngram_estimate.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elm's main demo: an n-gram model and an LSTM language model trained on Jane Austen's novels, "
               "compared on the same held-out sentences"};
  std::string data_dir = elm::examples::find_data_dir(argv[0], "austen");
  int order = 4;
  double lstm_seconds = 120;
  std::uint64_t seed = 1;
  app.add_option("--data", data_dir, "Folder of the corpus (*.txt)")->capture_default_str();
  app.add_option("--order", order, "Order of the n-gram model")->capture_default_str()->check(CLI::Range(1, 7));
  app.add_option("--lstm-seconds", lstm_seconds, "Training time of the LSTM")->capture_default_str()->check(
      CLI::PositiveNumber);
  app.add_option("--seed", seed, "Seed of initialisation, batches and samples")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    fmt::print("elm {}: language models on Jane Austen's six novels\n\n", elm::version_string);
    const auto split = elm::examples::load_austen(data_dir);
    std::size_t train_words = 0;
    for (const auto& s : split.train) train_words += std::size_t(std::count(s.begin(), s.end(), ' ')) + 1;
    fmt::print("corpus: {} sentences for training ({} words), {} held out (every tenth sentence)\n\n",
               split.train.size(), train_words, split.test.size());

    // 1) Words: an n-gram model with interpolated modified Kneser-Ney, exactly as lmplz estimates it.
    fmt::print("[1/3] words: {}-gram model, interpolated modified Kneser-Ney\n", order);
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

    // 2) Characters: n-gram baselines, then an LSTM on the same characters, so their perplexities compare.
    fmt::print("[2/3] characters: n-gram models\n");
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

    fmt::print("[3/3] characters: LSTM language model, trained for {:.0f} s\n", lstm_seconds);
    const auto corpus = elm::examples::make_lm_corpus(split, elm::text::SplitUnit::characters, /*min_count=*/2);
    elm::models::LstmLmConfig config;
    config.vocab_size = corpus.tokenizer.size();
    config.embedding_dim = 32;
    config.hidden_size = 128;
    config.num_layers = 1;
    const double lr = 0.01;
    elm::Rng rng(seed);
    elm::models::LstmLm<float> lstm(config, rng);
    elm::nn::AdamW<float> optimizer({lr, 0.9, 0.999, 1e-8, 0.01});
    elm::train::TokenWindows windows(corpus.train_stream, /*batch_size=*/32, /*seq_len=*/64, seed);
    elm::train::TrainerOptions train;
    train.steps = 100000;  // the schedule follows time: max_seconds ends the run
    train.schedule = elm::nn::LrSchedule::warmup_cosine(lr, /*warmup=*/20, train.steps, 0.1 * lr);
    train.clip_norm = 1.0;
    train.max_seconds = lstm_seconds;
    train.seed = seed;
    elm::train::Trainer trainer(lstm, optimizer, windows, elm::train::language_model_step(lstm), train);
    auto last_draw = std::chrono::steady_clock::now();
    trainer.set_progress([&](const elm::train::Progress& p) {
      if (seconds_since(last_draw) < 0.25 && p.fraction < 1.0) return;
      last_draw = std::chrono::steady_clock::now();
      bar("train", p.fraction, fmt::format("loss {:.2f}, {:.0f} chars/s", p.loss, p.tokens_per_second));
    });
    const auto result = trainer.run();
    std::fprintf(stderr, "\n");
    fmt::print("      V = {} characters, {} parameters, {} steps, {} characters seen in {:.0f} s; scoring...\n",
               config.vocab_size, elm::nn::count_parameters(lstm), result.losses.size(), result.tokens,
               result.seconds);
    const auto lstm_ppl = elm::models::lstm_lm_perplexity(lstm, corpus.test_sentences, corpus.boundary_id,
                                                          corpus.unk_id, corpus.unk_types());

    fmt::print("\nheld-out perplexity per character ({} held-out sentences, {} characters with </s>):\n",
               split.test.size(), lstm_ppl.tokens);
    for (std::size_t i = 0; i < baselines.size(); ++i)
      fmt::print("  {:<48} {:>7.2f}\n", baselines[i].name, baseline_ppl[i]);
    fmt::print("  {:<48} {:>7.2f}\n",
               fmt::format("LSTM, {} x {}, {:.0f} s of training", config.num_layers, config.hidden_size,
                           result.seconds),
               lstm_ppl.perplexity());

    fmt::print("\nsampled text (seed {}):\n", seed);
    elm::Rng sample_rng(seed);
    fmt::print("  words, Kneser-Ney:  {}\n", words.sample_text(sample_rng, 40));
    fmt::print("  chars, Kneser-Ney:  {}\n", ngram_sample);
    auto ids = elm::models::lstm_lm_sample(lstm, {corpus.boundary_id}, 200, corpus.boundary_id, 0.8, sample_rng);
    if (!ids.empty() && ids.back() == corpus.boundary_id) ids.pop_back();
    fmt::print("  chars, LSTM:        {}\n", corpus.tokenizer.decode(ids));
  } catch (const elm::Error& e) {
    std::fprintf(stderr, "elm-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
