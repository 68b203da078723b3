// SPDX-License-Identifier: MIT
// elm-seq2seq: a character-level sequence-to-sequence model (LstmSeq2Seq: a bidirectional LSTM encoder and an
// attentive LSTM decoder). `train` teaches it a bundled task (dates written many ways to ISO 8601, or Austen's
// sentences restored from lower-cased unpunctuated text) with elm::train::Trainer; `translate` decodes lines of
// standard input with greedy or beam search; `evaluate` scores a saved model on its task's held-out split.
//
// Characters: each side has its own vocabulary of the UTF-8 code points of its training text, after <pad> (0),
// <bos> (1), <eos> (2) and <unk> (3). A character the training text never had maps to <unk>; ASCII white space
// (a tab, say) reads as a space, which the vocabulary files write as U+2581.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/austen.hpp"
#include "common/commands.hpp"
#include "common/date_task.hpp"
#include "common/json_lines.hpp"
#include "common/restoration_task.hpp"
#include "common/svg_text.hpp"
#include "common/training_options.hpp"
#include "common/training_report.hpp"
#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/beam_search.hpp"
#include "elm/models/lstm_seq2seq.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/text/edit_distance.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/text/utf8.hpp"
#include "elm/text/vocabulary.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/trainer.hpp"

namespace fs = std::filesystem;
using elm::Index;
using elm::to_index;
using elm::to_size;
using elm::examples::Seq2SeqExample;
using Model = elm::models::LstmSeq2Seq<float>;

