// SPDX-License-Identifier: MIT
// KvCache: the keys and values of the positions already decoded, for incremental (one token at a time) attention.
#pragma once

#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::nn {

/// Keys and values of B sequences decoded in step, up to max_length positions each.
/// Storage is (C, B * max_length): sequence b's position t is column b * max_length + t, so each
/// sequence's cached keys are one contiguous block. All sequences have the same length.
template <typename Scalar = float>
class KvCache {
  static_assert(std::is_floating_point_v<Scalar>, "KvCache needs a floating-point Scalar");

 public:
  /// An empty cache. width: rows of a key or value (C); throws InvalidArgument unless all are positive.
  KvCache(Index width, Index batch, Index max_length)
      : width_(width), batch_(batch), max_length_(max_length) {
    ELM_EXPECT(width > 0 && batch > 0 && max_length > 0, InvalidArgument,
               "elm::nn::KvCache: expected positive width, batch and max_length, got C = ", width, ", B = ", batch,
               ", max_length = ", max_length);
    keys_ = Matrix<Scalar>::Zero(width, batch * max_length);
    values_ = Matrix<Scalar>::Zero(width, batch * max_length);
  }

  Index width() const noexcept { return width_; }
  Index batch() const noexcept { return batch_; }
  Index max_length() const noexcept { return max_length_; }
  /// Positions cached per sequence.
  Index length() const noexcept { return length_; }
  Index remaining() const noexcept { return max_length_ - length_; }

  /// Appends T_new positions to every sequence. k_new, v_new: (C, B * T_new), sequence b's new positions
  /// at columns [b * T_new, (b + 1) * T_new). Throws ShapeError on a wrong shape and RangeError when the
  /// cache would exceed max_length (the cache is then unchanged).
  void append(const Eigen::Ref<const Matrix<Scalar>>& k_new, const Eigen::Ref<const Matrix<Scalar>>& v_new) {
    constexpr std::string_view where = "elm::nn::KvCache::append";
    ELM_EXPECT(k_new.cols() % batch_ == 0, ShapeError, where, ": k_new has ", k_new.cols(),
               " columns, expected a multiple of B = ", batch_);
    const Index t_new = k_new.cols() / batch_;
    check_shape(k_new, width_, batch_ * t_new, where, "k_new");
    check_shape(v_new, width_, batch_ * t_new, where, "v_new");
    ELM_EXPECT(length_ + t_new <= max_length_, RangeError, where, ": appending ", t_new, " positions to ", length_,
               " would exceed max_length = ", max_length_);
    for (Index b = 0; b < batch_; ++b) {
      keys_.middleCols(b * max_length_ + length_, t_new) = k_new.middleCols(b * t_new, t_new);
      values_.middleCols(b * max_length_ + length_, t_new) = v_new.middleCols(b * t_new, t_new);
    }
    length_ += t_new;
  }

  /// Makes this cache hold each of source's sequences `times` times over, sequence b being source's b / times with
  /// its source.length() positions, as if they had been appended: for several continuations of one prompt, whose
  /// keys and values are computed once. Throws ShapeError unless this cache has source's width and times times
  /// its batch, RangeError when source.length() exceeds max_length().
  void assign_repeated(const KvCache& source, Index times) {
    constexpr std::string_view where = "elm::nn::KvCache::assign_repeated";
    ELM_EXPECT(times > 0 && width_ == source.width_ && batch_ == source.batch_ * times, ShapeError, where,
               ": a cache of C = ", width_, ", B = ", batch_, " cannot hold ", times, " copies of one of C = ",
               source.width_, ", B = ", source.batch_, ", expected C = ", source.width_, ", B = ",
               source.batch_ * times);
    ELM_EXPECT(source.length_ <= max_length_, RangeError, where, ": ", source.length_,
               " positions would exceed max_length = ", max_length_);
    for (Index b = 0; b < batch_; ++b) {
      keys_.middleCols(b * max_length_, source.length_) =
          source.keys_.middleCols((b / times) * source.max_length_, source.length_);
      values_.middleCols(b * max_length_, source.length_) =
          source.values_.middleCols((b / times) * source.max_length_, source.length_);
    }
    length_ = source.length_;
  }

  /// Beam search's reordering: sequence i takes the cached positions of sequence parents[i]; the batch becomes
  /// parents.size() (a parent may appear several times, or not at all: finished sequences dropped). Nothing is
  /// copied when parents is 0, 1, ..., B - 1 (greedy decoding). Throws InvalidArgument for an empty parents,
  /// RangeError for a parent outside [0, B) (the cache is then unchanged).
  void reorder(const std::vector<Index>& parents) {
    constexpr std::string_view where = "elm::nn::KvCache::reorder";
    ELM_EXPECT(!parents.empty(), InvalidArgument, where, ": expected at least one parent, got none");
    bool identity = to_index(parents.size()) == batch_;
    for (std::size_t i = 0; i < parents.size(); ++i) {
      check_id(parents[i], batch_, where, "parent");
      identity = identity && parents[i] == to_index(i);
    }
    if (identity) return;
    const Index n = to_index(parents.size());
    // into the storage the previous reorder left: no allocation while the batch keeps its size (every step of a
    // beam search until a source finishes)
    spare_keys_.resize(width_, n * max_length_);
    spare_values_.resize(width_, n * max_length_);
    for (Index i = 0; i < n; ++i) {
      const Index p = parents[to_size(i)];
      spare_keys_.middleCols(i * max_length_, length_) = keys_.middleCols(p * max_length_, length_);
      spare_values_.middleCols(i * max_length_, length_) = values_.middleCols(p * max_length_, length_);
    }
    keys_.swap(spare_keys_);
    values_.swap(spare_values_);
    batch_ = n;
  }

  /// Forgets every position (the storage is kept).
  void reset() noexcept { length_ = 0; }

  /// The storage, (C, B * max_length); only the first length() columns of each sequence's block are valid.
  const Matrix<Scalar>& keys() const noexcept { return keys_; }
  const Matrix<Scalar>& values() const noexcept { return values_; }

 private:
  Index width_, batch_, max_length_;
  Index length_ = 0;
  Matrix<Scalar> keys_, values_;
  Matrix<Scalar> spare_keys_, spare_values_;  // what reorder writes into; empty until the first reorder
};

}  // namespace elm::nn
