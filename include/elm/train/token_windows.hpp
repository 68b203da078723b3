// SPDX-License-Identifier: MIT
// Language-model data for the Trainer: batches of token windows with next-token targets, drawn at random
// positions of a token stream (training) or cut in order (held-out), and the step functions over them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/train/batch_rng.hpp"
#include "elm/train/trainer.hpp"

namespace elm::train {

/// The target of a padding position: nn::cross_entropy's default ignore_index (PyTorch's -100).
inline constexpr Index ignore_target = -100;

/// B windows of at most T tokens and their next-token targets, batch-first: window b's tokens are at
/// b T .. b T + T - 1. Window b holds lengths[b] real positions; the rest is padding (input 0, target
/// ignore_target). tokens: the targets that count.
struct TokenBatch {
  Index batch_size = 0;
  Index seq_len = 0;
  std::vector<Index> inputs, targets, lengths;
  std::int64_t tokens = 0;
};

/// The stream of a corpus of sentences for a language model: "e s_1 e s_2 e ... s_n e", each sentence
/// followed by the boundary id e, which also stands before the first (so every sentence is predicted from a
/// boundary, as it is scored).
inline std::vector<Index> sentence_stream(const std::vector<std::vector<Index>>& sentences, Index boundary_id) {
  std::vector<Index> stream{boundary_id};
  for (const auto& sentence : sentences) {
    stream.insert(stream.end(), sentence.begin(), sentence.end());
    stream.push_back(boundary_id);
  }
  return stream;
}

/// The training data of a language model: each batch is B windows of T + 1 consecutive tokens (inputs and
/// the targets one further) starting at uniformly drawn positions of the stream. Batch k is drawn from
/// batch_rng(seed, k) alone, so position() = k says everything about where the data is: a resumed run seeks to
/// it and draws the same batches. A Trainer Source; shard() makes it one process's share of a data-parallel run.
class TokenWindows {
 public:
  using batch_type = TokenBatch;

  /// Throws InvalidArgument for batch_size or seq_len < 1, or a stream shorter than seq_len + 1.
  TokenWindows(std::vector<Index> stream, Index batch_size, Index seq_len, std::uint64_t seed = 1)
      : stream_(std::move(stream)), batch_size_(batch_size), seq_len_(seq_len), seed_(seed) {
    constexpr const char* where = "elm::train::TokenWindows";
    check_argument(batch_size > 0 && seq_len > 0, where, "expected batch_size and seq_len > 0, got ", batch_size,
                   " and ", seq_len);
    check_argument(to_index(stream_.size()) > seq_len, where, "the stream has ", stream_.size(),
                   " tokens, expected at least seq_len + 1 = ", seq_len + 1);
  }

  /// Batch k (the same for the same stream, sizes, seed and k): its local_batch_size() windows, this shard's
  /// rows of the batch_size() windows drawn.
  TokenBatch batch(std::uint64_t k) const {
    const Index rows = local_batch_size(), first = shard_rank_ * rows;
    TokenBatch b;
    b.batch_size = rows;
    b.seq_len = seq_len_;
    b.inputs.resize(to_size(rows * seq_len_));
    b.targets.resize(b.inputs.size());
    b.lengths.assign(to_size(rows), seq_len_);
    b.tokens = rows * seq_len_;
    const auto starts = static_cast<std::uint64_t>(to_index(stream_.size()) - seq_len_);  // windows that fit
    Rng rng = batch_rng(seed_, k);
    // every window of the whole batch is drawn, in order, so that a shard's rows are the ones one process has
    for (Index w = 0; w < first + rows; ++w) {
      const auto start = to_size(static_cast<Index>(rng.below(starts)));
      if (w < first) continue;
      const Index row = w - first;
      for (Index t = 0; t < seq_len_; ++t) {
        b.inputs[to_size(row * seq_len_ + t)] = stream_[start + to_size(t)];
        b.targets[to_size(row * seq_len_ + t)] = stream_[start + to_size(t) + 1];
      }
    }
    return b;
  }