namespace {

constexpr const char* program = "elm-seq2seq";
constexpr int pad_id = 0, bos_id = 1, eos_id = 2;

// ---- the tasks ----

// What makes a task's examples: train and evaluate rebuild the same split from these (kept in the model's metadata).
struct TaskOptions {
  std::string name = "dates", data_dir;
  std::uint64_t seed = 11;
  std::size_t train_examples = 20000, held_out_examples = 1500, max_chars = 80;
};

struct Task {
  std::vector<Seq2SeqExample> train, held_out;
  std::vector<std::string> groups;  // dates: the held-out example's format name; restore: empty
};

Task load_task(const TaskOptions& o) {
  Task task;
  if (o.name == "dates") {
    auto split = elm::examples::make_date_task(o.seed, o.train_examples, o.held_out_examples);
    task.train = std::move(split.train);
    task.held_out = std::move(split.held_out);
    const auto& formats = elm::examples::date_formats();
    for (std::size_t i = 0; i < task.held_out.size(); ++i) {  // make_date_task cycles through the formats
      const auto& f = formats[i % formats.size()];
      task.groups.push_back(fmt::format("{}{}", f.name, f.held_out ? " (held-out format)" : ""));
    }
    return task;
  }
  if (o.name != "restore")
    throw elm::InvalidArgument(fmt::format("--task {}, expected dates or restore", o.name));
  auto split = elm::examples::make_restoration_task(o.data_dir, 16, o.max_chars);
  if (split.train.size() > o.train_examples) split.train.resize(o.train_examples);
  if (split.held_out.size() > o.held_out_examples) split.held_out.resize(o.held_out_examples);
  task.train = std::move(split.train);
  task.held_out = std::move(split.held_out);
  return task;
}

std::map<std::string, std::string> task_metadata(const TaskOptions& o) {
  return {{"task", o.name},
          {"task_seed", std::to_string(o.seed)},
          {"train_examples", std::to_string(o.train_examples)},
          {"held_out_examples", std::to_string(o.held_out_examples)},
          {"max_chars", std::to_string(o.max_chars)}};
}

// ---- characters ----

// A character vocabulary of `lines`: <pad>, <bos>, <eos>, <unk>, then every code point seen, most frequent first.
elm::text::SplitTokenizer character_tokenizer(const std::vector<std::string>& lines) {
  const auto fitted = elm::text::SplitTokenizer::fit(lines, elm::text::SplitUnit::characters);
  std::vector<std::string> tokens{"<pad>", "<bos>", "<eos>", "<unk>"};
  for (Index id = 0; id < fitted.size(); ++id)
    if (id != fitted.unk_id()) tokens.push_back(fitted.vocabulary().token(id));
  return elm::text::SplitTokenizer(elm::text::Vocabulary(std::move(tokens), "character vocabulary"),
                                   elm::text::SplitUnit::characters);
}

std::vector<int> to_ints(const std::vector<Index>& ids) { return std::vector<int>(ids.begin(), ids.end()); }

// A hypothesis's text: its tokens without the end token.
std::string hypothesis_text(const elm::text::SplitTokenizer& target, const std::vector<int>& tokens) {
  std::vector<Index> ids;
  for (int t : tokens)
    if (t != eos_id) ids.push_back(t);
  return target.decode(ids);
}

// ---- a saved model: model.safetensors (parameters, configuration, task, lengths) and the two vocabularies ----

struct Saved {
  Model model;
  elm::text::SplitTokenizer source, target;
  TaskOptions task;
  Index max_source_length = 0, max_target_length = 0;
};

std::string metadata_value(const std::map<std::string, std::string>& meta, const std::string& key,
                           const std::string& path) {
  const auto it = meta.find(key);
  if (it == meta.end())
    throw elm::FormatError(fmt::format("{} lacks the '{}' metadata: was it written by {} train?", path, key, program));
  return it->second;
}

std::uint64_t metadata_count(const std::map<std::string, std::string>& meta, const std::string& key,
                             const std::string& path) {
  const std::string text = metadata_value(meta, key, path);
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0')
    throw elm::FormatError(fmt::format("{} has {} = '{}', expected a non-negative integer", path, key, text));
  return value;
}

elm::text::SplitTokenizer read_vocabulary(const fs::path& path, Index expected, const std::string& model_path,
                                          const char* side) {
  auto vocabulary = elm::text::Vocabulary::from_file(path.string());
  if (vocabulary.size() != expected)
    throw elm::FormatError(fmt::format("{} has {} characters, but the model in {} has a {} vocabulary of {}: the "
                                       "vocabulary of another model?",
                                       path.string(), vocabulary.size(), model_path, side, expected));
  return elm::text::SplitTokenizer(std::move(vocabulary), elm::text::SplitUnit::characters);
}

Saved load_saved(const std::string& dir) {
  const std::string path = (fs::path(dir) / "model.safetensors").string();
  const elm::io::SafetensorsReader reader(path);
  Model model(Model::config_from(reader));
  elm::io::load_parameters(reader, model);
  const auto& meta = reader.metadata();
  const auto& c = model.config();
  if (c.pad_id != pad_id || c.bos_id != bos_id || c.eos_id != eos_id)
    throw elm::FormatError(fmt::format("{} has pad, bos, eos = {}, {}, {}, expected {}'s 0, 1, 2", path, c.pad_id,
                                       c.bos_id, c.eos_id, program));
  auto source = read_vocabulary(fs::path(dir) / "source_vocab.txt", c.src_vocab, path, "source");
  auto target = read_vocabulary(fs::path(dir) / "target_vocab.txt", c.tgt_vocab, path, "target");
  TaskOptions task;
  task.name = metadata_value(meta, "task", path);
  task.seed = metadata_count(meta, "task_seed", path);
  task.train_examples = metadata_count(meta, "train_examples", path);
  task.held_out_examples = metadata_count(meta, "held_out_examples", path);
  task.max_chars = metadata_count(meta, "max_chars", path);
  const auto max_source = static_cast<Index>(metadata_count(meta, "max_source_length", path));
  const auto max_target = static_cast<Index>(metadata_count(meta, "max_target_length", path));
  return {std::move(model), std::move(source), std::move(target), task, max_source, max_target};
}

// ---- decoding with a progress line ----

// "translate 120/400 sources  3.1 s" on standard error, redrawn in place at most four times a second.
class CountProgress {
 public:
  CountProgress(const char* label, std::size_t total, bool quiet) : label_(label), total_(total), quiet_(quiet) {}
  void update(std::size_t done) {
    const auto now = std::chrono::steady_clock::now();
    if (quiet_ || (done < total_ && now - last_ < std::chrono::milliseconds(250))) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r%s %zu/%zu sources  %.1f s%s", label_, done, total_, seconds, done == total_ ? "\n" : "");
    std::fflush(stderr);
  }

