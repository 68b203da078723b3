// SPDX-License-Identifier: MIT
// elm-seq2seq: a character-level sequence-to-sequence model, either the Transformer encoder-decoder
// (TransformerSeq2Seq) or an LSTM encoder-decoder with attention (LstmSeq2Seq). `train` teaches it a bundled task
// (dates written many ways to ISO 8601, or Austen's sentences restored from lower-cased unpunctuated text) with
// elm::train::Trainer; `translate` decodes lines of standard input with greedy or beam search; `evaluate` scores a
// saved model on its task's held-out split. A saved model's metadata says which architecture it is.
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
#include "elm/models/transformer_seq2seq.hpp"
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
using Lstm = elm::models::LstmSeq2Seq<float>;
using Transformer = elm::models::TransformerSeq2Seq<float>;

namespace {

constexpr const char* program = "elm-seq2seq";
constexpr int pad_id = 0, bos_id = 1, eos_id = 2;

// ---- the tasks ----

// What makes a task's examples: train and evaluate rebuild the same split from these (kept in the model's metadata).
struct TaskOptions {
  std::string name = "dates", data_dir;
  std::uint64_t seed = 11;
  std::size_t train_examples = 20000, held_out_examples = 2600, max_chars = 80;
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

// What the program needs of a model's configuration, whichever the architecture.
struct Sizes {
  Index source_vocab, target_vocab, pad, bos, eos;
};
Sizes sizes_of(const Lstm& m) {
  const auto& c = m.config();
  return {c.src_vocab, c.tgt_vocab, c.pad_id, c.bos_id, c.eos_id};
}
Sizes sizes_of(const Transformer& m) {
  const auto& c = m.config();
  return {c.source_vocab_size, c.target_vocab_size, c.pad_id, c.bos_id, c.eos_id};
}

template <typename Model>
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

template <typename Model>
Saved<Model> load_saved(const elm::io::SafetensorsReader& reader, const std::string& dir) {
  const std::string& path = reader.path();
  Model model(Model::config_from(reader));
  elm::io::load_parameters(reader, model);
  const auto& meta = reader.metadata();
  const Sizes z = sizes_of(model);
  if (z.pad != pad_id || z.bos != bos_id || z.eos != eos_id)
    throw elm::FormatError(fmt::format("{} has pad, bos, eos = {}, {}, {}, expected {}'s 0, 1, 2", path, z.pad, z.bos,
                                       z.eos, program));
  auto source = read_vocabulary(fs::path(dir) / "source_vocab.txt", z.source_vocab, path, "source");
  auto target = read_vocabulary(fs::path(dir) / "target_vocab.txt", z.target_vocab, path, "target");
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

// Loads the model in `dir` and calls use(saved) with it: a Saved<Lstm> or a Saved<Transformer>, as the file's
// "architecture" metadata says. Throws FormatError for another architecture.
template <typename Use>
int with_saved_model(const std::string& dir, Use&& use) {
  const std::string path = (fs::path(dir) / "model.safetensors").string();
  const elm::io::SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  const auto it = meta.find("architecture");
  const std::string architecture = it == meta.end() ? std::string("(none)") : it->second;
  if (architecture == Transformer::architecture) return use(load_saved<Transformer>(reader, dir));
  if (architecture == Lstm::architecture) return use(load_saved<Lstm>(reader, dir));
  throw elm::FormatError(fmt::format("{} holds architecture '{}', expected '{}' or '{}': is it a model {} train "
                                     "wrote?",
                                     path, architecture, Lstm::architecture, Transformer::architecture, program));
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
template <typename Model>
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

// Exact match and character error rate of the first `limit` held-out examples (0: all), overall and per group;
// then up to `errors` of the examples decoded wrong.
template <typename Model>
void score_held_out(const Model& model, const elm::text::SplitTokenizer& source,
                    const elm::text::SplitTokenizer& target, const Task& task, std::size_t limit,
                    const elm::models::BeamSearchConfig& config, Index batch, const std::string& label, bool quiet,
                    std::size_t errors = 0) {
  const std::size_t n = limit == 0 ? task.held_out.size() : std::min(limit, task.held_out.size());
  std::vector<std::vector<int>> sources;
  for (std::size_t i = 0; i < n; ++i) sources.push_back(to_ints(source.encode(task.held_out[i].source)));
  const auto t0 = std::chrono::steady_clock::now();
  const auto lists = decode(model, sources, config, batch, label.c_str(), quiet);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Score overall;
  std::map<std::string, Score> groups;
  std::vector<std::string> order, wrong;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string hypothesis = hypothesis_text(target, lists[i].front().tokens);
    overall.add(hypothesis, task.held_out[i].target);
    if (hypothesis != task.held_out[i].target && wrong.size() < errors)
      wrong.push_back(fmt::format("  {}  ->  {}  (expected {})", task.held_out[i].source, hypothesis,
                                  task.held_out[i].target));
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
  if (!wrong.empty()) fmt::print("{}: the first {} decoded wrong\n", label, wrong.size());
  for (const auto& w : wrong) fmt::print("{}\n", w);
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
  std::string program_path, model = "transformer", attention = "general", positions = "sinusoidal";
  TaskOptions task;
  elm::examples::TrainingArgs training;
  elm::models::LstmSeq2SeqConfig lstm;
  elm::models::TransformerSeq2SeqConfig transformer;
  Index batch_size = 32, max_source_length = 0, eval_batch = 64;
  double label_smoothing = 0.1;
  std::size_t eval_examples = 0;
  bool quiet = false;
};

struct EncodedPair {
  std::vector<Index> source, target;
};

// A batch of teacher forcing for the LSTM: sources padded to the longest, the decoder's inputs <bos> y_1 .. y_n,
// its targets y_1 .. y_n <eos>, -100 (ignored by the loss) at padding.
struct TeacherBatch {
  std::vector<Index> src, src_lengths, tgt_in, targets;
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

elm::nn::CrossEntropyOptions summed_loss(double label_smoothing) {
  elm::nn::CrossEntropyOptions options;
  options.label_smoothing = label_smoothing;
  options.reduction = elm::nn::Reduction::sum;
  return options;
}

// The summed teacher-forced cross-entropy of the pairs `which` and its token count; with a training context, the
// gradient is added too.
elm::train::Loss teacher_loss(Lstm& model, const std::vector<EncodedPair>& pairs, const std::vector<Index>& which,
                              double label_smoothing, const elm::nn::ForwardContext* training) {
  const TeacherBatch b = teacher_batch(pairs, which);
  const auto options = summed_loss(label_smoothing);
  std::int64_t count = 0;
  for (Index t : b.targets) count += t == -100 ? 0 : 1;
  const double sum = training ? model.loss_and_backward(b.src, b.src_lengths, b.tgt_in, b.targets, options, *training)
                              : model.loss(b.src, b.src_lengths, b.tgt_in, b.targets, options);
  return {sum, count};
}

elm::train::Loss teacher_loss(Transformer& model, const std::vector<EncodedPair>& pairs,
                              const std::vector<Index>& which, double label_smoothing,
                              const elm::nn::ForwardContext* training) {
  std::vector<std::vector<Index>> sources, targets;
  std::int64_t count = 0;
  for (Index i : which) {
    sources.push_back(pairs[to_size(i)].source);
    targets.push_back(pairs[to_size(i)].target);
    count += to_index(targets.back().size()) + 1;  // its characters and <eos>
  }
  std::vector<Index> labels;
  const auto batch = model.make_batch(sources, targets, labels);
  const auto options = model.loss_options(label_smoothing, elm::nn::Reduction::sum);
  const double sum = training ? double(model.loss_and_backward(batch, labels, options, *training))
                              : double(model.loss(batch, labels, options));
  return {sum, count};
}

// One line saying what is trained.
std::string describe(const Lstm& model, const TrainArgs& a) {
  const auto& c = model.config();
  return fmt::format("LSTM encoder-decoder, embedding {}, encoder {} x 2 x {}, decoder {}, {} attention", c.embedding_dim,
                     c.encoder_layers, c.encoder_hidden, c.decoder_hidden, a.attention);
}
std::string describe(const Transformer& model, const TrainArgs& a) {
  const auto& c = model.config();
  return fmt::format("Transformer encoder-decoder, width {}, {} heads, {} + {} layers, feed-forward {}, {} "
                     "positions, {}, dropout {}",
                     c.width, c.heads, c.encoder_layers, c.decoder_layers, c.intermediate, a.positions,
                     c.norm_first ? "pre-norm" : "post-norm", c.dropout);
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

// What training needs besides the model: the task, its encoded pairs, the vocabularies and the lengths.
struct Prepared {
  Task task;
  elm::text::SplitTokenizer source, target;
  std::vector<EncodedPair> pairs;
  Index max_source = 0, max_target = 0;
};

// Trains `model` on the prepared task, then writes the model directory and reports held-out exact match.
template <typename Model>
int train_and_save(const TrainArgs& a, Model& model, const Prepared& p) {
  const elm::examples::TrainingArgs& t = a.training;
  auto meta = model.metadata();
  for (const auto& [k, v] : task_metadata(a.task)) meta[k] = v;
  meta["max_source_length"] = std::to_string(p.max_source);
  meta["max_target_length"] = std::to_string(p.max_target);
  meta["batch_size"] = std::to_string(a.batch_size);
  meta["label_smoothing"] = fmt::format("{}", a.label_smoothing);
  fmt::print("task {}: {} training and {} held-out examples; characters: {} source, {} target (with <pad> <bos> "
             "<eos> <unk>)\n",
             a.task.name, p.task.train.size(), p.task.held_out.size(), p.source.size(), p.target.size());
  fmt::print("model: {}; {} parameters; {} steps of {} x {} pairs\n", describe(model, a),
             elm::nn::count_parameters(model), t.steps, t.accumulation, a.batch_size);

  // the trainer: shuffled batches of example indices (ShuffledExamples' labels), teacher forcing
  std::vector<std::vector<Index>> none(p.pairs.size());
  std::vector<Index> indices(p.pairs.size());
  for (std::size_t i = 0; i < p.pairs.size(); ++i) indices[i] = to_index(i);
  elm::train::ShuffledExamples batches(none, indices, a.batch_size, t.seed);
  elm::nn::AdamW<float> optimizer = elm::examples::make_optimizer(t);
  const double smoothing = a.label_smoothing;
  elm::train::Trainer trainer(
      model, optimizer, batches,
      [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
        return teacher_loss(model, p.pairs, b.labels, smoothing, &context);
      },
      elm::examples::trainer_options(t, meta));
  // held-out teacher-forced cross-entropy (no smoothing) on up to 512 held-out pairs
  std::vector<EncodedPair> held_pairs;
  for (std::size_t i = 0; i < std::min<std::size_t>(512, p.task.held_out.size()); ++i)
    held_pairs.push_back({p.source.encode(p.task.held_out[i].source), p.target.encode(p.task.held_out[i].target)});
  std::vector<Index> held_indices(held_pairs.size());
  for (std::size_t i = 0; i < held_pairs.size(); ++i) held_indices[i] = to_index(i);
  trainer.set_evaluation(
      elm::train::labelled_batches(std::vector<std::vector<Index>>(held_pairs.size()), held_indices, a.eval_batch),
      [&](const elm::train::LabelledBatch& b) { return teacher_loss(model, held_pairs, b.labels, 0.0, nullptr); });
  if (!t.resume_path.empty()) check_resume_metadata(t.resume_path, meta);
  elm::examples::resume_if_asked(trainer, t);
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);
  fmt::print("trained {} steps ({} target tokens) in {:.1f} s: {:.0f} tokens/s; last loss {:.3f}{}\n",
             result.losses.size(), result.tokens, result.seconds,
             result.seconds > 0 ? double(result.tokens) / result.seconds : 0.0,
             result.losses.empty() ? 0.0 : result.losses.back(), result.out_of_time ? " (time budget reached)" : "");
  for (const auto& e : result.evaluations)
    fmt::print("held-out teacher-forced loss after step {}: {:.4f} ({} tokens)\n", e.step, e.loss, e.tokens);

  // the model directory, the loss curve, held-out exact match (greedy)
  const fs::path out(t.out_dir);
  elm::io::save_parameters((out / "model.safetensors").string(), model, meta);
  elm::io::write_text_atomically((out / "source_vocab.txt").string(), p.source.vocabulary().to_text());
  elm::io::write_text_atomically((out / "target_vocab.txt").string(), p.target.vocabulary().to_text());
  elm::io::write_text_atomically((out / "loss.csv").string(), elm::examples::loss_csv(result));
  elm::io::write_text_atomically(
      (out / "loss.svg").string(),
      elm::examples::loss_svg(result, fmt::format("elm-seq2seq: training loss ({}, {})", a.task.name, a.model)));
  score_held_out(model, p.source, p.target, p.task, a.eval_examples, decoding_config(1, 1, 1.0, p.max_target),
                 a.eval_batch, "greedy", a.quiet);
  fmt::print("wrote {}/model.safetensors, source_vocab.txt, target_vocab.txt, loss.csv, loss.svg, "
             "training_state.safetensors\n", t.out_dir);
  return 0;
}

int run_train(TrainArgs a) {
  if (a.task.data_dir.empty()) a.task.data_dir = elm::examples::find_data_dir(a.program_path.c_str(), "austen");
  Task task = load_task(a.task);
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
  Prepared p{std::move(task), character_tokenizer(sources), character_tokenizer(targets), {}, 0, 0};
  std::size_t longest_source = 0, longest_target = 0;
  for (const auto& e : p.task.train) {
    p.pairs.push_back({p.source.encode(e.source), p.target.encode(e.target)});
    longest_source = std::max(longest_source, p.pairs.back().source.size());
    longest_target = std::max(longest_target, p.pairs.back().target.size());
  }
  for (const auto& e : p.task.held_out) {
    longest_source = std::max(longest_source, elm::text::decode_utf8(e.source).size());
    longest_target = std::max(longest_target, elm::text::decode_utf8(e.target).size());
  }
  p.max_source = a.max_source_length > 0 ? a.max_source_length : to_index(longest_source) + 16;
  p.max_target = to_index(longest_target) + 16;  // with room for its <eos>
  if (to_index(longest_source) > p.max_source)
    throw elm::InvalidArgument(fmt::format("train: --max-source-length {} is below the task's longest source ({} "
                                           "characters)", p.max_source, longest_source));
  // 2) the model
  elm::Rng init_rng(a.training.seed);
  if (a.model == "transformer") {
    auto config = a.transformer;
    config.source_vocab_size = p.source.size();
    config.target_vocab_size = p.target.size();
    config.pad_id = pad_id;
    config.bos_id = bos_id;
    config.eos_id = eos_id;
    config.max_positions = std::max(p.max_source, p.max_target);  // the decoder reads <bos> and up to max_target - 1
    config.positions = a.positions == "learned" ? elm::models::PositionKind::learned
                                                : elm::models::PositionKind::sinusoidal;
    Transformer model(config, init_rng);
    return train_and_save(a, model, p);
  }
  auto config = a.lstm;
  config.src_vocab = p.source.size();
  config.tgt_vocab = p.target.size();
  config.pad_id = pad_id;
  config.bos_id = bos_id;
  config.eos_id = eos_id;
  config.attention = a.attention == "additive" ? elm::models::AttentionScore::additive
                     : a.attention == "dot"    ? elm::models::AttentionScore::dot
                                               : elm::models::AttentionScore::general;
  Lstm model(config, init_rng);
  return train_and_save(a, model, p);
}

// ---- the cross-attention alignment of one translation, as a picture ----

// The attention weights of the decoder producing `tokens` (a hypothesis, <eos> included) from `source`: row t is
// step t's distribution over the source's characters, read from the teacher-forced forward's cache.
std::vector<std::vector<double>> attention_weights(const Lstm& model, const std::vector<int>& source,
                                                   const std::vector<int>& tokens) {
  std::vector<Index> src(source.begin(), source.end()), tgt_in{bos_id};
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t) tgt_in.push_back(tokens[t]);
  Lstm::Cache cache;
  elm::Matrix<float> logits;
  model.forward(src, {to_index(src.size())}, tgt_in, logits, &cache);
  std::vector<std::vector<double>> rows;
  for (const auto& step : cache.steps) {
    const auto& alpha = step.alpha.front();
    rows.emplace_back(alpha.data(), alpha.data() + alpha.size());
  }
  return rows;
}

// The Transformer's: the last decoder layer's cross-attention, averaged over its heads (the plain attention path
// keeps the weights in the cache, (S, H T) for one pair: column h T + t is head h at step t).
std::vector<std::vector<double>> attention_weights(const Transformer& model, const std::vector<int>& source,
                                                   const std::vector<int>& tokens) {
  std::vector<Index> labels;
  const std::vector<Index> target(tokens.begin(), tokens.end() - (tokens.empty() ? 0 : 1));
  const auto batch = model.make_batch({std::vector<Index>(source.begin(), source.end())}, {target}, labels);
  Transformer::Cache cache;
  elm::Matrix<float> logits;
  model.forward(batch, logits, &cache);
  const elm::Matrix<float>& w = cache.decoder.layers.back().cross_attn.plain.weights;
  const Index S = to_index(source.size()), T = to_index(target.size()) + 1, H = model.config().heads;
  if (w.rows() != S || w.cols() != H * T)
    throw elm::ShapeError(fmt::format("{}: the cross-attention weights are {} x {}, expected {} x {}", program,
                                      w.rows(), w.cols(), S, H * T));
  std::vector<std::vector<double>> rows(to_size(T), std::vector<double>(to_size(S), 0.0));
  for (Index h = 0; h < H; ++h)
    for (Index t = 0; t < T; ++t)
      for (Index s = 0; s < S; ++s) rows[to_size(t)][to_size(s)] += double(w(s, h * T + t)) / double(H);
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
template <typename Model>
void write_alignment(const std::string& path, const Saved<Model>& saved, const std::string& line,
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
  return with_saved_model(a.model_dir, [&](const auto& saved) {
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
  });
}

// ---- evaluate ----

struct EvaluateArgs {
  std::string program_path, model_dir, data_dir;
  Index beam = 4, batch = 32;
  double length_penalty = 1.0;
  std::size_t examples = 0, errors = 0;
  bool quiet = false;
};

int run_evaluate(const EvaluateArgs& a) {
  if (a.beam < 1)
    throw elm::InvalidArgument(fmt::format("evaluate: --beam {}, expected a beam width >= 1", a.beam));
  return with_saved_model(a.model_dir, [&](const auto& saved) {
    TaskOptions options = saved.task;
    options.data_dir = a.data_dir.empty() ? elm::examples::find_data_dir(a.program_path.c_str(), "austen") : a.data_dir;
    const Task task = load_task(options);
    fmt::print("task {}: {} held-out examples{}\n", options.name, task.held_out.size(),
               a.examples > 0 && a.examples < task.held_out.size() ? fmt::format(" (scoring the first {})", a.examples)
                                                                   : std::string());
    score_held_out(saved.model, saved.source, saved.target, task, a.examples,
                   decoding_config(1, 1, a.length_penalty, saved.max_target_length), a.batch, "greedy", a.quiet,
                   a.errors);
    score_held_out(saved.model, saved.source, saved.target, task, a.examples,
                   decoding_config(a.beam, 1, a.length_penalty, saved.max_target_length), a.batch,
                   fmt::format("beam {}", a.beam), a.quiet, a.errors);
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A character-level sequence-to-sequence model (the Transformer encoder-decoder, or an LSTM "
               "encoder-decoder with attention): train it on a bundled task (dates to ISO 8601, or Austen's casing "
               "and punctuation), translate lines of standard input, evaluate on the held-out split. Characters "
               "outside a model's vocabulary read as <unk>."};
  app.require_subcommand(1);
  elm::examples::Commands commands;

  // ---- train ----
  TrainArgs t;
  t.program_path = argv[0];
  t.lstm.embedding_dim = 32;
  t.lstm.encoder_hidden = 64;
  t.lstm.decoder_hidden = 128;
  t.lstm.attention_dim = 64;
  t.transformer.width = 128;
  t.transformer.heads = 4;
  t.transformer.encoder_layers = 3;
  t.transformer.decoder_layers = 3;
  t.transformer.intermediate = 512;
  t.transformer.dropout = 0.1;
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
  train->add_option("--model", t.model, "The architecture: transformer (the encoder-decoder Transformer) or lstm (the "
                                        "LSTM encoder-decoder with attention)")
      ->check(CLI::IsMember({"lstm", "transformer"}))
      ->capture_default_str();
  // the LSTM's sizes
  std::vector<CLI::Option*> lstm_options{
      train->add_option("--embedding", t.lstm.embedding_dim, "lstm: character embedding width")->capture_default_str(),
      train->add_option("--encoder-hidden", t.lstm.encoder_hidden, "lstm: encoder LSTM width per direction")
          ->capture_default_str(),
      train->add_option("--encoder-layers", t.lstm.encoder_layers, "lstm: encoder LSTM layers")->capture_default_str(),
      train->add_option("--decoder-hidden", t.lstm.decoder_hidden, "lstm: decoder LSTM width (dot attention: 2 x "
                                                                   "--encoder-hidden)")
          ->capture_default_str(),
      train->add_option("--attention", t.attention, "lstm: additive (Bahdanau), dot or general (Luong)")
          ->check(CLI::IsMember({"additive", "dot", "general"}))
          ->capture_default_str(),
      train->add_option("--attention-dim", t.lstm.attention_dim, "lstm: width of the additive score")
          ->capture_default_str()};
  // the Transformer's
  std::vector<CLI::Option*> transformer_options{
      train->add_option("--width", t.transformer.width, "transformer: d_model")->capture_default_str(),
      train->add_option("--heads", t.transformer.heads, "transformer: attention heads (dividing --width)")
          ->capture_default_str(),
      train->add_option("--layers", t.transformer.encoder_layers, "transformer: encoder layers, and decoder layers "
                                                                  "unless --decoder-layers (N of the paper)")
          ->capture_default_str(),
      train->add_option("--decoder-layers", t.transformer.decoder_layers, "transformer: decoder layers (default: "
                                                                          "--layers)"),
      train->add_option("--feed-forward", t.transformer.intermediate, "transformer: dim_feedforward")
          ->capture_default_str(),
      train->add_option("--dropout", t.transformer.dropout, "transformer: dropout of every layer and the "
                                                            "embeddings")
          ->capture_default_str(),
      train->add_option("--positions", t.positions, "transformer: sinusoidal or learned positions")
          ->check(CLI::IsMember({"sinusoidal", "learned"}))
          ->capture_default_str(),
      train->add_flag("--norm-first", t.transformer.norm_first, "transformer: pre-norm layers (post-norm, the "
                                                                "paper's, without it)")};
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
  commands.add(train, [&t, train, lstm_options, transformer_options] {
    // an option of the other architecture is a mistake worth naming, not something to ignore
    for (const auto* o : t.model == "lstm" ? transformer_options : lstm_options)
      if (o->count() > 0)
        throw elm::InvalidArgument(fmt::format("train: {} is an option of --model {}, this run trains --model {}",
                                               o->get_name(), t.model == "lstm" ? "transformer" : "lstm", t.model));
    if (train->get_option("--decoder-layers")->count() == 0) t.transformer.decoder_layers = t.transformer.encoder_layers;
    return run_train(t);
  });

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
  evaluate->add_option("--errors", ev.errors, "Print up to N examples each search decoded wrong (source, output, "
                                              "expected)")
      ->capture_default_str();
  evaluate->add_option("--data", ev.data_dir, "Folder of the Austen novels (restore; default: the bundled ones)");
  evaluate->add_option("--batch", ev.batch, "Sources decoded together")->check(CLI::PositiveNumber)
      ->capture_default_str();
  evaluate->add_flag("--quiet", ev.quiet, "No progress line");
  commands.add(evaluate, [&ev] { return run_evaluate(ev); });

  return commands.run(app, argc, argv, program);
}
