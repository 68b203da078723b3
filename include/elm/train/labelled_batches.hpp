// SPDX-License-Identifier: MIT
// Classification data for the Trainer: batches of token sequences and their class ids, drawn in a shuffled order
// epoch after epoch (training) or cut in order (held-out).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/train/batch_rng.hpp"

namespace elm::train {

/// B examples: token sequences (of any lengths) and their class ids.
struct LabelledBatch {
  std::vector<std::vector<Index>> sequences;
  std::vector<Index> labels;
};

/// The training data of a classifier: epoch e visits every example once, in an order drawn from batch_rng(seed, e)
/// alone (a Fisher-Yates shuffle), B examples a batch; an epoch's last batch may be smaller. Batch k depends only
/// on the examples, B, the seed and k, so position() = k says where the data is and a resumed run seeks to it.
/// next() keeps the permutation of its epoch, so drawing in order shuffles once an epoch; batch(k) is const and
/// keeps nothing (it shuffles k's epoch afresh, O(N)), so a const object may be read from several threads.
/// A Trainer Source.
class ShuffledExamples {
 public:
  using batch_type = LabelledBatch;

  /// Throws ShapeError when labels and sequences differ in number, InvalidArgument for no examples or B < 1.
  ShuffledExamples(std::vector<std::vector<Index>> sequences, std::vector<Index> labels, Index batch_size,
                   std::uint64_t seed = 1)
      : sequences_(std::move(sequences)), labels_(std::move(labels)), batch_size_(batch_size), seed_(seed) {
    constexpr const char* where = "elm::train::ShuffledExamples";
    ELM_EXPECT(sequences_.size() == labels_.size(), ShapeError, where, ": labels has ", labels_.size(),
               " entries, expected one per sequence (", sequences_.size(), ")");
    check_argument(!sequences_.empty() && batch_size > 0, where, "expected examples and batch_size > 0, got ",
                   sequences_.size(), " and ", batch_size);
  }

  /// Batches per epoch: ceil(N / B).
  std::uint64_t batches_per_epoch() const {
    return static_cast<std::uint64_t>((to_index(sequences_.size()) + batch_size_ - 1) / batch_size_);
  }

  /// Batch k (the same for the same examples, B, seed and k).
  LabelledBatch batch(std::uint64_t k) const { return take(k, epoch_order(k / batches_per_epoch())); }

  /// The batch at position(), then one position further: batch(position()), reusing the epoch's permutation.
  LabelledBatch next() {
    const std::uint64_t epoch = position_ / batches_per_epoch();
    if (order_.empty() || order_epoch_ != epoch) {
      order_ = epoch_order(epoch);
      order_epoch_ = epoch;
    }
    return take(position_++, order_);
  }
  /// Batches drawn so far.
  std::uint64_t position() const { return position_; }
  /// Continues from batch `position`.
  void seek(std::uint64_t position) { position_ = position; }

 private:
  /// The permutation of `epoch`, O(N).
  std::vector<std::size_t> epoch_order(std::uint64_t epoch) const {
    std::vector<std::size_t> order(sequences_.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    Rng rng = batch_rng(seed_, epoch);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[to_size(Index(rng.below(i)))]);
    return order;
  }

  /// Batch k, given the permutation of its epoch.
  LabelledBatch take(std::uint64_t k, const std::vector<std::size_t>& order) const {
    const Index first = static_cast<Index>(k % batches_per_epoch()) * batch_size_;
    const Index last = std::min(first + batch_size_, to_index(sequences_.size()));
    LabelledBatch b;
    for (Index i = first; i < last; ++i) {
      b.sequences.push_back(sequences_[order[to_size(i)]]);
      b.labels.push_back(labels_[order[to_size(i)]]);
    }
    return b;
  }

  std::vector<std::vector<Index>> sequences_;
  std::vector<Index> labels_;
  Index batch_size_;
  std::uint64_t seed_;
  std::uint64_t position_ = 0;
  // next()'s cache: epoch_order(order_epoch_), a function of the examples' count and the seed, which no member
  // changes after construction, so a copy's cache stays valid; empty until the first next().
  std::vector<std::size_t> order_;
  std::uint64_t order_epoch_ = 0;
};

/// Held-out data of a classifier: the examples in order, B a batch (the last may be smaller). Throws ShapeError
/// when labels and sequences differ in number, InvalidArgument for B < 1.
inline std::vector<LabelledBatch> labelled_batches(const std::vector<std::vector<Index>>& sequences,
                                                   const std::vector<Index>& labels, Index batch_size) {
  constexpr const char* where = "elm::train::labelled_batches";
  ELM_EXPECT(sequences.size() == labels.size(), ShapeError, where, ": labels has ", labels.size(),
             " entries, expected one per sequence (", sequences.size(), ")");
  check_argument(batch_size > 0, where, "expected batch_size > 0, got ", batch_size);
  std::vector<LabelledBatch> out;
  for (std::size_t first = 0; first < sequences.size(); first += to_size(batch_size)) {
    LabelledBatch b;
    for (std::size_t i = first; i < std::min(sequences.size(), first + to_size(batch_size)); ++i) {
      b.sequences.push_back(sequences[i]);
      b.labels.push_back(labels[i]);
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace elm::train