 private:
  const char* label_;
  std::size_t total_;
  bool quiet_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_ - std::chrono::seconds(1);
};

// Each source's n-best list: greedy decoding when beam = 1 and one hypothesis is asked, beam search otherwise;
// `batch` sources at a time.
std::vector<std::vector<elm::models::Hypothesis>> decode(const Model& model,
                                                         const std::vector<std::vector<int>>& sources,
                                                         const elm::models::BeamSearchConfig& config, Index batch,
                                                         const char* label, bool quiet) {
  std::vector<std::vector<elm::models::Hypothesis>> out;
  CountProgress progress(label, sources.size(), quiet);
  for (std::size_t first = 0; first < sources.size(); first += to_size(batch)) {
    const std::vector<std::vector<int>> some(
        sources.begin() + std::ptrdiff_t(first),
        sources.begin() + std::ptrdiff_t(std::min(sources.size(), first + to_size(batch))));
    if (config.num_beams == 1 && config.num_return_sequences == 1) {
      for (auto& h : elm::models::greedy(model, some, config)) out.push_back({std::move(h)});
    } else {
      for (auto& list : elm::models::beam_search(model, some, config)) out.push_back(std::move(list));
    }
    progress.update(out.size());
  }
  return out;
}

// ---- scoring ----

struct Score {
  std::size_t examples = 0, exact = 0;
  elm::text::ErrorRate cer;
  void add(const std::string& hypothesis, const std::string& reference) {
    ++examples;
    exact += hypothesis == reference ? 1 : 0;
    elm::text::add_character_errors(hypothesis, reference, cer);
  }
  double exact_match() const { return examples == 0 ? 0.0 : double(exact) / double(examples); }
};

// Exact match and character error rate of the first `limit` held-out examples (0: all), overall and per group.
void score_held_out(const Model& model, const elm::text::SplitTokenizer& source,
                    const elm::text::SplitTokenizer& target, const Task& task, std::size_t limit,
                    const elm::models::BeamSearchConfig& config, Index batch, const std::string& label, bool quiet) {
  const std::size_t n = limit == 0 ? task.held_out.size() : std::min(limit, task.held_out.size());
  std::vector<std::vector<int>> sources;
  for (std::size_t i = 0; i < n; ++i) sources.push_back(to_ints(source.encode(task.held_out[i].source)));
  const auto t0 = std::chrono::steady_clock::now();
  const auto lists = decode(model, sources, config, batch, label.c_str(), quiet);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Score overall;
  std::map<std::string, Score> groups;
  std::vector<std::string> order;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string hypothesis = hypothesis_text(target, lists[i].front().tokens);
    overall.add(hypothesis, task.held_out[i].target);
    if (i < task.groups.size()) {
      if (groups.count(task.groups[i]) == 0) order.push_back(task.groups[i]);
      groups[task.groups[i]].add(hypothesis, task.held_out[i].target);
    }
  }
  fmt::print("{}: held-out exact match {:.2f} % ({}/{}), character error rate {:.2f} % ({:.1f} s, {:.0f} "
             "sources/s)\n",
             label, 100.0 * overall.exact_match(), overall.exact, overall.examples, 100.0 * overall.cer.rate(),
             seconds, seconds > 0 ? double(n) / seconds : 0.0);
  for (const auto& g : order)
    fmt::print("  {:<48} {:7.2f} %  ({}/{})\n", g, 100.0 * groups[g].exact_match(), groups[g].exact,
               groups[g].examples);
}

elm::models::BeamSearchConfig decoding_config(Index beam, Index n_best, double length_penalty, Index max_target) {
  elm::models::BeamSearchConfig c;
  c.num_beams = beam;
  c.num_return_sequences = n_best;
  c.length_penalty = length_penalty;
  c.max_length = max_target + 1;  // the start token counts
  return c;
}

// ---- train ----

struct TrainArgs {
  std::string program_path, model = "lstm", attention = "general";
  TaskOptions task;
  elm::examples::TrainingArgs training;
  elm::models::LstmSeq2SeqConfig config;
  Index batch_size = 32, max_source_length = 0, eval_batch = 64;
  double label_smoothing = 0.1;
  std::size_t eval_examples = 0;
  bool quiet = false;
};

// A batch of teacher forcing: sources padded to the longest, the decoder's inputs <bos> y_1 .. y_n, its targets
// y_1 .. y_n <eos>, -100 (ignored by the loss) at padding.
struct TeacherBatch {
  std::vector<Index> src, src_lengths, tgt_in, targets;
};

struct EncodedPair {
  std::vector<Index> source, target;
};

