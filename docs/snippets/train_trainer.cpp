// docs/snippets/train_trainer.cpp
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "elm/nn/embedding.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

namespace nn = elm::nn;
namespace train = elm::train;

// A bigram language model, the smallest that plugs into the trainer: the logits of the next token are the row of
// a V x V table that the current token selects. What the trainer needs is for_each_parameter and a step.
struct Bigram {
  nn::Embedding<float> table;
  explicit Bigram(elm::Index v) : table(v, v) {}
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) { table.for_each_parameter(nn::join_name(prefix, "table"), f); }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    table.for_each_parameter(nn::join_name(prefix, "table"), f);
  }
  // The summed cross-entropy of a batch (the trainer averages over the tokens of a whole step).
  train::Loss loss(const train::TokenBatch& b) const {
    elm::Matrix<float> logits;
    table.forward(b.inputs, logits);
    return {nn::cross_entropy<float>(logits, b.targets, summed()), b.tokens};
  }
  // The same, and its gradient added into the table's: what the trainer's step function does.
  train::Loss loss_and_backward(const train::TokenBatch& b) {
    nn::Embedding<float>::Cache cache;
    elm::Matrix<float> logits, dlogits;
    table.forward(b.inputs, logits, &cache);
    const float loss = nn::cross_entropy<float>(logits, b.targets, summed(), &dlogits);
    table.backward(cache, dlogits);
    return {loss, b.tokens};
  }
  static nn::CrossEntropyOptions summed() {
    nn::CrossEntropyOptions o;
    o.reduction = nn::Reduction::sum;
    return o;
  }
};

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("crash") {}
};

int main() {
  std::vector<elm::Index> stream;
  for (int i = 0; i < 500; ++i) stream.push_back(i % 5);  // 0 1 2 3 4 0 1 ...: each next token is certain
  const std::string checkpoint = (std::filesystem::temp_directory_path() / "elm-trainer-snippet.safetensors").string();
  train::TrainerOptions options;
  options.steps = 40;
  options.schedule = nn::LrSchedule::warmup_linear(/*peak=*/2.0, /*warmup=*/5, /*total=*/40, /*min_lr=*/0.2);
  options.accumulation = 2;  // two micro-batches per step
  options.clip_norm = 1.0;
  options.eval_every = 20;
  options.checkpoint_path = checkpoint;
  options.checkpoint_every = 10;
  // One run of 40 steps, or a run that crashes after step 15 and a second that resumes from the checkpoint of
  // step 10 with a fresh model, optimizer and data source.
  const auto run = [&](bool crash, bool resume, std::vector<elm::Matrix<float>>& weights) {
    Bigram model(5);
    nn::Sgd<float> sgd({0.0, /*momentum=*/0.9});
    train::TokenWindows data(stream, /*batch_size=*/4, /*seq_len=*/8, /*seed=*/1);
    const auto step = [&](const train::TokenBatch& b, const nn::ForwardContext&) { return model.loss_and_backward(b); };
    train::Trainer trainer(model, sgd, data, step, options);
    trainer.set_evaluation(train::consecutive_windows({0, 1, 2, 3, 4, 0, 1, 2, 3}, 1, 8),
                           [&](const train::TokenBatch& b) { return model.loss(b); });
    if (crash) trainer.set_progress([](const train::Progress& p) { if (p.step == 15) throw Crash(); });
    if (resume) trainer.resume(checkpoint);
    const auto result = trainer.run();
    model.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) { weights.push_back(p.value); });
    return result;
  };
  std::vector<elm::Matrix<float>> straight, crashed, resumed;
  const auto full = run(false, false, straight);
  try {
    run(true, false, crashed);
  } catch (const Crash&) {
    std::printf("crashed after step 15\n");
  }
  const auto rest = run(false, true, resumed);
  std::filesystem::remove(checkpoint);
  std::printf("resumed at step %lld, ran %zu steps\n", static_cast<long long>(rest.first_step), rest.losses.size());
  std::printf("same parameters as the run that never stopped: %s\n", resumed == straight ? "yes" : "no");
  std::printf("evaluated after steps %lld and %lld; held-out perplexity below 1.1: %s\n",
              static_cast<long long>(full.evaluations[0].step), static_cast<long long>(full.evaluations[1].step),
              full.evaluations.back().perplexity() < 1.1 ? "yes" : "no");
}
