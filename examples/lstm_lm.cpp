// SPDX-License-Identifier: MIT
// elm-lstm-lm: trains an LSTM language model on the bundled Austen novels, reports held-out perplexity beside
// add-k and Kneser-Ney n-gram models on the same split, writes the loss curve and samples text.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/austen.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/classic/ngram_estimate.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/training_state.hpp"
#include "elm/models/lstm_lm.hpp"

namespace fs = std::filesystem;
using elm::Index;

namespace {

// The loss per step (thin) and its exponential moving average (thick), as a standalone SVG.
std::string loss_svg(const std::vector<double>& losses, const std::string& title) {
  const double w = 720, h = 360, left = 60, right = 20, top = 40, bottom = 50;
  double lo = losses.empty() ? 0 : *std::min_element(losses.begin(), losses.end());
  double hi = losses.empty() ? 1 : *std::max_element(losses.begin(), losses.end());
  lo = std::floor(lo);
  hi = std::ceil(hi);
  if (hi <= lo) hi = lo + 1;
  const double n = std::max<double>(1.0, double(losses.size()) - 1.0);
  auto px = [&](double i) { return left + (w - left - right) * i / n; };
  auto py = [&](double v) { return top + (h - top - bottom) * (hi - v) / (hi - lo); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">{3}</text>\n",
      w, h, left, title);
  for (double v = lo; v <= hi + 1e-9; v += std::max(1.0, std::round((hi - lo) / 6))) {
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
                       left, w - right, py(v), left - 6, py(v) + 4, v);
  }
  svg += fmt::format("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">training step (of {2})</text>\n",
                     (w + left) / 2, h - 12, losses.size());
  svg += fmt::format("<text x=\"16\" y=\"{0}\" transform=\"rotate(-90 16 {0})\" text-anchor=\"middle\">"
                     "cross-entropy (nats/token)</text>\n", (h + top) / 2);
  std::string raw, smooth;
  double ema = losses.empty() ? 0 : losses[0];
  for (std::size_t i = 0; i < losses.size(); ++i) {
    ema = i == 0 ? losses[0] : 0.95 * ema + 0.05 * losses[i];
    raw += fmt::format("{:.1f},{:.1f} ", px(double(i)), py(losses[i]));
    smooth += fmt::format("{:.1f},{:.1f} ", px(double(i)), py(ema));
  }
  svg += "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"" + raw + "\"/>\n";
  svg += "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2.5\" points=\"" + smooth + "\"/>\n";
  svg += "</svg>\n";
  return svg;
}