TeacherBatch teacher_batch(const std::vector<EncodedPair>& pairs, const std::vector<Index>& which) {
  std::size_t s = 1, t = 1;
  for (Index i : which) {
    s = std::max(s, pairs[to_size(i)].source.size());
    t = std::max(t, pairs[to_size(i)].target.size() + 1);
  }
  TeacherBatch b;
  b.src.assign(which.size() * s, pad_id);
  b.tgt_in.assign(which.size() * t, pad_id);
  b.targets.assign(which.size() * t, -100);
  for (std::size_t k = 0; k < which.size(); ++k) {
    const EncodedPair& p = pairs[to_size(which[k])];
    std::copy(p.source.begin(), p.source.end(), b.src.begin() + std::ptrdiff_t(k * s));
    b.src_lengths.push_back(to_index(p.source.size()));
    b.tgt_in[k * t] = bos_id;
    for (std::size_t j = 0; j < p.target.size(); ++j) {
      b.tgt_in[k * t + j + 1] = p.target[j];
      b.targets[k * t + j] = p.target[j];
    }
    b.targets[k * t + p.target.size()] = eos_id;
  }
  return b;
}

elm::train::Loss teacher_loss(Model& model, const TeacherBatch& b, double label_smoothing,
                              const elm::nn::ForwardContext* training) {
  elm::nn::CrossEntropyOptions options;
  options.label_smoothing = label_smoothing;
  options.reduction = elm::nn::Reduction::sum;
  std::int64_t count = 0;
  for (Index t : b.targets) count += t == -100 ? 0 : 1;
  const double sum = training ? model.loss_and_backward(b.src, b.src_lengths, b.tgt_in, b.targets, options, *training)
                              : model.loss(b.src, b.src_lengths, b.tgt_in, b.targets, options);
  return {sum, count};
}

// Every key of `expected` must have the same value in the checkpoint at `path` (a model of other sizes, another
// vocabulary or another task would not continue the run).
void check_resume_metadata(const std::string& path, const std::map<std::string, std::string>& expected) {
  const elm::io::SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  for (const auto& [key, value] : expected) {
    const auto it = meta.find(key);
    const std::string got = it == meta.end() ? std::string("(none)") : it->second;
    if (got != value)
      throw elm::InvalidArgument(fmt::format("train --resume: {} was written with {} = {}, this run has {} = {}: "
                                             "resume with the options of the run that wrote it",
                                             path, key, got, key, value));
  }
}

