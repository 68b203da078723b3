// SPDX-License-Identifier: MIT
// elm-text-cnn: Kim (2014)'s convolutional text classifier (word embeddings, filters of several widths,
// max-over-time pooling, dropout, a linear layer) trained with AdamW on the genre of Brown passages, the task of
// elm-bert finetune, beside the same multinomial naive Bayes bag-of-words baseline, in the same run.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/austen.hpp"
#include "common/brown_genre_task.hpp"
#include "common/commands.hpp"
#include "common/training_report.hpp"
#include "elm/classic/brown_genres.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/models/text_cnn.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/schedule.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/trainer.hpp"

namespace fs = std::filesystem;
using elm::Index;

namespace {

struct Args {
  std::string program, data_dir, out_dir = "text-cnn";
  elm::models::TextCnnConfig config;
  Index sentences = 2, max_passages_per_file = 8, min_count = 2, batch = 50;
  std::int64_t steps = 720, eval_every = 144;
  double lr = 1e-3, weight_decay = 0.01, warmup_fraction = 0.05, clip = 0.0;
  std::uint64_t seed = 1;
  bool quiet = false;
};

inline constexpr Index pad_id = 0, unk_id = 1;

// Words of the training passages seen at least min_count times (lower-cased corpus tokens), after the pad and
// unknown ids.
std::unordered_map<std::string, Index> make_vocabulary(const elm::classic::GenrePassages& task, Index min_count) {
  std::unordered_map<std::string, Index> counts, vocabulary;
  std::vector<std::string> order;
  for (const auto& p : task.train)
    for (const std::string& w : p.words) {
      const std::string lower = elm::examples::lower_case(w);
      if (counts[lower]++ == 0) order.push_back(lower);
    }
  for (const std::string& w : order)
    if (counts[w] >= min_count) vocabulary.emplace(w, unk_id + 1 + Index(vocabulary.size()));
  return vocabulary;
}

std::vector<std::vector<Index>> encode(const std::vector<elm::classic::LabelledPassage>& passages,
                                       const std::unordered_map<std::string, Index>& vocabulary,
                                       std::vector<Index>& labels, Index& unknown, Index& tokens) {
  std::vector<std::vector<Index>> out;
  for (const auto& p : passages) {
    std::vector<Index> ids;
    for (const std::string& w : p.words) {
      const auto it = vocabulary.find(elm::examples::lower_case(w));
      ids.push_back(it == vocabulary.end() ? unk_id : it->second);
      unknown += it == vocabulary.end() ? 1 : 0;
    }
    tokens += Index(ids.size());
    out.push_back(std::move(ids));
    labels.push_back(p.label);
  }
  return out;
}

// Held-out accuracy and summed cross-entropy (inference: no dropout).
struct Score {
  double loss = 0;
  Index correct = 0, examples = 0;
  double accuracy() const { return examples > 0 ? double(correct) / double(examples) : 0.0; }
};

Score score(const elm::models::TextCnn<float>& model, const std::vector<elm::train::LabelledBatch>& batches) {
  Score s;
  elm::Matrix<float> logits;
  elm::nn::CrossEntropyOptions sum;
  sum.reduction = elm::nn::Reduction::sum;
  for (const auto& b : batches) {
    model.forward(b.sequences, logits);
    s.loss += double(elm::nn::cross_entropy<float>(logits, b.labels, sum));
    for (Index n = 0; n < logits.cols(); ++n) {
      Index best = 0;
      logits.col(n).maxCoeff(&best);
      s.correct += best == b.labels[std::size_t(n)] ? 1 : 0;
    }
    s.examples += Index(b.labels.size());
  }
  return s;
}

int run(const Args& a) {
  const auto wall = std::chrono::steady_clock::now();
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  // 1) the task and the baseline
  const std::string data_dir = a.data_dir.empty() ? elm::examples::find_data_dir(a.program.c_str(), "brown")
                                                  : a.data_dir;
  elm::classic::GenrePassageOptions task_options;
  task_options.sentences = a.sentences;
  task_options.max_passages_per_file = a.max_passages_per_file;
  const auto task = elm::examples::load_genre_task(data_dir, task_options, "load_genre_task");
  fmt::print("task: genre of Brown passages of {} sentences ({}): {} genres; {} training passages from {} files, "
             "{} held out from {} files\n",
             a.sentences, data_dir, task.genres.size(), task.train.size(), task.train_files, task.held_out.size(),
             task.held_out_files);
  auto t0 = std::chrono::steady_clock::now();
  const double nb_accuracy = elm::examples::naive_bayes_accuracy(task);
  fmt::print("baseline: multinomial naive Bayes on bags of lower-cased words: held-out accuracy {:.4f} ({:.1f} s)\n",
             nb_accuracy, since(t0));

  // 2) the data as word ids: lower-cased corpus tokens, words seen fewer than min_count times in training -> unknown
  const auto vocabulary = make_vocabulary(task, a.min_count);
  std::vector<Index> train_labels, held_out_labels;
  Index train_unknown = 0, train_tokens = 0, held_out_unknown = 0, held_out_tokens = 0;
  const auto train_ids = encode(task.train, vocabulary, train_labels, train_unknown, train_tokens);
  const auto held_out_ids = encode(task.held_out, vocabulary, held_out_labels, held_out_unknown, held_out_tokens);
  fmt::print("vocabulary: {} words seen >= {} times in training, plus pad and unknown; {:.1f} tokens a training "
             "passage; unknown: {:.1f} % of training tokens, {:.1f} % of held-out ones\n",
             vocabulary.size(), a.min_count, double(train_tokens) / double(std::max<std::size_t>(train_ids.size(), 1)),
             100.0 * double(train_unknown) / double(std::max<Index>(train_tokens, 1)),
             100.0 * double(held_out_unknown) / double(std::max<Index>(held_out_tokens, 1)));

  // 3) the model
  elm::models::TextCnnConfig config = a.config;
  config.vocab_size = Index(vocabulary.size()) + 2;
  config.num_labels = Index(task.genres.size());
  config.pad_id = pad_id;
  elm::Rng init_rng(a.seed);
  elm::models::TextCnn<float> model(config, init_rng);
  std::string widths;
  for (Index k : config.kernel_sizes) widths += fmt::format("{}{}", widths.empty() ? "" : ", ", k);
  fmt::print("model: Kim's CNN (random embeddings): E = {}, {} filters of each width {}, ReLU, max over time, "
             "dropout {}, linear to {} genres; {} parameters\n",
             config.embedding_dim, config.filters, widths, config.dropout, config.num_labels,
             elm::nn::count_parameters(model));

  // 4) training: shuffled batches, AdamW, linear warmup and decay, held-out accuracy along the way
  elm::train::ShuffledExamples data(train_ids, train_labels, a.batch, a.seed);
  const auto held_out = elm::train::labelled_batches(held_out_ids, held_out_labels, 100);
  elm::nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-8, a.weight_decay});
  elm::train::TrainerOptions options;
  options.steps = a.steps;
  const auto warmup = std::min<std::int64_t>(std::int64_t(a.warmup_fraction * double(a.steps)), a.steps - 1);
  options.schedule = elm::nn::LrSchedule::warmup_linear(a.lr, warmup, a.steps, 0.0);
  options.clip_norm = a.clip;
  options.eval_every = a.eval_every;
  options.seed = a.seed;
  elm::train::Trainer trainer(model, optimizer, data,
                              [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
                                const float loss = model.loss_and_backward(b.sequences, b.labels, context);
                                return elm::train::Loss{double(loss), Index(b.labels.size())};
                              },
                              options);
  std::vector<std::pair<std::int64_t, double>> accuracies;
  Score last;
  trainer.set_evaluation([&] {
    last = score(model, held_out);
    accuracies.emplace_back(trainer.step(), last.accuracy());
    return elm::train::Loss{last.loss, last.examples};
  });
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);
  const double training_seconds = result.seconds - result.eval_seconds;
  fmt::print("trained {} steps of {} passages ({:.1f} epochs) in {:.1f} s ({:.3f} s a step)\n",
             result.losses.size(), a.batch, double(result.steps_done * a.batch) / double(train_ids.size()),
             training_seconds, training_seconds / double(std::max<std::size_t>(result.losses.size(), 1)));
  for (std::size_t i = 0; i < result.evaluations.size() && i < accuracies.size(); ++i)
    fmt::print("held-out after step {}: loss {:.3f}, accuracy {:.4f}\n", result.evaluations[i].step,
               result.evaluations[i].loss, accuracies[i].second);
  const Score final_score = !accuracies.empty() && accuracies.back().first == trainer.step() ? last : score(model, held_out);
  fmt::print("\nheld-out accuracy: text CNN {:.4f} ({} of {}), naive Bayes {:.4f}; {:.0f} s in all\n",
             final_score.accuracy(), final_score.correct, final_score.examples, nb_accuracy, since(wall));
  fs::create_directories(a.out_dir);
  elm::io::write_text_atomically((fs::path(a.out_dir) / "losses.csv").string(), elm::examples::loss_csv(result));
  elm::io::write_text_atomically((fs::path(a.out_dir) / "loss.svg").string(),
                                 elm::examples::loss_svg(result, "Text CNN on Brown genres: training loss"));
  fmt::print("wrote {}/losses.csv and loss.svg\n", a.out_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kim (2014)'s convolutional text classifier on the genre of Brown passages (the task of elm-bert "
               "finetune), beside a multinomial naive Bayes bag-of-words baseline"};
  app.require_subcommand(1);
  elm::examples::Commands commands;
  auto a = std::make_shared<Args>();
  a->program = argv[0];
  auto* c = app.add_subcommand("train", "Train the CNN with AdamW on Brown's genre task and report its held-out "
                                        "accuracy beside naive Bayes's");
  c->add_option("--data", a->data_dir, "Folder of the Brown corpus (ca01 ... cr09, cats.txt; default: "
                                       "examples/data/brown)");
  c->add_option("--out", a->out_dir, "Output folder: losses.csv, loss.svg")->capture_default_str();
  c->add_option("--sentences", a->sentences, "Sentences per passage")->capture_default_str();
  c->add_option("--max-passages-per-file", a->max_passages_per_file,
                "At most this many passages of each file, spread over it (0: all)")->capture_default_str();
  c->add_option("--min-count", a->min_count, "Words seen fewer times in training are unknown")->capture_default_str();
  c->add_option("--embedding", a->config.embedding_dim, "Word vectors' width E")->capture_default_str();
  c->add_option("--widths", a->config.kernel_sizes, "Filter widths (tokens)")->capture_default_str();
  c->add_option("--filters", a->config.filters, "Feature maps per width")->capture_default_str();
  c->add_option("--dropout", a->config.dropout, "Dropout on the pooled features")->capture_default_str();
  c->add_option("--batch", a->batch, "Passages per step")->capture_default_str();
  c->add_option("--steps", a->steps, "Optimizer steps")->capture_default_str();
  c->add_option("--lr", a->lr, "Peak AdamW learning rate")->capture_default_str();
  c->add_option("--weight-decay", a->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--warmup-fraction", a->warmup_fraction, "Linear warmup over this fraction of the steps, then "
                                                         "linear decay to 0")->capture_default_str();
  c->add_option("--clip", a->clip, "Gradient-norm clipping (0: off)")->capture_default_str();
  c->add_option("--eval-every", a->eval_every, "Held-out accuracy every N steps (0: at the end only)")
      ->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of the weights, the batches' order and dropout")->capture_default_str();
  c->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(c, [a] { return run(*a); });
  return commands.run(app, argc, argv, "elm-text-cnn");
}
