// SPDX-License-Identifier: MIT
// elm-lstm-lm: an LSTM language model's program. `train` trains one on the bundled Austen novels (or any folder
// of text) with elm::train::Trainer and reports its held-out perplexity beside add-k and Kneser-Ney n-gram models
// on the same split; `eval` scores a saved model on a text file; `generate` samples text from a saved model.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/austen.hpp"
#include "common/data_parallel.hpp"
#include "common/lm_corpus.hpp"
#include "common/ngram_baseline.hpp"
#include "common/training_options.hpp"
#include "common/training_report.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/text/vocabulary.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

namespace fs = std::filesystem;
using elm::Index;

namespace {

elm::text::SplitUnit unit_of(const std::string& level) {
  return level == "char" ? elm::text::SplitUnit::characters : elm::text::SplitUnit::words;
}

// A saved model as `eval` and `generate` use it: the network, its tokenizer, and what training recorded.
struct SavedModel {
  elm::models::LstmLm<float> model;
  elm::text::SplitTokenizer tokenizer;
  Index boundary_id = 1;
  Index unk_types = 1;
  std::string level;
};

// Reads <dir>/model.safetensors and the vocabulary (<dir>/vocab.txt unless given), and checks that they belong
// together. Throws elm::Error subclasses with the file's name.
SavedModel load_saved(const std::string& dir, std::string vocab_path) {
  const std::string model_path = (fs::path(dir) / "model.safetensors").string();
  if (vocab_path.empty()) vocab_path = (fs::path(dir) / "vocab.txt").string();
  const elm::io::SafetensorsReader reader(model_path);
  elm::models::LstmLm<float> model(elm::models::LstmLm<float>::config_from(reader));
  elm::io::load_parameters(reader, model);
  const auto& meta = reader.metadata();
  const auto level = meta.find("level");
  if (level == meta.end() || (level->second != "word" && level->second != "char"))
    throw elm::FormatError(model_path + " has no 'level' metadata of word or char: was it written by "
                           "elm-lstm-lm train?");
  auto vocabulary = elm::text::Vocabulary::from_file(vocab_path);
  if (vocabulary.size() != model.config().vocab_size)
    throw elm::FormatError(fmt::format("{} has {} tokens, but the model in {} was trained on V = {}: "
                                       "the vocabulary of another model?",
                                       vocab_path, vocabulary.size(), model_path, model.config().vocab_size));
  const Index boundary = vocabulary.find("</s>");
  if (boundary < 0 || vocabulary.find("<unk>") < 0)
    throw elm::FormatError(vocab_path + " lacks <unk> or </s>: not a language model's vocabulary");
  Index unk_types = 1;
  if (const auto it = meta.find("unk_types"); it != meta.end()) {
    try {
      unk_types = std::stoll(it->second);
    } catch (const std::exception&) {
      unk_types = 0;
    }
    if (unk_types < 1) throw elm::FormatError(model_path + " has unk_types = '" + it->second +
                                              "', expected a positive integer");
  }
  elm::text::SplitTokenizer tokenizer(std::move(vocabulary), unit_of(level->second));
  return {std::move(model), std::move(tokenizer), boundary, unk_types, level->second};
}

// Sentences of a text file, normalised as the training corpus was (examples/common/austen.hpp).
std::vector<std::string> read_sentences(const std::string& path) {
  const elm::io::MappedFile file(path, "eval");
  return elm::examples::split_sentences(std::string(file.text()));
}

struct TrainArgs {
  std::string data_dir, level = "char";
  elm::examples::TrainingArgs training;  // steps, AdamW, schedule, intervals, seed, --out, --resume
  Index min_count = 2, eval_sentences = 0, top_k = 0;
  elm::models::LstmLmConfig config;
  Index batch_size = 32, seq_len = 64;
  double temperature = 0.8;
  std::uint64_t sample_seed = 7;
  int ngram_order = 3, samples = 3;
  bool quiet = false, skip_ngram = false;
};

// On several processes (mpirun), each trains on its share of every batch (--batch is the global batch) and rank 0
// alone writes the files and scores the result.
int train(const TrainArgs& a, elm::dist::Communicator& comm) {
  if (!elm::examples::global_batch_divides("elm-lstm-lm train", a.batch_size, comm)) return 1;
  const bool chars = a.level == "char";
  auto split = elm::examples::load_austen(a.data_dir);
  if (a.eval_sentences > 0 && std::size_t(a.eval_sentences) < split.test.size()) split.test.resize(std::size_t(a.eval_sentences));
  const auto corpus = elm::examples::make_lm_corpus(split, unit_of(a.level), a.min_count);
  auto config = a.config;
  config.vocab_size = corpus.tokenizer.size();
  fmt::print("corpus {}: {} training sentences ({} tokens), {} held-out sentences; {} level, V = {} "
             "({} rare or unseen types share <unk>)\n",
             a.data_dir, split.train.size(), corpus.train_stream.size(), split.test.size(), a.level, config.vocab_size,
             corpus.unk_types());

  const elm::examples::TrainingArgs& t = a.training;
  elm::Rng init_rng(t.seed);
  elm::models::LstmLm<float> model(config, init_rng);
  elm::nn::AdamW<float> optimizer = elm::examples::make_optimizer(t);
  elm::train::TokenWindows windows(corpus.train_stream, a.batch_size, a.seq_len, t.seed);
  windows.shard(comm.rank(), comm.size());
  auto meta = model.metadata();
  meta["level"] = a.level;
  meta["unk_types"] = std::to_string(corpus.unk_types());
  elm::train::Trainer trainer(model, optimizer, windows, elm::train::language_model_step(model),
                              elm::examples::trainer_options(t, meta));
  trainer.set_communicator(comm);
  if (t.eval_every > 0)
    trainer.set_evaluation(
        elm::train::consecutive_windows(elm::train::sentence_stream(corpus.test_sentences, corpus.boundary_id),
                                        a.batch_size, a.seq_len),
        elm::train::language_model_eval(model));
  elm::examples::resume_if_asked(trainer, t);
  fmt::print("model: embedding {} -> LSTM {} x {} -> linear {}; {} parameters; {} steps of {} x {} x {} tokens\n",
             config.embedding_dim, config.num_layers, config.hidden_size, config.vocab_size,
             elm::nn::count_parameters(model), t.steps, t.accumulation, a.batch_size, a.seq_len);

  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet || comm.rank() != 0);
  if (comm.rank() != 0) return 0;  // the other processes' parameters are rank 0's
  fmt::print("trained {} steps ({} tokens) in {:.1f} s: {:.0f} tokens/s; last loss {:.3f}{}{}\n", result.losses.size(),
             result.tokens, result.seconds, result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0,
             result.losses.empty() ? 0.0 : result.losses.back(), result.out_of_time ? " (time budget reached)" : "",
             elm::examples::communication_note(comm, result.communication_seconds,
                                               result.seconds - result.eval_seconds));
  for (const auto& e : result.evaluations)
    fmt::print("held-out windows after step {}: loss {:.4f}, perplexity {:.3f} ({} tokens)\n", e.step, e.loss,
               e.perplexity(), e.tokens);