int run_train(TrainArgs a) {
  if (a.task.data_dir.empty()) a.task.data_dir = elm::examples::find_data_dir(a.program_path.c_str(), "austen");
  const Task task = load_task(a.task);
  if (task.train.empty() || task.held_out.empty())
    throw elm::InvalidArgument(fmt::format("train: the {} task has {} training and {} held-out examples, expected "
                                           "some of each", a.task.name, task.train.size(),
                                           task.held_out.size()));
  // 1) the vocabularies and the lengths the model accepts
  std::vector<std::string> sources, targets;
  for (const auto& e : task.train) {
    sources.push_back(e.source);
    targets.push_back(e.target);
  }
  const auto source = character_tokenizer(sources), target = character_tokenizer(targets);
  std::vector<EncodedPair> pairs;
  std::size_t longest_source = 0, longest_target = 0;
  for (const auto& e : task.train) {
    pairs.push_back({source.encode(e.source), target.encode(e.target)});
    longest_source = std::max(longest_source, pairs.back().source.size());
    longest_target = std::max(longest_target, pairs.back().target.size());
  }
  for (const auto& e : task.held_out) {
    longest_source = std::max(longest_source, elm::text::decode_utf8(e.source).size());
    longest_target = std::max(longest_target, elm::text::decode_utf8(e.target).size());
  }
  const Index max_source = a.max_source_length > 0 ? a.max_source_length : to_index(longest_source) + 16;
  const Index max_target = to_index(longest_target) + 16;  // with room for its <eos>
  if (to_index(longest_source) > max_source)
    throw elm::InvalidArgument(fmt::format("train: --max-source-length {} is below the task's longest source ({} "
                                           "characters)", max_source, longest_source));
  // 2) the model
  auto config = a.config;
  config.src_vocab = source.size();
  config.tgt_vocab = target.size();
  config.pad_id = pad_id;
  config.bos_id = bos_id;
  config.eos_id = eos_id;
  config.attention = a.attention == "additive" ? elm::models::AttentionScore::additive
                     : a.attention == "dot"    ? elm::models::AttentionScore::dot
                                               : elm::models::AttentionScore::general;
  const elm::examples::TrainingArgs& t = a.training;
  elm::Rng init_rng(t.seed);
  Model model(config, init_rng);
  auto meta = model.metadata();
  for (const auto& [k, v] : task_metadata(a.task)) meta[k] = v;
  meta["max_source_length"] = std::to_string(max_source);
  meta["max_target_length"] = std::to_string(max_target);
  meta["batch_size"] = std::to_string(a.batch_size);
  meta["label_smoothing"] = fmt::format("{}", a.label_smoothing);
  fmt::print("task {}: {} training and {} held-out examples; characters: {} source, {} target (with <pad> <bos> "
             "<eos> <unk>)\n",
             a.task.name, task.train.size(), task.held_out.size(), source.size(), target.size());
  fmt::print("model: LSTM encoder-decoder, embedding {}, encoder {} x 2 x {}, decoder {}, {} attention; {} "
             "parameters; {} steps of {} x {} pairs\n",
             config.embedding_dim, config.encoder_layers, config.encoder_hidden, config.decoder_hidden, a.attention,
             elm::nn::count_parameters(model), t.steps, t.accumulation, a.batch_size);

  // 3) the trainer: shuffled batches of example indices (ShuffledExamples' labels), teacher forcing
  std::vector<std::vector<Index>> none(pairs.size());
  std::vector<Index> indices(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) indices[i] = to_index(i);
  elm::train::ShuffledExamples batches(none, indices, a.batch_size, t.seed);
  elm::nn::AdamW<float> optimizer = elm::examples::make_optimizer(t);
  const double smoothing = a.label_smoothing;
  elm::train::Trainer trainer(
      model, optimizer, batches,
      [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
        return teacher_loss(model, teacher_batch(pairs, b.labels), smoothing, &context);
      },
      elm::examples::trainer_options(t, meta));
  // held-out teacher-forced cross-entropy (no smoothing) on up to 512 held-out pairs
  std::vector<EncodedPair> held_pairs;
  for (std::size_t i = 0; i < std::min<std::size_t>(512, task.held_out.size()); ++i)
    held_pairs.push_back({source.encode(task.held_out[i].source), target.encode(task.held_out[i].target)});
  std::vector<Index> held_indices(held_pairs.size());
  for (std::size_t i = 0; i < held_pairs.size(); ++i) held_indices[i] = to_index(i);
  trainer.set_evaluation(
      elm::train::labelled_batches(std::vector<std::vector<Index>>(held_pairs.size()), held_indices, a.eval_batch),
      [&](const elm::train::LabelledBatch& b) {
        return teacher_loss(model, teacher_batch(held_pairs, b.labels), 0.0, nullptr);
      });
  if (!t.resume_path.empty()) check_resume_metadata(t.resume_path, meta);
  elm::examples::resume_if_asked(trainer, t);
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);
  fmt::print("trained {} steps ({} target tokens) in {:.1f} s: {:.0f} tokens/s; last loss {:.3f}{}\n",
             result.losses.size(), result.tokens, result.seconds,
             result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0,
             result.losses.empty() ? 0.0 : result.losses.back(), result.out_of_time ? " (time budget reached)" : "");
  for (const auto& e : result.evaluations)
    fmt::print("held-out teacher-forced loss after step {}: {:.4f} ({} tokens)\n", e.step, e.loss, e.tokens);

  // 4) the model directory, the loss curve, held-out exact match (greedy)
  const fs::path out(t.out_dir);
  elm::io::save_parameters((out / "model.safetensors").string(), model, meta);
  elm::io::write_text_atomically((out / "source_vocab.txt").string(), source.vocabulary().to_text());
  elm::io::write_text_atomically((out / "target_vocab.txt").string(), target.vocabulary().to_text());
  elm::io::write_text_atomically((out / "loss.csv").string(), elm::examples::loss_csv(result));
  elm::io::write_text_atomically(
      (out / "loss.svg").string(),
      elm::examples::loss_svg(result, fmt::format("elm-seq2seq: training loss ({}, LSTM {} / {}, {} attention)",
                                                  a.task.name, config.encoder_hidden, config.decoder_hidden,
                                                  a.attention)));
  score_held_out(model, source, target, task, a.eval_examples, decoding_config(1, 1, 1.0, max_target), a.eval_batch,
                 "greedy", a.quiet);
  fmt::print("wrote {}/model.safetensors, source_vocab.txt, target_vocab.txt, loss.csv, loss.svg, "
             "training_state.safetensors\n", t.out_dir);
  return 0;
}

