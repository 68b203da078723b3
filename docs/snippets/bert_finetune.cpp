// docs/snippets/bert_finetune.cpp
#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "elm/core/rng.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/trainer.hpp"

int main() {
  using elm::Index;
  // 1) A pretrained body with a new head: transformers' BertForSequenceClassification.from_pretrained(body,
  //    num_labels=2). Here a small BertModel directory (tools/make_bert_fixtures.py); all-MiniLM-L6-v2's or a
  //    BertForMaskedLM's directory loads the same way. The head is new: N(0, initializer_range^2), bias 0.
  elm::Rng rng(1);
  elm::io::BertClassifierOptions head;
  head.num_labels = 2;
  head.id2label = {"without 7", "with 7"};
  auto model = elm::io::bert_classifier_from_pretrained<float>("tests/data/bert/base_tiny", head, rng);
  fmt::print("{} parameters, {} of them new (the classifier)\n", elm::nn::count_parameters(model),
             head.num_labels * (model.config().hidden_size + 1));

  // 2) A labelled task: is token 7 in the sequence? ([CLS] = 1 first, ids 2 .. 49, 3 to 7 tokens.)
  const auto make = [&](Index n, std::vector<std::vector<Index>>& ids, std::vector<Index>& labels) {
    for (Index i = 0; i < n; ++i) {
      std::vector<Index> s{1};
      const Index length = 3 + Index(rng.below(5));
      for (Index t = 0; t < length; ++t) s.push_back(2 + Index(rng.below(48)));
      if (i % 2 == 1) s[1 + rng.below(std::uint64_t(length))] = 7;  // half of them hold a 7
      labels.push_back(std::find(s.begin(), s.end(), 7) != s.end() ? 1 : 0);
      ids.push_back(std::move(s));
    }
  };
  std::vector<std::vector<Index>> train_ids, test_ids;
  std::vector<Index> train_labels, test_labels;
  make(400, train_ids, train_labels);
  make(200, test_ids, test_labels);
  const auto held_out = elm::train::labelled_batches(test_ids, test_labels, 50);
  const auto accuracy = [&] {
    Index correct = 0;
    elm::Matrix<float> logits;
    for (const auto& b : held_out) {
      model.forward(elm::models::BertBatch::pad(b.sequences), logits);  // inference: no dropout
      for (Index n = 0; n < logits.cols(); ++n) {
        Index best = 0;
        logits.col(n).maxCoeff(&best);
        correct += best == b.labels[std::size_t(n)] ? 1 : 0;
      }
    }
    return double(correct) / double(test_ids.size());
  };
  fmt::print("held-out accuracy before fine-tuning: {:.3f}\n", accuracy());

  // 3) Fine-tuning: every parameter trains (body and head), AdamW, linear warmup then linear decay, gradient
  //    clipping, dropout on; each step's loss is the batch's summed cross-entropy (the trainer averages).
  elm::train::ShuffledExamples data(train_ids, train_labels, /*batch_size=*/16, /*seed=*/1);
  elm::nn::AdamW<float> optimizer({/*lr=*/3e-3, 0.9, 0.999, 1e-8, /*weight_decay=*/0.01});
  elm::train::TrainerOptions options;
  options.steps = 150;
  options.schedule = elm::nn::LrSchedule::warmup_linear(3e-3, /*warmup=*/15, options.steps);
  options.clip_norm = 1.0;
  elm::train::Trainer trainer(model, optimizer, data,
                              [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
                                const float loss =
                                    model.loss_and_backward(elm::models::BertBatch::pad(b.sequences), b.labels, context);
                                return elm::train::Loss{loss, elm::Index(b.labels.size())};
                              },
                              options);
  const auto result = trainer.run();
  fmt::print("loss {:.3f} at step 1, {:.3f} at step {}\n", result.losses.front(), result.losses.back(),
             result.steps_done);
  fmt::print("held-out accuracy after fine-tuning: {:.3f}\n", accuracy());
}
