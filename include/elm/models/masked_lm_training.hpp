// SPDX-License-Identifier: MIT
// Masked-LM pretraining of BertForMaskedLM on elm::train::Trainer: batches of sentences masked afresh each time
// they are drawn (TokenMasker), held-out batches masked once, the step and evaluation functions, and the held-out
// masked-token accuracy.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/bert.hpp"
#include "elm/models/masked_lm.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"
#include "elm/train/batch_rng.hpp"
#include "elm/train/trainer.hpp"

namespace elm::models {

/// The training data of a masked language model: batch k is B sequences (token ids with their [CLS] and [SEP],
/// at most max_position_embeddings long) drawn uniformly from the corpus, padded with pad_id and masked by the
/// masker (dynamic masking: a sequence drawn again is masked anew). Batch k is drawn and masked with
/// train::batch_rng(seed, k) alone, so position() = k says where the data is and a resumed run draws the same
/// batches. A Trainer Source.
class MaskedLmBatches {
 public:
  using batch_type = MaskedBatch;

  /// Throws InvalidArgument for batch_size < 1 or no non-empty sequence.
  MaskedLmBatches(std::vector<std::vector<Index>> sequences, Index batch_size, TokenMasker masker,
                  Index pad_id, std::uint64_t seed = 1)
      : sequences_(std::move(sequences)), batch_size_(batch_size), masker_(std::move(masker)), pad_id_(pad_id),
        seed_(seed) {
    constexpr const char* where = "elm::models::MaskedLmBatches";
    check_argument(batch_size > 0, where, "expected batch_size > 0, got ", batch_size);
    std::vector<std::vector<Index>> kept;
    for (auto& s : sequences_)
      if (!s.empty()) kept.push_back(std::move(s));
    sequences_ = std::move(kept);
    check_argument(!sequences_.empty(), where, "a corpus of zero sequences, expected at least one with a token");
  }

  /// Batch k (the same for the same corpus, sizes, masker, seed and k).
  MaskedBatch batch(std::uint64_t k) const {
    Rng rng = train::batch_rng(seed_, k);
    std::vector<std::vector<Index>> picked;
    for (Index b = 0; b < batch_size_; ++b)
      picked.push_back(sequences_[static_cast<std::size_t>(rng.below(sequences_.size()))]);
    return masker_.mask(BertBatch::pad(picked, {}, pad_id_), rng);
  }

  /// The batch at position(), then one position further.
  MaskedBatch next() { return batch(position_++); }
  /// Batches drawn so far.
  std::uint64_t position() const { return position_; }
  /// Continues from batch `position`.
  void seek(std::uint64_t position) { position_ = position; }

 private:
  std::vector<std::vector<Index>> sequences_;
  Index batch_size_;
  TokenMasker masker_;
  Index pad_id_;
  std::uint64_t seed_;
  std::uint64_t position_ = 0;
};

/// Held-out data of a masked language model: the sequences in order, B a batch, each masked once with an Rng
/// seeded with `seed` (a fixed set of masked positions, scored the same after every step). Throws
/// InvalidArgument for batch_size < 1 or no non-empty sequence.
inline std::vector<MaskedBatch> masked_held_out(const std::vector<std::vector<Index>>& sequences,
                                                        Index batch_size, const TokenMasker& masker,
                                                        Index pad_id, std::uint64_t seed = 1) {
  constexpr const char* where = "elm::models::masked_held_out";
  check_argument(batch_size > 0, where, "expected batch_size > 0, got ", batch_size);
  std::vector<MaskedBatch> out;
  std::vector<std::vector<Index>> chunk;
  Rng rng(seed);
  for (const auto& s : sequences) {
    if (s.empty()) continue;
    chunk.push_back(s);
    if (to_index(chunk.size()) == batch_size) {
      out.push_back(masker.mask(BertBatch::pad(chunk, {}, pad_id), rng));
      chunk.clear();
    }
  }
  if (!chunk.empty()) out.push_back(masker.mask(BertBatch::pad(chunk, {}, pad_id), rng));
  check_argument(!out.empty(), where, "a corpus of zero sequences, expected at least one with a token");
  return out;
}

/// The masked-LM loss of a batch: BertForMaskedLM's summed cross-entropy at the selected positions, how many
/// there are, and how many of them the model's most likely token gets right.
struct MaskedLmScore {
  double loss_sum = 0.0;
  std::int64_t correct = 0, count = 0;
  double accuracy() const { return count > 0 ? double(correct) / double(count) : 0.0; }
  MaskedLmScore& operator+=(const MaskedLmScore& o) {
    loss_sum += o.loss_sum;
    correct += o.correct;
    count += o.count;
    return *this;
  }
};

/// Scores a masked batch (inference: no dropout); the prediction head runs at the selected positions only.
template <typename Scalar>
MaskedLmScore masked_lm_score(const BertForMaskedLM<Scalar>& model, const MaskedBatch& batch) {
  MaskedLmScore s;
  const std::vector<Index> columns = batch.positions(), targets = batch.targets();
  if (columns.empty()) return s;
  Matrix<Scalar> logits;
  model.forward_at(batch.inputs, columns, logits);
  nn::CrossEntropyOptions options;
  options.reduction = nn::Reduction::sum;
  s.loss_sum = double(nn::cross_entropy<Scalar>(logits, targets, options));
  s.count = to_index(targets.size());
  for (Index i = 0; i < logits.cols(); ++i) {
    Index best = 0;
    logits.col(i).maxCoeff(&best);
    s.correct += best == targets[to_size(i)] ? 1 : 0;
  }
  return s;
}

/// The trainer's step function for BertForMaskedLM over MaskedBatches: forward at the selected positions in the
/// training context, the summed cross-entropy, backward.
template <typename Scalar>
auto masked_lm_step(BertForMaskedLM<Scalar>& model) {
  return [&model](const MaskedBatch& b, const nn::ForwardContext& context) {
    const std::vector<Index> columns = b.positions(), targets = b.targets();
    if (columns.empty()) return train::Loss{};
    typename BertForMaskedLM<Scalar>::Cache cache;
    Matrix<Scalar> logits, dlogits;
    model.forward_at(b.inputs, columns, logits, &cache, context);
    nn::CrossEntropyOptions options;
    options.reduction = nn::Reduction::sum;
    const double loss = double(nn::cross_entropy<Scalar>(logits, targets, options, &dlogits));
    model.backward(cache, dlogits);
    return train::Loss{loss, to_index(targets.size())};
  };
}

/// The trainer's evaluation function for BertForMaskedLM over MaskedBatches: the summed loss of masked_lm_score.
template <typename Scalar>
auto masked_lm_eval(const BertForMaskedLM<Scalar>& model) {
  return [&model](const MaskedBatch& b) {
    const MaskedLmScore s = masked_lm_score(model, b);
    return train::Loss{s.loss_sum, s.count};
  };
}

}  // namespace elm::models