// ---- the cross-attention alignment of one translation, as a picture ----

// The attention weights of the decoder producing `tokens` (a hypothesis, <eos> included) from `source`: row t is
// step t's distribution over the source's characters, read from the teacher-forced forward's cache.
std::vector<std::vector<double>> attention_weights(const Model& model, const std::vector<int>& source,
                                                   const std::vector<int>& tokens) {
  std::vector<Index> src(source.begin(), source.end()), tgt_in{bos_id};
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t) tgt_in.push_back(tokens[t]);
  Model::Cache cache;
  elm::Matrix<float> logits;
  model.forward(src, {to_index(src.size())}, tgt_in, logits, &cache);
  std::vector<std::vector<double>> rows;
  for (const auto& step : cache.steps) {
    const auto& alpha = step.alpha.front();
    rows.emplace_back(alpha.data(), alpha.data() + alpha.size());
  }
  return rows;
}

// A heat map of the weights: one column per source character (labelled on top), one row per output token
// (labelled on the left), darker for more weight.
std::string alignment_svg(const std::vector<std::string>& source_labels,
                          const std::vector<std::string>& output_labels,
                          const std::vector<std::vector<double>>& weights, const std::string& title) {
  const double cell = 18, left = 60, top = 70;
  const double w = left + cell * double(source_labels.size()) + 20, h = top + cell * double(output_labels.size()) + 20;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"monospace\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-family=\"sans-serif\" font-size=\"13\">{2}</text>\n",
      w, h, elm::examples::xml_escape(title));
  for (std::size_t s = 0; s < source_labels.size(); ++s)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                       left + cell * (double(s) + 0.5), top - 6, elm::examples::xml_escape(source_labels[s]));
  for (std::size_t t = 0; t < output_labels.size(); ++t) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6,
                       top + cell * (double(t) + 0.7), elm::examples::xml_escape(output_labels[t]));
    for (std::size_t s = 0; s < weights[t].size(); ++s)
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"#08519c\" "
                         "fill-opacity=\"{:.3f}\" stroke=\"#eee\"/>\n",
                         left + cell * double(s), top + cell * double(t), cell, cell, weights[t][s]);
  }
  return svg + "</svg>\n";
}

// Writes the alignment of the first source's best hypothesis to `path`.
void write_alignment(const std::string& path, const Saved& saved, const std::string& line,
                     const std::vector<int>& source, const std::vector<int>& tokens) {
  std::vector<std::string> source_labels, output_labels;
  for (const char32_t c : elm::text::decode_utf8(line)) source_labels.push_back(elm::text::encode_utf8({&c, 1}));
  for (const int t : tokens)
    output_labels.push_back(t == eos_id ? std::string("<eos>") : saved.target.decode({Index(t)}));
  const auto weights = attention_weights(saved.model, source, tokens);
  elm::io::write_text_atomically(
      path, alignment_svg(source_labels, output_labels, weights,
                          fmt::format("cross-attention: \"{}\" -> \"{}\"", line,
                                      hypothesis_text(saved.target, tokens))));
}

// ---- translate ----

struct TranslateArgs {
  std::string model_dir, alignment_path;
  Index beam = 1, n_best = 1, batch = 32;
  double length_penalty = 1.0;
  bool json = false, quiet = false;
};

