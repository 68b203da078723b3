// SPDX-License-Identifier: MIT
// elm-bert train-mlm: pretrains a small BERT from scratch with masked language modelling on a bundled corpus
// (Austen's sentences, WordPiece tokens of bert-base-uncased's vocabulary cut to the pieces the corpus uses) on
// elm::train::Trainer, reports the held-out masked-token accuracy, and writes a BertForMaskedLM directory that
// fill-mask, io::load_bert_hf and transformers read.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../common/austen.hpp"
#include "../common/training_report.hpp"
#include "command.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/masked_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/models/masked_lm_training.hpp"
#include "elm/train/trainer.hpp"

namespace elm::examples::bert {

struct TrainMlmArgs {
  std::string program, data_dir, vocab_dir, out_dir = "bert-mlm-out";
  Index layers = 2, width = 128, heads = 2, intermediate = 512, max_length = 64, batch = 32;
  std::int64_t steps = 2000, warmup = 100, eval_every = 250;
  double seconds = 0, lr = 1e-3, weight_decay = 0.01, clip = 1.0, dropout = 0.1, probability = 0.15;
  std::size_t eval_sentences = 2000;
  std::uint64_t seed = 1;
  bool whole_word = false, quiet = false;
};

/// A WordPiece vocabulary cut to the tokens `encodings` use and the special tokens, in the original order (the
/// greedy longest-match tokenisation of the corpus is unchanged: every piece it chose is kept, and no longer
/// piece is added); the encodings' ids are rewritten to it.
inline text::WordPieceTokenizer cut_vocabulary(const text::WordPieceTokenizer& full,
                                               std::vector<std::vector<Index>>& encodings) {
  std::vector<bool> used(std::size_t(full.vocab_size()), false);
  for (const auto& ids : encodings)
    for (Index id : ids) used[std::size_t(id)] = true;
  std::vector<std::string> tokens;
  std::vector<Index> remap(used.size(), -1);
  for (Index id = 0; id < full.vocab_size(); ++id)
    if (used[std::size_t(id)] || full.is_special_id(id)) {
      remap[std::size_t(id)] = to_index(tokens.size());
      tokens.push_back(full.vocabulary().tokens()[std::size_t(id)]);
    }
  for (auto& ids : encodings)
    for (Index& id : ids) id = remap[std::size_t(id)];
  return text::WordPieceTokenizer(text::Vocabulary(std::move(tokens)), full.config());
}

inline int run_train_mlm(const TrainMlmArgs& a) {
  namespace fs = std::filesystem;
  const std::string data_dir = a.data_dir.empty() ? find_data_dir(a.program.c_str(), "austen") : a.data_dir;
  // 1) the corpus: sentences 90/10, [CLS] sentence [SEP] truncated to max_length, a vocabulary cut to it
  const AustenSplit split = load_austen(data_dir);
  const text::WordPieceTokenizer full = io::load_bert_tokenizer(a.vocab_dir);
  text::EncodeOptions options;
  options.max_length = std::size_t(a.max_length);
  std::vector<std::vector<Index>> ids;
  for (const auto* part : {&split.train, &split.test})
    for (const auto& s : *part) ids.push_back(full.encode(s, options).ids);
  const text::WordPieceTokenizer tokenizer = cut_vocabulary(full, ids);
  const std::vector<std::vector<Index>> held_out_ids(
      ids.begin() + std::ptrdiff_t(split.train.size()),
      ids.begin() + std::ptrdiff_t(split.train.size() + std::min(split.test.size(), a.eval_sentences)));
  ids.resize(split.train.size());

  // 2) the model: a small BertForMaskedLM with Hugging Face's initialisation
  models::BertConfig config;
  config.vocab_size = tokenizer.vocab_size();
  config.hidden_size = a.width;
  config.num_hidden_layers = a.layers;
  config.num_attention_heads = a.heads;
  config.intermediate_size = a.intermediate;
  config.max_position_embeddings = a.max_length;
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = a.dropout;
  config.pad_token_id = tokenizer.pad_id();
  Rng init(a.seed);
  models::BertForMaskedLM<float> model(config, init);
  models::MaskingOptions masking;
  masking.probability = a.probability;
  masking.whole_word = a.whole_word;
  const models::TokenMasker masker = models::TokenMasker::from_tokenizer(tokenizer, masking);
  fmt::print("corpus {}: {} training sentences, {} held out (of {}); V = {} (bert-base-uncased's WordPiece "
             "vocabulary cut to the corpus)\n",
             data_dir, ids.size(), held_out_ids.size(), split.test.size(), config.vocab_size);
  fmt::print("model: BertForMaskedLM, {} layers, C = {}, {} heads, F = {}, T <= {}; {} parameters; {} steps of {} "
             "sentences, {:.0f} % masked{}\n",
             a.layers, a.width, a.heads, a.intermediate, a.max_length, nn::count_parameters(model), a.steps,
             a.batch, 100 * a.probability, a.whole_word ? " (whole words)" : "");

  // 3) the trainer: masked batches, AdamW, warmup and linear decay, clipping, held-out loss and accuracy
  models::MaskedLmBatches data(ids, a.batch, masker, tokenizer.pad_id(), a.seed);
  const std::vector<models::MaskedBatch> held_out =
      models::masked_held_out(held_out_ids, 64, masker, tokenizer.pad_id(), a.seed + 1);
  nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-6, a.weight_decay});
  train::TrainerOptions to;
  to.steps = a.steps;
  to.schedule = nn::LrSchedule::warmup_linear(a.lr, std::min(a.warmup, a.steps - 1), a.steps);
  to.clip_norm = a.clip;
  to.eval_every = a.eval_every;
  to.max_seconds = a.seconds;
  to.seed = a.seed;
  train::Trainer trainer(model, optimizer, data, models::masked_lm_step(model), to);
  std::vector<double> accuracies;  // of each evaluation, in order
  trainer.set_evaluation([&] {
    models::MaskedLmScore s;
    for (const auto& b : held_out) s += models::masked_lm_score(model, b);
    accuracies.push_back(s.accuracy());
    return train::Loss{s.loss_sum, s.count};
  });
  const auto result = run_with_progress_bar(trainer, a.quiet);
  const double seconds = result.seconds - result.eval_seconds;
  fmt::print("trained {} steps ({} masked tokens) in {:.1f} s of training: {:.2f} s/step; last loss {:.3f}{}\n",
             result.losses.size(), result.tokens, seconds, seconds / double(std::max<std::size_t>(1, result.losses.size())),
             result.losses.empty() ? 0.0 : result.losses.back(), result.out_of_time ? " (time budget reached)" : "");
  // the baseline of no context: the training text's most frequent token at every held-out masked position
  std::vector<std::int64_t> counts(std::size_t(config.vocab_size), 0);
  for (const auto& s : ids)
    for (Index id : s)
      if (masker.eligible(id)) ++counts[std::size_t(id)];
  const Index most = Index(std::max_element(counts.begin(), counts.end()) - counts.begin());
  std::int64_t masked = 0, most_right = 0;
  for (const auto& b : held_out)
    for (Index target : b.targets()) {
      ++masked;
      most_right += target == most ? 1 : 0;
    }
  for (std::size_t i = 0; i < result.evaluations.size(); ++i) {
    const auto& e = result.evaluations[i];
    fmt::print("held-out after step {} ({:.0f} s of training): masked-token loss {:.3f}, accuracy {:.2f} % of {} "
               "masked tokens\n",
               e.step, e.seconds, e.loss, i < accuracies.size() ? 100 * accuracies[i] : 0.0, masked);
  }

  fmt::print("baseline: the most frequent training token ('{}') at every masked position: accuracy {:.2f} %\n",
             tokenizer.vocabulary().tokens()[std::size_t(most)], 100.0 * double(most_right) / double(std::max<std::int64_t>(1, masked)));

  // 4) the model directory, the loss curve
  io::save_bert_hf(model, a.out_dir);
  io::write_text_atomically((fs::path(a.out_dir) / "vocab.txt").string(), tokenizer.vocabulary().to_text());
  io::write_text_atomically((fs::path(a.out_dir) / "loss.csv").string(), loss_csv(result));
  io::write_text_atomically((fs::path(a.out_dir) / "loss.svg").string(),
                            loss_svg(result, fmt::format("elm-bert train-mlm: masked-LM loss ({} layers, C = {})",
                                                         a.layers, a.width)));
  fmt::print("wrote {}: config.json, model.safetensors, vocab.txt, loss.csv, loss.svg\n", a.out_dir);
  return 0;
}