  elm::io::write_text_atomically((fs::path(t.out_dir) / "loss.csv").string(), elm::examples::loss_csv(result));
  elm::io::write_text_atomically((fs::path(t.out_dir) / "loss.svg").string(),
                                 elm::examples::loss_svg(result, fmt::format("elm-lstm-lm: training loss ({} level, H = {})",
                                                                            a.level, config.hidden_size)));
  elm::io::write_text_atomically((fs::path(t.out_dir) / "vocab.txt").string(), corpus.tokenizer.vocabulary().to_text());
  elm::io::save_parameters((fs::path(t.out_dir) / "model.safetensors").string(), model, meta);

  const auto t_eval = std::chrono::steady_clock::now();
  const auto ppl = elm::models::lstm_lm_perplexity(model, corpus.test_sentences, corpus.boundary_id, corpus.unk_id,
                                                   corpus.unk_types());
  const double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_eval).count();
  fmt::print("\nheld-out perplexity ({} tokens incl. </s>, {} scored through <unk>; {:.1f} s):\n", ppl.tokens,
             ppl.unk_tokens, eval_seconds);
  fmt::print("  {:<34} {:>10.2f}\n", "LSTM LM", ppl.perplexity());
  if (!a.skip_ngram) {
    using elm::classic::Smoothing;
    const std::vector<elm::examples::NgramBaseline> baselines{
        {"add-k, k = 1", Smoothing::add_k, a.ngram_order, 1.0},
        {"add-k, k = 0.1", Smoothing::add_k, a.ngram_order, 0.1},
        {"add-k, k = 0.01", Smoothing::add_k, a.ngram_order, 0.01},
        {"interpolated modified Kneser-Ney", Smoothing::kneser_ney, a.ngram_order, 0.0}};
    for (const auto& b : baselines) {
      const auto np = elm::examples::estimate_baseline(b, split, chars).perplexity(split.test, chars);
      fmt::print("  {:<34} {:>10.2f}\n", fmt::format("{}-gram {}", a.ngram_order, b.name), np.perplexity());
    }
  } else {
    fmt::print("  (n-gram baselines skipped)\n");
  }

  if (a.samples > 0) fmt::print("\nsamples (temperature {}, seed {}):\n", a.temperature, a.sample_seed);
  elm::Rng sample_rng(a.sample_seed);
  for (int s = 0; s < a.samples; ++s) {
    auto ids = elm::models::lstm_lm_sample(model, {corpus.boundary_id}, chars ? 300 : 60, corpus.boundary_id,
                                           a.temperature, sample_rng, a.top_k);
    if (!ids.empty() && ids.back() == corpus.boundary_id) ids.pop_back();
    fmt::print("  {}\n", corpus.tokenizer.decode(ids));
  }
  fmt::print("\nwrote {}/loss.csv, loss.svg, model.safetensors, vocab.txt, training_state.safetensors\n", t.out_dir);
  return 0;
}