int run_translate(const TranslateArgs& a) {
  if (a.beam < 1)
    throw elm::InvalidArgument(fmt::format("translate: --beam {}, expected a beam width >= 1 (1: greedy)", a.beam));
  if (a.n_best < 1 || a.n_best > a.beam)
    throw elm::InvalidArgument(fmt::format("translate: --n-best {}, expected 1 <= n-best <= --beam = {}", a.n_best,
                                           a.beam));
  const Saved saved = load_saved(a.model_dir);
  // Every line is read and checked before any is decoded: a bad line stops the run before output begins.
  std::vector<std::string> lines;
  std::vector<std::vector<int>> sources;
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t number = lines.size() + 1;
    if (line.empty())
      throw elm::InvalidArgument(fmt::format("translate: line {} of the input is empty, expected a source to "
                                             "translate", number));
    auto ids = saved.source.encode(line);
    if (to_index(ids.size()) > saved.max_source_length)
      throw elm::InvalidArgument(fmt::format("translate: line {} of the input has {} characters, expected at most "
                                             "{} (the model's max_source_length)",
                                             number, ids.size(), saved.max_source_length));
    lines.push_back(std::move(line));
    sources.push_back(to_ints(ids));
  }
  const auto lists = decode(saved.model, sources,
                            decoding_config(a.beam, a.n_best, a.length_penalty, saved.max_target_length), a.batch,
                            "translate", a.quiet);
  if (!a.alignment_path.empty() && !lists.empty())
    write_alignment(a.alignment_path, saved, lines.front(), sources.front(), lists.front().front().tokens);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    for (std::size_t r = 0; r < lists[i].size(); ++r) {
      const auto& h = lists[i][r];
      const std::string text = hypothesis_text(saved.target, h.tokens);
      if (a.json) {
        elm::examples::print_json_line(elm::examples::JsonObject()
                                           .add("line", elm::examples::json_number(i + 1))
                                           .add("rank", elm::examples::json_number(r + 1))
                                           .add("source", elm::examples::json_string(lines[i]))
                                           .add("text", elm::examples::json_string(text))
                                           .add("score", elm::examples::json_number(h.score))
                                           .add("log_prob", elm::examples::json_number(h.sum_logprobs))
                                           .str());
      } else {
        fmt::print("{}\t{:.4f}\n", text, h.score);
      }
    }
    if (!a.json && a.n_best > 1) fmt::print("\n");
  }
  return 0;
}

// ---- evaluate ----

struct EvaluateArgs {
  std::string program_path, model_dir, data_dir;
  Index beam = 4, batch = 32;
  double length_penalty = 1.0;
  std::size_t examples = 0;
  bool quiet = false;
};

