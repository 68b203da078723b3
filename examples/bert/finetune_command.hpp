// SPDX-License-Identifier: MIT
// elm-bert finetune: fine-tunes a BertForSequenceClassification on the genre of Brown passages with
// elm::train::Trainer (AdamW, warmup and linear decay, held-out accuracy), from a pretrained body (a BertModel,
// BertForMaskedLM, BertForPreTraining or sentence-transformers directory) or from scratch, beside a multinomial
// naive Bayes bag-of-words baseline; writes a model directory that `classify` and transformers read.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "../common/austen.hpp"
#include "../common/brown_genre_task.hpp"
#include "../common/commands.hpp"
#include "../common/training_report.hpp"
#include "classify_command.hpp"
#include "elm/classic/brown_genres.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/schedule.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/trainer.hpp"

namespace elm::examples::bert {

/// The machine's load average over the last minute (0 where /proc/loadavg is not there).
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = 0.0;
  in >> load;
  return load;
}

/// A classifier's score on held-out data: the summed cross-entropy, the examples and how many it got right.
struct ClassifierScore {
  double loss = 0.0;
  Index examples = 0, correct = 0;
  double accuracy() const { return examples > 0 ? double(correct) / double(examples) : 0.0; }
};

template <typename Scalar>
ClassifierScore score_classifier(const models::BertForSequenceClassification<Scalar>& model,
                                 const std::vector<train::LabelledBatch>& batches, Index pad_id) {
  ClassifierScore s;
  Matrix<Scalar> logits;
  nn::CrossEntropyOptions sum;
  sum.reduction = nn::Reduction::sum;
  for (const auto& b : batches) {
    model.forward(models::BertBatch::pad(b.sequences, {}, pad_id), logits);
    s.loss += double(nn::cross_entropy<Scalar>(logits, b.labels, sum));
    for (Index n = 0; n < logits.cols(); ++n) {
      Index best = 0;
      logits.col(n).maxCoeff(&best);
      s.correct += best == b.labels[to_size(n)] ? 1 : 0;
    }
    s.examples += to_index(b.labels.size());
  }
  return s;
}

/// What `finetune` is told.
struct FinetuneArgs {
  std::string program, data_dir, init_dir, vocab_dir, out_dir = "bert-genre";
  models::BertConfig config;  ///< the sizes of a model from scratch
  Index sentences = 3, max_passages_per_file = 0, max_length = 128, batch = 16, eval_passages = 0;
  std::int64_t steps = 200, eval_every = 0;
  double seconds = 0, lr = 5e-5, warmup_fraction = 0.1, weight_decay = 0.01, clip = 1.0;
  std::uint64_t seed = 1;
  bool drop_next_sentence_head = false, no_baseline = false, quiet = false;
};

