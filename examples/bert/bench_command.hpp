// SPDX-License-Identifier: MIT
// elm-bert bench: sentence-embedding throughput (sentences/s; BERT's hidden states, mean pooling, normalised) of a
// model directory or of a randomly initialised BERT of a standard size, on fixed-length sequences of random token
// ids (no tokenisation timed), and with --train the time of a fine-tuning step (a sequence classifier, AdamW).
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "command.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/optim/adamw.hpp"

namespace elm::examples::bert {

struct BenchArgs {
  std::string model_dir, config = "minilm";
  Index batch = 32, tokens = 128, runs = 3;
  int threads = 1;
  bool train = false;
  std::uint64_t seed = 1;
};

/// The sizes of --config: all-MiniLM-L6-v2's (6 layers, C = 384, 12 heads, F = 1536) or BERT-base's (12 layers,
/// C = 768, 12 heads, F = 3072), both with bert-base-uncased's V = 30522 and 512 positions.
inline models::BertConfig standard_bert(const std::string& name) {
  models::BertConfig c;  // base
  if (name == "minilm") {
    c.num_hidden_layers = 6;
    c.hidden_size = 384;
    c.intermediate_size = 1536;
  }
  return c;
}

/// The median of seconds timed by `run` over `runs` calls, after one warm-up call.
template <typename F>
double median_seconds(Index runs, F&& run) {
  run();
  std::vector<double> seconds;
  for (Index i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

inline int run_bench(const BenchArgs& a) {
  const int threads = set_bench_threads("elm-bert bench", a.threads);
  if (a.batch < 1 || a.tokens < 1 || a.runs < 1)
    throw InvalidArgument("bench: --batch, --tokens and --runs must be at least 1");
  Rng rng(a.seed);
  const bool from_dir = !a.model_dir.empty();
  const models::Bert<float> model = from_dir ? SentenceEncoder::load_body(a.model_dir)
                                             : models::Bert<float>(standard_bert(a.config), rng);
  const models::BertConfig& config = model.config();
  if (a.tokens > config.max_position_embeddings)
    throw InvalidArgument(fmt::format("bench: --tokens {} is longer than the model's {} positions", a.tokens,
                                      config.max_position_embeddings));
  models::BertBatch in;
  in.batch = a.batch;
  for (Index i = 0; i < a.batch * a.tokens; ++i)
    in.input_ids.push_back(static_cast<Index>(rng.below(std::uint64_t(config.vocab_size))));
  in.attention_mask.assign(in.input_ids.size(), 1);
  // the embeddings as `embed` computes them: hidden states, mean pooling over the mask, L2 normalisation
  const double embed_s = median_seconds(a.runs, [&] {
    Matrix<float> hidden, pooled;
    model.forward(in, hidden, pooled);
    const Matrix<float> e = models::pool_sentences<float>(hidden, in);
    if (!e.allFinite()) throw Error("bench: an embedding is not finite");
  });
  std::string train;
  if (a.train) {
    // a classifier of two labels on this body: forward with dropout, cross-entropy, backward, AdamW
    // (from a directory as `finetune` builds it; a random body gets a random head)
    io::BertClassifierOptions head;
    head.num_labels = 2;
    models::BertConfig with_head = config;
    with_head.num_labels = 2;
    models::BertForSequenceClassification<float> classifier =
        from_dir ? io::bert_classifier_from_pretrained<float>(a.model_dir, head, rng)
                 : models::BertForSequenceClassification<float>(with_head, rng);
    if (!from_dir) classifier.bert() = model;
    std::vector<Index> labels;
    for (Index i = 0; i < a.batch; ++i) labels.push_back(i % 2);
    nn::AdamWOptions options;
    options.lr = 2e-5;
    options.weight_decay = 0.01;
    nn::AdamW<float> optimizer(options);
    const double step_s = median_seconds(a.runs, [&] {
      classifier.zero_grad();
      classifier.loss_and_backward(in, labels, nn::ForwardContext::train(rng));
      optimizer.step(classifier);
    });
    train = fmt::format(", \"train_step_ms\": {:.6g}", 1000.0 * step_s);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("{{\"model\": {}, \"parameters\": {}, \"threads\": {}, \"batch\": {}, \"tokens\": {}, "
             "\"sentences_per_second\": {:.6g}, \"batch_ms\": {:.6g}{}, \"runs\": {}, \"peak_rss_mb\": {:.0f}}}\n",
             json_string(from_dir ? a.model_dir : a.config + " (random weights)"), nn::count_parameters(model),
             threads, a.batch, a.tokens, double(a.batch) / embed_s, 1000.0 * embed_s, train, a.runs,
             double(usage.ru_maxrss) / 1024.0);
  return 0;
}

/// Registers `bench` on app.
inline CLI::App* add_bench_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Sentence-embedding throughput (sentences/s: hidden states, mean pooling, normalised) on random "
               "token ids of a fixed length, and with --train a fine-tuning step's time; prints one JSON line "
               "(medians over --runs, after one warm-up run)");
  auto* model = cmd->add_option("--model", a->model_dir, "Hugging Face BERT or sentence-transformers directory");
  cmd->add_option("--config", a->config, "Without --model: a BERT of these sizes with random weights")
      ->check(CLI::IsMember({"minilm", "base"}))
      ->capture_default_str()
      ->excludes(model);
  cmd->add_option("--batch", a->batch, "Sequences per forward pass")->capture_default_str();
  cmd->add_option("--tokens", a->tokens, "Tokens per sequence (random ids, no padding)")->capture_default_str();
  add_bench_options(cmd, a->runs, a->threads);
  cmd->add_flag("--train", a->train, "Also time a fine-tuning step: a 2-label classifier on this body, batch "
                                     "--batch, dropout, cross-entropy, backward, AdamW");
  cmd->add_option("--seed", a->seed, "Seed of the random weights, ids and classifier")->capture_default_str();
  commands.add(cmd, [a] { return run_bench(*a); });
  return cmd;
}

}  // namespace elm::examples::bert