/// Registers `train-mlm` on app; `program` (argv[0]) is where the bundled data is found from.
inline CLI::App* add_train_mlm_command(CLI::App& app, Commands& commands, const char* program) {
  auto a = std::make_shared<TrainMlmArgs>();
  a->program = program;
  a->vocab_dir = find_data_dir(program, "bert-base-uncased");
  CLI::App* c = app.add_subcommand("train-mlm", "Pretrain a small BERT from scratch with masked language modelling "
                                                "on Austen's sentences; report the held-out masked-token accuracy");
  c->add_option("--data", a->data_dir, "Folder of the corpus's *.txt (default: examples/data/austen)");
  c->add_option("--vocab", a->vocab_dir, "Folder of the WordPiece vocab.txt, cut to the corpus's tokens")
      ->capture_default_str();
  c->add_option("--out", a->out_dir, "Output folder: config.json, model.safetensors, vocab.txt, loss.csv, loss.svg")
      ->capture_default_str();
  c->add_option("--layers", a->layers, "Encoder blocks")->capture_default_str();
  c->add_option("--width", a->width, "Width C (hidden_size)")->capture_default_str();
  c->add_option("--heads", a->heads, "Attention heads, dividing the width")->capture_default_str();
  c->add_option("--intermediate", a->intermediate, "Feed-forward width F")->capture_default_str();
  c->add_option("--max-length", a->max_length, "Longest sequence in tokens ([CLS] and [SEP] included): the "
                                                "position table")->capture_default_str();
  c->add_option("--batch", a->batch, "Sentences per step")->capture_default_str();
  c->add_option("--steps", a->steps, "Optimizer steps (the schedule's length)")->capture_default_str();
  c->add_option("--seconds", a->seconds, "Stop after this many seconds of training (0: run all steps)")
      ->capture_default_str();
  c->add_option("--lr", a->lr, "Peak AdamW learning rate")->capture_default_str();
  c->add_option("--warmup", a->warmup, "Linear warmup steps")->capture_default_str();
  c->add_option("--weight-decay", a->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--clip", a->clip, "Gradient-norm clipping (0: off)")->capture_default_str();
  c->add_option("--dropout", a->dropout, "Dropout of embeddings, attention and residuals")->capture_default_str();
  c->add_option("--mask-probability", a->probability, "Share of the tokens selected (of those 80 % [MASK], 10 % "
                                                      "random, 10 % unchanged)")->capture_default_str();
  c->add_flag("--whole-word", a->whole_word, "Select whole words (a token with its ## continuations)");
  c->add_option("--eval-every", a->eval_every, "Held-out loss and accuracy every N steps (0: at the end only)")
      ->capture_default_str();
  c->add_option("--eval-sentences", a->eval_sentences, "Held-out sentences scored")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of initialisation, batches, masks and dropout")->capture_default_str();
  c->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(c, [a] { return run_train_mlm(*a); });
  return c;
}

}  // namespace elm::examples::bert