inline int run_finetune(const FinetuneArgs& a) {
  const auto wall = std::chrono::steady_clock::now();
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  const double load_before = load_average();
  // 1) the task: passages of a few sentences, labelled with their file's genre, split by file
  const std::string data_dir = a.data_dir.empty() ? find_data_dir(a.program.c_str(), "brown") : a.data_dir;
  classic::GenrePassageOptions task_options;
  task_options.sentences = a.sentences;
  task_options.max_passages_per_file = a.max_passages_per_file;
  const classic::GenrePassages task = load_genre_task(data_dir, task_options, "elm-bert");
  fmt::print("task: genre of Brown passages of {} sentences ({}): {} genres; {} training passages from {} files, "
             "{} held out from {} files\n",
             a.sentences, data_dir, task.genres.size(), task.train.size(), task.train_files, task.held_out.size(),
             task.held_out_files);
  if (!a.no_baseline) {
    const auto t0 = std::chrono::steady_clock::now();
    const double accuracy = naive_bayes_accuracy(task);
    fmt::print("baseline: multinomial naive Bayes on bags of words: held-out accuracy {:.4f} ({:.1f} s)\n", accuracy,
               since(t0));
  }

  // 2) the model: a pretrained body with a new head, or a model from scratch, and its tokenizer
  Rng init_rng(a.seed);
  io::BertClassifierOptions head;
  head.num_labels = to_index(task.genres.size());
  head.id2label = task.genres;
  head.load.drop_next_sentence_head = a.drop_next_sentence_head;
  const std::string vocab_dir = !a.init_dir.empty() ? a.init_dir
                                : a.vocab_dir.empty() ? find_data_dir(a.program.c_str(), "bert-base-uncased")
                                                      : a.vocab_dir;
  const text::WordPieceTokenizer tokenizer = io::load_bert_tokenizer(vocab_dir);
  models::BertForSequenceClassification<float> model = [&] {
    if (!a.init_dir.empty()) return io::bert_classifier_from_pretrained<float>(a.init_dir, head, init_rng);
    models::BertConfig config = a.config;
    config.vocab_size = tokenizer.vocab_size();
    config.max_position_embeddings = std::max(config.max_position_embeddings, a.max_length);
    config.num_labels = head.num_labels;
    config.id2label = head.id2label;
    return models::BertForSequenceClassification<float>(config, init_rng);
  }();
  const models::BertConfig& config = model.config();
  ELM_EXPECT(tokenizer.vocab_size() <= config.vocab_size, FormatError, "elm-bert finetune: ", vocab_dir,
             "/vocab.txt has ", tokenizer.vocab_size(), " tokens, more than the model's vocab_size = ",
             config.vocab_size);
  const Index max_length = std::min(a.max_length, config.max_position_embeddings);
  fmt::print("model: {}, {} layers, C = {}, {} heads, F = {}; {} parameters; sequences of at most {} tokens\n",
             a.init_dir.empty() ? "BERT from scratch (Hugging Face's initialisation)"
                                : "the pretrained body of " + a.init_dir + " with a new head",
             config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
             nn::count_parameters(model), max_length);

  // 3) the data as token ids
  std::vector<std::string> texts;
  std::vector<Index> train_labels, held_out_labels;
  for (const auto& p : task.train) {
    texts.push_back(p.text);
    train_labels.push_back(p.label);
  }
  const auto train_ids = encode_texts(tokenizer, texts, max_length);
  texts.clear();
  for (const auto& p : task.held_out) {
    texts.push_back(p.text);
    held_out_labels.push_back(p.label);
  }
  const auto held_out_ids = encode_texts(tokenizer, texts, max_length);
  std::size_t tokens = 0, truncated = 0;
  for (const auto& s : train_ids) {
    tokens += s.size();
    truncated += to_index(s.size()) == max_length ? 1 : 0;
  }
  fmt::print("tokens: {:.1f} per training passage on average, {} of {} truncated to {}\n",
             double(tokens) / double(std::max<std::size_t>(train_ids.size(), 1)), truncated, train_ids.size(),
             max_length);
  const auto held_out = train::labelled_batches(held_out_ids, held_out_labels, a.batch);
  const std::size_t some = a.eval_passages > 0 ? std::min(held_out_ids.size(), to_size(a.eval_passages))
                                               : held_out_ids.size();
  const auto held_out_some = train::labelled_batches(
      std::vector<std::vector<Index>>(held_out_ids.begin(), held_out_ids.begin() + std::ptrdiff_t(some)),
      std::vector<Index>(held_out_labels.begin(), held_out_labels.begin() + std::ptrdiff_t(some)), a.batch);

  // 4) the trainer: shuffled batches, AdamW, linear warmup and linear decay to zero, clipping, held-out accuracy
  train::ShuffledExamples data(train_ids, train_labels, a.batch, a.seed);
  nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-8, a.weight_decay});
  train::TrainerOptions options;
  options.steps = a.steps;
  const auto warmup = std::min<std::int64_t>(std::int64_t(a.warmup_fraction * double(a.steps)), a.steps - 1);
  options.schedule = nn::LrSchedule::warmup_linear(a.lr, warmup, a.steps, 0.0);
  options.clip_norm = a.clip;
  options.eval_every = a.eval_every;
  options.max_seconds = a.seconds;
  options.seed = a.seed;
  const Index pad_id = tokenizer.pad_id();
  train::Trainer trainer(model, optimizer, data,
                         [&](const train::LabelledBatch& b, const nn::ForwardContext& context) {
                           const float loss = model.loss_and_backward(models::BertBatch::pad(b.sequences, {}, pad_id),
                                                                      b.labels, context);
                           return train::Loss{double(loss), to_index(b.labels.size())};
                         },
                         options);
  std::vector<std::pair<std::int64_t, double>> accuracies;  // (step, accuracy) of each evaluation
  ClassifierScore last_score;
  trainer.set_evaluation([&] {
    last_score = score_classifier(model, held_out_some, pad_id);
    accuracies.emplace_back(trainer.step(), last_score.accuracy());
    return train::Loss{last_score.loss, last_score.examples};
  });
  const auto result = run_with_progress_bar(trainer, a.quiet);
  const double training_seconds = result.seconds - result.eval_seconds;
  fmt::print("trained {} steps of {} passages in {:.1f} s of training ({:.2f} s a step, {} thread{}); last loss "
             "{:.3f}{}\n",
             result.losses.size(), a.batch, training_seconds,
             training_seconds / double(std::max<std::size_t>(result.losses.size(), 1)), Eigen::nbThreads(),
             Eigen::nbThreads() == 1 ? "" : "s", result.losses.empty() ? 0.0 : result.losses.back(),
             result.out_of_time ? " (time budget reached)" : "");
  for (std::size_t i = 0; i < result.evaluations.size() && i < accuracies.size(); ++i)
    fmt::print("held-out after step {} ({:.0f} s of training; {} passages): loss {:.3f}, accuracy {:.4f}\n",
               result.evaluations[i].step, result.evaluations[i].seconds, result.evaluations[i].tokens,
               result.evaluations[i].loss, accuracies[i].second);

  // 5) the final score on every held-out passage, the model directory
  // (the trainer's last evaluation when it scored every held-out passage after the last step)
  const auto t0 = std::chrono::steady_clock::now();
  const bool scored = some == held_out_ids.size() && !accuracies.empty() && accuracies.back().first == trainer.step();
  const ClassifierScore final_score = scored ? last_score : score_classifier(model, held_out, pad_id);
  fmt::print("\nheld-out accuracy {:.4f} ({} of {} passages; loss {:.3f}; {:.1f} s) after {} steps, {:.0f} s in "
             "all; load average {:.1f} before, {:.1f} after\n",
             final_score.accuracy(), final_score.correct, final_score.examples,
             final_score.loss / double(std::max<Index>(final_score.examples, 1)),
             since(t0), result.steps_done,
             since(wall), load_before, load_average());
  io::save_bert_hf(model, a.out_dir);
  namespace fs = std::filesystem;
  for (const char* file : {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"})
    if (fs::exists(fs::path(vocab_dir) / file))
      fs::copy_file(fs::path(vocab_dir) / file, fs::path(a.out_dir) / file, fs::copy_options::overwrite_existing);
  fmt::print("wrote {}: config.json, model.safetensors, vocab.txt (elm-bert classify --model {} --text ...)\n",
             a.out_dir, a.out_dir);
  return 0;
}

/// Registers `finetune` on app; `program` (argv[0]) is where the bundled data is found from.
inline CLI::App* add_finetune_command(CLI::App& app, Commands& commands, const char* program) {
  auto a = std::make_shared<FinetuneArgs>();
  a->program = program;
  a->config.num_hidden_layers = 2;
  a->config.hidden_size = 128;
  a->config.num_attention_heads = 2;
  a->config.intermediate_size = 512;
  a->config.max_position_embeddings = 128;
  auto* c = app.add_subcommand("finetune", "Fine-tune BERT to tell the genre of Brown passages (AdamW, warmup and "
                                           "linear decay, held-out accuracy), from a pretrained body (--init) or "
                                           "from scratch, beside a naive Bayes bag-of-words baseline");
  c->add_option("--init", a->init_dir, "A pretrained body: a BertModel, BertForMaskedLM or sentence-transformers "
                                       "directory (config.json, model.safetensors, vocab.txt); a new head is added. "
                                       "Without it: a model from scratch of the sizes below");
  c->add_flag("--drop-next-sentence-head", a->drop_next_sentence_head,
              "--init is a BertForPreTraining checkpoint: drop its next-sentence head");
  c->add_option("--vocab", a->vocab_dir, "Folder of the vocab.txt of a model from scratch (default: "
                                         "examples/data/bert-base-uncased)");
  c->add_option("--data", a->data_dir, "Folder of the Brown corpus (ca01 ... cr09, cats.txt; default: "
                                       "examples/data/brown)");
  c->add_option("--out", a->out_dir, "Output folder: config.json, model.safetensors, vocab.txt")
      ->capture_default_str();
  c->add_option("--sentences", a->sentences, "Sentences per passage")->capture_default_str();
  c->add_option("--max-passages-per-file", a->max_passages_per_file, "At most this many passages of each file, "
                                                                     "spread over it (0: all)")->capture_default_str();
  c->add_option("--max-length", a->max_length, "Truncate passages to this many tokens")->capture_default_str();
  c->add_option("--layers", a->config.num_hidden_layers, "From scratch: layers")->capture_default_str();
  c->add_option("--width", a->config.hidden_size, "From scratch: width C")->capture_default_str();
  c->add_option("--heads", a->config.num_attention_heads, "From scratch: attention heads")->capture_default_str();
  c->add_option("--intermediate", a->config.intermediate_size, "From scratch: the MLP's width F")
      ->capture_default_str();
  c->add_option("--batch", a->batch, "Passages per step")->capture_default_str();
  c->add_option("--steps", a->steps, "Optimizer steps (the schedule's length)")->capture_default_str();
  c->add_option("--seconds", a->seconds, "Stop after this many seconds of training, the schedule following time "
                                         "(0: run all steps)")->capture_default_str();
  c->add_option("--lr", a->lr, "Peak AdamW learning rate")->capture_default_str();
  c->add_option("--warmup-fraction", a->warmup_fraction, "Linear warmup over this fraction of the steps, then "
                                                         "linear decay to 0")->capture_default_str();
  c->add_option("--weight-decay", a->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--clip", a->clip, "Gradient-norm clipping (0: off)")->capture_default_str();
  c->add_option("--eval-every", a->eval_every, "Held-out accuracy every N steps (0: at the end only)")
      ->capture_default_str();
  c->add_option("--eval-passages", a->eval_passages, "Held-out passages scored by the evaluations during training "
                                                     "(0: all; the final score uses all)")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of the new weights, the batches' order and dropout")->capture_default_str();
  c->add_flag("--no-baseline", a->no_baseline, "Skip the naive Bayes baseline");
  c->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(c, [a] { return run_finetune(*a); });
  return c;
}

}  // namespace elm::examples::bert