  /// Makes this source process `rank`'s share of a data-parallel run of `ranks` processes: batch k still draws
  /// the batch_size() window starts of batch_rng(seed, k) and keeps windows [rank B / ranks, (rank + 1) B /
  /// ranks), so the processes' batches k, side by side in rank order, are the one-process batch k row for row,
  /// and position() counts the same (global) batches for any number of processes: a checkpoint of a run on N
  /// processes resumes on M. batch_size() stays the whole batch B. shard(0, 1) is the whole batch again. Throws
  /// InvalidArgument for rank outside [0, ranks) or a B that ranks does not divide.
  void shard(int rank, int ranks) {
    constexpr const char* where = "elm::train::TokenWindows::shard";
    check_argument(ranks >= 1 && rank >= 0 && rank < ranks, where, "expected 0 <= rank < ranks, got rank ", rank,
                   " of ", ranks);
    check_argument(batch_size_ % ranks == 0, where, "the batch of ", batch_size_, " windows does not divide among ",
                   ranks, " processes, expected a multiple of ", ranks);
    shard_rank_ = rank;
    shard_count_ = ranks;
  }
  /// The process this source is the share of (0 unless shard() was called).
  int shard_rank() const { return static_cast<int>(shard_rank_); }
  /// The processes the batches are shared among (1 unless shard() was called).
  int shard_count() const { return static_cast<int>(shard_count_); }
  /// Windows of each batch this source returns: batch_size() / shard_count().
  Index local_batch_size() const { return batch_size_ / shard_count_; }

  /// The batch at position(), then one position further.
  TokenBatch next() { return batch(position_++); }
  /// Batches drawn so far.
  std::uint64_t position() const { return position_; }
  /// Continues from batch `position`.
  void seek(std::uint64_t position) { position_ = position; }

  const std::vector<Index>& stream() const { return stream_; }
  /// Windows of the whole batch (all processes' shares together).
  Index batch_size() const { return batch_size_; }
  Index seq_len() const { return seq_len_; }

 private:
  std::vector<Index> stream_;
  Index batch_size_, seq_len_;
  std::uint64_t seed_;
  std::uint64_t position_ = 0;
  Index shard_rank_ = 0, shard_count_ = 1;
};

/// Held-out data of a language model: the stream cut in order into windows of T targets (every token after
/// the first predicted once), B windows a batch; the last window and the last batch may be shorter. Throws
/// InvalidArgument for batch_size or seq_len < 1 or a stream of fewer than 2 tokens.
inline std::vector<TokenBatch> consecutive_windows(const std::vector<Index>& stream, Index batch_size, Index seq_len) {
  constexpr const char* where = "elm::train::consecutive_windows";
  check_argument(batch_size > 0 && seq_len > 0, where, "expected batch_size and seq_len > 0, got ", batch_size,
                 " and ", seq_len);
  check_argument(stream.size() >= 2, where, "the stream has ", stream.size(), " tokens, expected at least 2");
  const Index targets = to_index(stream.size()) - 1;
  const Index windows = (targets + seq_len - 1) / seq_len;
  std::vector<TokenBatch> out;
  for (Index first = 0; first < windows; first += batch_size) {
    TokenBatch b;
    b.batch_size = std::min(batch_size, windows - first);
    b.seq_len = seq_len;
    b.inputs.assign(to_size(b.batch_size * seq_len), 0);
    b.targets.assign(b.inputs.size(), ignore_target);
    for (Index w = 0; w < b.batch_size; ++w) {
      const Index start = (first + w) * seq_len;
      const Index length = std::min(seq_len, targets - start);
      b.lengths.push_back(length);
      b.tokens += length;
      for (Index t = 0; t < length; ++t) {
        b.inputs[to_size(w * seq_len + t)] = stream[to_size(start + t)];
        b.targets[to_size(w * seq_len + t)] = stream[to_size(start + t + 1)];
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

/// The trainer's step function for a language model over TokenBatches:
/// model.loss_and_backward(inputs, lengths, targets, context), the summed cross-entropy, over batch.tokens.
template <typename Model>
auto language_model_step(Model& model) {
  return [&model](const TokenBatch& b, const nn::ForwardContext& context) {
    return Loss{model.loss_and_backward(b.inputs, b.lengths, b.targets, context), b.tokens};
  };
}

/// The trainer's evaluation function for a language model over TokenBatches: model.loss(inputs, lengths,
/// targets), an inference forward.
template <typename Model>
auto language_model_eval(const Model& model) {
  return [&model](const TokenBatch& b) { return Loss{model.loss(b.inputs, b.lengths, b.targets), b.tokens}; };
}

}  // namespace elm::train