void draw_progress(const elm::models::LstmLmProgress& p, bool final_line) {
  const int width = 30;
  const int filled = std::min(width, int(p.fraction * width + 0.5));
  std::fprintf(stderr, "\r[%s%s] %3d%%  step %lld  loss %.3f  lr %.2e  %.0f tok/s  %.0fs ",
               std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
               int(p.fraction * 100 + 0.5), static_cast<long long>(p.step), p.loss, p.lr, p.tokens_per_second,
               p.seconds);
  if (final_line) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train an LSTM language model (Embedding -> LSTM -> Linear) on the bundled Austen novels and "
               "compare its held-out perplexity with n-gram models on the same split"};
  std::string data_dir = elm::examples::find_data_dir(argv[0], "austen");
  std::string out_dir = "lstm-lm-out";
  std::string level = "char";
  std::string resume_path;
  Index min_count = 2;
  elm::models::LstmLmConfig config;
  elm::models::LstmLmTrainOptions train;
  // Defaults: the two-minute character-level run of docs/nn/lstm_lm.md (word level: see that page).
  train.steps = 2000;
  train.seq_len = 64;
  train.batch_size = 32;
  train.lr = 0.01;
  train.warmup = 20;
  train.max_seconds = 120;
  config.embedding_dim = 32;
  config.hidden_size = 128;
  int ngram_order = 3;
  Index eval_sentences = 0;
  int samples = 3;
  double temperature = 0.8;
  std::uint64_t sample_seed = 7;
  bool quiet = false, skip_ngram = false;
  app.add_option("--data", data_dir, "Folder of the corpus (*.txt); held-out = sentences i % 10 == 9")
      ->capture_default_str();
  app.add_option("--out", out_dir, "Output folder: loss.csv, loss.svg, model.safetensors, vocab.txt, "
                                   "training_state.safetensors")->capture_default_str();
  app.add_option("--level", level, "word or char")->check(CLI::IsMember({"word", "char"}))->capture_default_str();
  app.add_option("--min-count", min_count, "Training tokens seen fewer times become <unk>")->capture_default_str();
  app.add_option("--embedding", config.embedding_dim, "Embedding width")->capture_default_str();
  app.add_option("--hidden", config.hidden_size, "LSTM width H")->capture_default_str();
  app.add_option("--layers", config.num_layers, "LSTM layers")->capture_default_str();
  app.add_option("--steps", train.steps, "Training steps (the schedule's length)")->capture_default_str();
  app.add_option("--seconds", train.max_seconds, "Stop after this many seconds, the schedule following time "
                                                 "(0: run all steps)")->capture_default_str();
  app.add_option("--batch", train.batch_size, "Windows per step")->capture_default_str();
  app.add_option("--seq-len", train.seq_len, "Tokens per window (truncated BPTT length)")->capture_default_str();
  app.add_option("--lr", train.lr, "Peak AdamW learning rate")->capture_default_str();
  app.add_option("--warmup", train.warmup, "Linear warmup steps")->capture_default_str();
  app.add_option("--weight-decay", train.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--clip", train.clip_norm, "Gradient-norm clipping (0: off)")->capture_default_str();
  app.add_option("--seed", train.seed, "Seed of initialisation and batches")->capture_default_str();
  app.add_option("--resume", resume_path, "Continue from a training_state.safetensors written by an earlier run");
  app.add_option("--eval-sentences", eval_sentences, "Score only the first N held-out sentences (0: all)");
  app.add_option("--ngram-order", ngram_order, "Order of the n-gram baselines")->capture_default_str();
  app.add_flag("--no-ngram", skip_ngram, "Skip the n-gram baselines");
  app.add_option("--samples", samples, "Sentences to sample after training")->capture_default_str();
  app.add_option("--temperature", temperature, "Sampling temperature")->capture_default_str();
  app.add_option("--sample-seed", sample_seed, "Seed of the samples")->capture_default_str();
  app.add_flag("--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  try {
    const bool chars = level == "char";
    auto split = elm::examples::load_austen(data_dir);
    if (eval_sentences > 0 && std::size_t(eval_sentences) < split.test.size()) split.test.resize(std::size_t(eval_sentences));
    const auto corpus = elm::models::make_lstm_lm_corpus(split.train, split.test, chars, min_count);
    config.vocab_size = corpus.vocab_size();
    fmt::print("corpus {}: {} training sentences ({} tokens), {} held-out sentences; {} level, V = {} "
               "({} rare or unseen types share <unk>)\n",
               data_dir, split.train.size(), corpus.train_stream.size(), split.test.size(), level, config.vocab_size,
               corpus.unk_types);

    elm::Rng rng(train.seed);
    elm::models::LstmLm<float> model(config, rng);
    elm::nn::AdamW<float> optimizer({train.lr, 0.9, 0.999, 1e-8, train.weight_decay});
    if (!resume_path.empty()) {
      const auto meta = elm::io::load_training_state(resume_path, model, optimizer);
      fmt::print("resumed from {} at step {}\n", resume_path, meta.at("step"));
    }
    fmt::print("model: embedding {} -> LSTM {} x {} -> linear {}; {} parameters; {} steps of {} x {} tokens\n",
               config.embedding_dim, config.num_layers, config.hidden_size, config.vocab_size,
               elm::nn::count_parameters(model), train.steps, train.batch_size, train.seq_len);

    auto last_draw = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    elm::models::LstmLmProgress last{};
    const auto result = elm::models::train_lstm_lm(model, corpus.train_stream, train, optimizer,
                                                   [&](const elm::models::LstmLmProgress& p) {
                                                     last = p;
                                                     const auto now = std::chrono::steady_clock::now();
                                                     if (!quiet && now - last_draw > std::chrono::milliseconds(250)) {
                                                       draw_progress(p, false);
                                                       last_draw = now;
                                                     }
                                                   });
    if (!quiet && !result.losses.empty()) draw_progress(last, true);
    fmt::print("trained {} steps ({} tokens) in {:.1f} s: {:.0f} tokens/s; last loss {:.3f}\n", result.losses.size(),
               result.tokens, result.seconds, result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0,
               result.losses.empty() ? 0.0 : result.losses.back());

    fs::create_directories(out_dir);
    std::string csv = "step,loss\n";
    const std::int64_t first_step = result.steps_done - std::int64_t(result.losses.size());
    for (std::size_t i = 0; i < result.losses.size(); ++i)
      csv += fmt::format("{},{:.6f}\n", first_step + std::int64_t(i) + 1, result.losses[i]);
    elm::io::write_text_atomically((fs::path(out_dir) / "loss.csv").string(), csv);
    elm::io::write_text_atomically((fs::path(out_dir) / "loss.svg").string(),
               loss_svg(result.losses, fmt::format("elm-lstm-lm: training loss ({} level, H = {})", level,
                                                   config.hidden_size)));
    std::string vocab;
    for (const auto& t : corpus.tokens) vocab += (t == " " ? std::string("\xE2\x96\x81") : t) + "\n";
    elm::io::write_text_atomically((fs::path(out_dir) / "vocab.txt").string(), vocab);
    auto meta = model.metadata();
    meta["level"] = level;
    elm::io::save_parameters((fs::path(out_dir) / "model.safetensors").string(), model, meta);
    elm::io::save_training_state((fs::path(out_dir) / "training_state.safetensors").string(), model, optimizer,
                                 optimizer.steps(), meta);

    const auto t_eval = std::chrono::steady_clock::now();
    const auto ppl = elm::models::lstm_lm_perplexity(model, corpus);
    const double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_eval).count();
    fmt::print("\nheld-out perplexity ({} tokens incl. </s>, {} scored through <unk>; {:.1f} s):\n", ppl.tokens,
               ppl.unk_tokens, eval_seconds);
    fmt::print("  {:<34} {:>10.2f}\n", "LSTM LM", ppl.perplexity());
    if (!skip_ngram) {
      using elm::classic::Smoothing;
      struct Baseline {
        std::string name;
        Smoothing smoothing;
        double k;
      };
      const std::vector<Baseline> baselines{{"add-k, k = 1", Smoothing::add_k, 1.0},
                                            {"add-k, k = 0.1", Smoothing::add_k, 0.1},
                                            {"add-k, k = 0.01", Smoothing::add_k, 0.01},
                                            {"interpolated modified Kneser-Ney", Smoothing::kneser_ney, 0.0}};
      for (const auto& b : baselines) {
        elm::classic::NgramEstimateOptions options;
        options.order = ngram_order;
        options.chars = chars;
        options.smoothing = b.smoothing;
        options.add_k = b.k;
        options.kneser_ney.discount_fallback = true;  // character unigrams have no count-1 types
        const auto ngram = elm::classic::estimate_ngram_model(split.train, options);
        const auto np = ngram.perplexity(split.test, chars);
        fmt::print("  {:<34} {:>10.2f}\n", fmt::format("{}-gram {}", ngram_order, b.name), np.perplexity());
      }
    } else {
      fmt::print("  (n-gram baselines skipped)\n");
    }

    if (samples > 0) fmt::print("\nsamples (temperature {}, seed {}):\n", temperature, sample_seed);
    elm::Rng sample_rng(sample_seed);
    for (int s = 0; s < samples; ++s) {
      const auto ids = elm::models::lstm_lm_sample(model, {elm::models::LstmLmCorpus::boundary_id},
                                                   chars ? 300 : 60, elm::models::LstmLmCorpus::boundary_id,
                                                   temperature, sample_rng);
      fmt::print("  {}\n", corpus.decode(ids));
    }
    fmt::print("\nwrote {}/loss.csv, loss.svg, model.safetensors, vocab.txt, training_state.safetensors\n", out_dir);
  } catch (const elm::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