int eval(const std::string& model_dir, const std::string& vocab_path, const std::string& text_path) {
  const auto saved = load_saved(model_dir, vocab_path);
  const auto sentences = read_sentences(text_path);
  if (sentences.empty()) throw elm::FormatError(text_path + " holds no sentence to score");
  const auto ids = elm::examples::encode_lines(saved.tokenizer, sentences);
  const auto ppl = elm::models::lstm_lm_perplexity(saved.model, ids, saved.boundary_id, saved.tokenizer.unk_id(),
                                                   saved.unk_types);
  fmt::print("{} sentences, {} tokens incl. </s> ({} level), {} scored through <unk>\n", sentences.size(), ppl.tokens,
             saved.level, ppl.unk_tokens);
  fmt::print("perplexity {:.4f}\n", ppl.perplexity());
  return 0;
}

struct GenerateArgs {
  std::string model_dir, vocab_path, prompt;
  int samples = 3;
  Index max_tokens = 0, top_k = 0;
  double temperature = 0.8;
  std::uint64_t seed = 7;
};

int generate(const GenerateArgs& a) {
  const auto saved = load_saved(a.model_dir, a.vocab_path);
  // The prompt normalised as the training text was, its sentences joined: the model continues the last one.
  std::string prompt_text;
  for (const auto& s : elm::examples::split_sentences(a.prompt)) prompt_text += (prompt_text.empty() ? "" : " ") + s;
  std::vector<Index> prompt{saved.boundary_id};
  for (Index id : saved.tokenizer.encode(prompt_text)) prompt.push_back(id);
  const Index max_tokens = a.max_tokens > 0 ? a.max_tokens : (saved.level == "char" ? 300 : 60);
  elm::Rng rng(a.seed);
  for (int s = 0; s < a.samples; ++s) {
    auto ids = elm::models::lstm_lm_sample(saved.model, prompt, max_tokens, saved.boundary_id, a.temperature, rng,
                                           a.top_k);
    if (!ids.empty() && ids.back() == saved.boundary_id) ids.pop_back();
    std::vector<Index> text(prompt.begin() + 1, prompt.end());
    text.insert(text.end(), ids.begin(), ids.end());
    fmt::print("{}\n", saved.tokenizer.decode(text));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"An LSTM language model (Embedding -> LSTM -> Linear): train it on a folder of text (the bundled "
               "Austen novels by default) and compare it with n-gram models, score a saved model on a text file, "
               "or sample text from it"};
  app.require_subcommand(1);

  // ---- train ----
  TrainArgs t;
  t.data_dir = elm::examples::find_data_dir(argv[0], "austen");
  // Defaults: the two-minute character-level run of docs/nn/lstm_lm.md (word level: see that page).
  t.config.embedding_dim = 32;
  t.config.hidden_size = 128;
  auto* train_cmd = app.add_subcommand("train", "Train a model; write it, its vocabulary, its loss curve and a "
                                                "checkpoint to --out");
  train_cmd->add_option("--data", t.data_dir, "Folder of the corpus (*.txt); held-out = sentences i % 10 == 9")
      ->capture_default_str();
  train_cmd->add_option("--level", t.level, "word or char")->check(CLI::IsMember({"word", "char"}))->capture_default_str();
  train_cmd->add_option("--min-count", t.min_count, "Training tokens seen fewer times become <unk>")->capture_default_str();
  train_cmd->add_option("--embedding", t.config.embedding_dim, "Embedding width")->capture_default_str();
  train_cmd->add_option("--hidden", t.config.hidden_size, "LSTM width H")->capture_default_str();
  train_cmd->add_option("--layers", t.config.num_layers, "LSTM layers")->capture_default_str();
  train_cmd->add_option("--batch", t.batch_size, "Windows per micro-batch (under mpirun: of all processes together, "
                                                 "a multiple of their number)")->capture_default_str();
  train_cmd->add_option("--seq-len", t.seq_len, "Tokens per window (truncated BPTT length)")->capture_default_str();
  t.training.out_dir = "lstm-lm-out";
  t.training.lr = 0.01;
  elm::examples::add_training_options(train_cmd, t.training,
                                      "model.safetensors, vocab.txt, loss.csv, loss.svg, training_state.safetensors");
  train_cmd->add_option("--eval-sentences", t.eval_sentences, "Score only the first N held-out sentences (0: all)");
  train_cmd->add_option("--ngram-order", t.ngram_order, "Order of the n-gram baselines")->capture_default_str();
  train_cmd->add_flag("--no-ngram", t.skip_ngram, "Skip the n-gram baselines");
  train_cmd->add_option("--samples", t.samples, "Sentences to sample after training")->capture_default_str();
  train_cmd->add_option("--temperature", t.temperature, "Sampling temperature")->capture_default_str();
  train_cmd->add_option("--top-k", t.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str();
  train_cmd->add_option("--sample-seed", t.sample_seed, "Seed of the samples")->capture_default_str();
  train_cmd->add_flag("--quiet", t.quiet, "No progress bar");

  // ---- eval ----
  std::string eval_model, eval_vocab, eval_text;
  auto* eval_cmd = app.add_subcommand("eval", "Held-out perplexity of a saved model on a text file (its sentences "
                                              "normalised as the training corpus)");
  eval_cmd->add_option("--model", eval_model, "Folder of model.safetensors and vocab.txt (train's --out)")->required();
  eval_cmd->add_option("--vocab", eval_vocab, "Vocabulary file (default: vocab.txt beside the model)");
  eval_cmd->add_option("--text", eval_text, "Text to score")->required();

  // ---- generate ----
  GenerateArgs g;
  auto* generate_cmd = app.add_subcommand("generate", "Sample text from a saved model");
  generate_cmd->add_option("--model", g.model_dir, "Folder of model.safetensors and vocab.txt (train's --out)")
      ->required();
  generate_cmd->add_option("--vocab", g.vocab_path, "Vocabulary file (default: vocab.txt beside the model)");
  generate_cmd->add_option("--prompt", g.prompt, "Text the samples continue (default: a new sentence)");
  generate_cmd->add_option("--samples", g.samples, "Number of samples")->capture_default_str();
  generate_cmd->add_option("--max-tokens", g.max_tokens, "Tokens per sample at most (0: 300 characters or 60 words)")
      ->capture_default_str();
  generate_cmd->add_option("--temperature", g.temperature, "Sampling temperature")->capture_default_str();
  generate_cmd->add_option("--top-k", g.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str();
  generate_cmd->add_option("--seed", g.seed, "Seed of the samples: the same seed gives the same text")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    if (*train_cmd)
      return elm::examples::run_on_processes("elm-lstm-lm train",
                                             [&](elm::dist::Communicator& comm) { return train(t, comm); });
    if (*eval_cmd) return eval(eval_model, eval_vocab, eval_text);
    return generate(g);
  } catch (const elm::Error& e) {
    std::fprintf(stderr, "elm-lstm-lm: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "elm-lstm-lm: error: %s\n", e.what());
    return 1;
  }
}