int run_evaluate(const EvaluateArgs& a) {
  if (a.beam < 1)
    throw elm::InvalidArgument(fmt::format("evaluate: --beam {}, expected a beam width >= 1", a.beam));
  const Saved saved = load_saved(a.model_dir);
  TaskOptions options = saved.task;
  options.data_dir = a.data_dir.empty() ? elm::examples::find_data_dir(a.program_path.c_str(), "austen") : a.data_dir;
  const Task task = load_task(options);
  fmt::print("task {}: {} held-out examples{}\n", options.name, task.held_out.size(),
             a.examples > 0 && a.examples < task.held_out.size() ? fmt::format(" (scoring the first {})", a.examples)
                                                                 : std::string());
  score_held_out(saved.model, saved.source, saved.target, task, a.examples,
                 decoding_config(1, 1, a.length_penalty, saved.max_target_length), a.batch, "greedy", a.quiet);
  score_held_out(saved.model, saved.source, saved.target, task, a.examples,
                 decoding_config(a.beam, 1, a.length_penalty, saved.max_target_length), a.batch,
                 fmt::format("beam {}", a.beam), a.quiet);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A character-level LSTM encoder-decoder with attention: train it on a bundled task (dates to ISO 8601, "
               "or Austen's casing and punctuation), translate lines of standard input, evaluate on the held-out "
               "split. Characters outside a model's vocabulary read as <unk>."};
  app.require_subcommand(1);
  elm::examples::Commands commands;

  // ---- train ----
  TrainArgs t;
  t.program_path = argv[0];
  t.config.embedding_dim = 32;
  t.config.encoder_hidden = 64;
  t.config.decoder_hidden = 128;
  t.config.attention_dim = 64;
  t.training.out_dir = "seq2seq-out";
  t.training.lr = 3e-3;
  t.training.steps = 3000;
  t.training.seconds = 0;
  t.training.warmup = 100;
  auto* train = app.add_subcommand("train", "Train a model on a task; write it, its vocabularies, its loss curve and "
                                            "a checkpoint to --out; report held-out exact match (greedy)");
  train->add_option("--task", t.task.name, "dates (written dates to ISO 8601) or restore (Austen's casing and "
                                           "punctuation)")
      ->check(CLI::IsMember({"dates", "restore"}))
      ->capture_default_str();
  train->add_option("--data", t.task.data_dir, "Folder of the Austen novels (restore; default: the bundled ones)");
  train->add_option("--task-seed", t.task.seed, "Seed of the task's examples")->capture_default_str();
  train->add_option("--train-examples", t.task.train_examples, "Training examples (restore: at most)")
      ->capture_default_str();
  train->add_option("--held-out-examples", t.task.held_out_examples, "Held-out examples (restore: at most)")
      ->capture_default_str();
  train->add_option("--max-chars", t.task.max_chars,
                    "restore: the longest sentence kept, in bytes (the shortest: 16)")
      ->capture_default_str();
  train->add_option("--model", t.model, "The architecture: lstm (the LSTM encoder-decoder with attention)")
      ->check(CLI::IsMember({"lstm"}))
      ->capture_default_str();
  train->add_option("--embedding", t.config.embedding_dim, "Character embedding width")->capture_default_str();
  train->add_option("--encoder-hidden", t.config.encoder_hidden, "Encoder LSTM width per direction")
      ->capture_default_str();
  train->add_option("--encoder-layers", t.config.encoder_layers, "Encoder LSTM layers")->capture_default_str();
  train->add_option("--decoder-hidden", t.config.decoder_hidden, "Decoder LSTM width (dot attention: 2 x "
                                                                 "--encoder-hidden)")
      ->capture_default_str();
  train->add_option("--attention", t.attention, "additive (Bahdanau), dot or general (Luong)")
      ->check(CLI::IsMember({"additive", "dot", "general"}))
      ->capture_default_str();
  train->add_option("--attention-dim", t.config.attention_dim, "Width of the additive score")->capture_default_str();
  train->add_option("--batch", t.batch_size, "Example pairs per micro-batch")->capture_default_str();
  train->add_option("--label-smoothing", t.label_smoothing, "Label smoothing of the training loss")
      ->capture_default_str();
  train->add_option("--max-source-length", t.max_source_length, "Longest source (characters) the model accepts "
                                                                "(0: the task's longest + 16)")
      ->capture_default_str();
  train->add_option("--eval-examples", t.eval_examples, "Held-out examples decoded at the end (0: all)")
      ->capture_default_str();
  elm::examples::add_training_options(train, t.training, "model.safetensors, source_vocab.txt, target_vocab.txt, "
                                                         "loss.csv, loss.svg, training_state.safetensors");
  train->add_flag("--quiet", t.quiet, "No progress bar");
  commands.add(train, [&t] { return run_train(t); });

  // ---- translate ----
  TranslateArgs tr;
  auto* translate = app.add_subcommand("translate", "Decode each line of standard input; print per line its n-best "
                                                    "list as 'text<TAB>score' (a blank line after each list when "
                                                    "--n-best > 1), or JSON lines. An empty line or one longer than "
                                                    "the model's max_source_length is an error");
  translate->add_option("--model", tr.model_dir, "Folder written by train (--out)")->required();
  translate->add_option("--beam", tr.beam, "Beam width (1: greedy decoding)")->capture_default_str();
  translate->add_option("--n-best", tr.n_best, "Hypotheses printed per line (at most --beam)")->capture_default_str();
  translate->add_option("--length-penalty", tr.length_penalty, "Score = log-probability / length ^ this "
                                                               "(Hugging Face's)")
      ->capture_default_str();
  translate->add_option("--batch", tr.batch, "Lines decoded together")->check(CLI::PositiveNumber)
      ->capture_default_str();
  translate->add_flag("--json", tr.json, "JSON lines: line, rank, source, text, score, log_prob");
  translate->add_option("--alignment", tr.alignment_path, "Write the cross-attention weights of the first line's "
                                                          "best hypothesis to this SVG file");
  translate->add_flag("--quiet", tr.quiet, "No progress line");
  commands.add(translate, [&tr] { return run_translate(tr); });

  // ---- evaluate ----
  EvaluateArgs ev;
  ev.program_path = argv[0];
  auto* evaluate = app.add_subcommand("evaluate", "Exact match and character error rate of a saved model on its "
                                                  "task's held-out split, greedy and beam search (dates: per format)");
  evaluate->add_option("--model", ev.model_dir, "Folder written by train (--out)")->required();
  evaluate->add_option("--beam", ev.beam, "Beam width of the beam-search row")->capture_default_str();
  evaluate->add_option("--length-penalty", ev.length_penalty, "As translate's")->capture_default_str();
  evaluate->add_option("--examples", ev.examples, "Score the first N held-out examples (0: all)")
      ->capture_default_str();
  evaluate->add_option("--data", ev.data_dir, "Folder of the Austen novels (restore; default: the bundled ones)");
  evaluate->add_option("--batch", ev.batch, "Sources decoded together")->check(CLI::PositiveNumber)
      ->capture_default_str();
  evaluate->add_flag("--quiet", ev.quiet, "No progress line");
  commands.add(evaluate, [&ev] { return run_evaluate(ev); });

  return commands.run(app, argc, argv, program);
}
