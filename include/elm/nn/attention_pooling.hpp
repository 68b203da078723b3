// SPDX-License-Identifier: MIT
// AttentionPooling: additive attention over the positions of each sequence, giving one vector per sequence.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// A learned score per position, s_t = w^T tanh(W x_t + b), a softmax over the valid positions of each
/// sequence, and the weighted sum y = sum_t a_t x_t. x: (C, B * T) with lengths (B entries, 1 <= len <= T)
/// -> y: (C, B); the weights a come back as (T, B), zero on padding.
/// Parameters proj.weight (A, C), proj.bias (A), score.weight (1, A).
/// Reference: Bahdanau et al. 2015, section 3.1 (the score), Yang et al. 2016 (attention pooling).
template <typename Scalar = float>
class AttentionPooling {
  static_assert(std::is_floating_point_v<Scalar>, "AttentionPooling needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;

  struct Cache {
    typename Linear<Scalar>::Cache proj, score;
    Matrix<Scalar> hidden;   // tanh(W x + b), (A, B * T)
    Matrix<Scalar> weights;  // (T, B)
    Matrix<Scalar> x;
  };

  /// width: C; hidden: A. Zero parameters (call reset_parameters). Throws InvalidArgument unless both are positive.
  AttentionPooling(Index width, Index hidden) : proj_(width, hidden), score_(hidden, 1, false) {}
  /// Shorthand for construction then reset_parameters(rng).
  AttentionPooling(Index width, Index hidden, Rng& rng) : AttentionPooling(width, hidden) { reset_parameters(rng); }

  /// PyTorch's Linear initialisation (nn.Linear.reset_parameters) for both projections.
  void reset_parameters(Rng& rng) {
    proj_ = Linear<Scalar>(proj_.in_features(), proj_.out_features(), rng);
    score_ = Linear<Scalar>(score_.in_features(), 1, rng, false);
  }

  Index width() const noexcept { return proj_.in_features(); }

  /// x: (C, B * T), lengths: B valid lengths -> y: (C, B). The context changes nothing (nothing draws).
  /// Throws ShapeError on a wrong shape, RangeError on a length outside [1, T].
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const std::vector<Index>& lengths, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& context = {}) const {
    forward_impl(x, lengths, y, nullptr, cache, context);
  }

  /// The same, writing the weights a: (T, B) too (zero on padding).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const std::vector<Index>& lengths, Matrix<Scalar>& y,
               Matrix<Scalar>& weights, Cache* cache = nullptr, const ForwardContext& context = {}) const {
    forward_impl(x, lengths, y, &weights, cache, context);
  }

  /// dx (overwritten) from dy: (C, B); adds into the parameter gradients.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    const Index T = cache.weights.rows(), B = cache.weights.cols();
    check_shape(dy, width(), B, "elm::nn::AttentionPooling::backward", "dy");
    // 1) through y = X a: dx_t += a_t dy, da_t = x_t . dy
    dx.resize(width(), B * T);
    Matrix<Scalar> ds(1, B * T);
    for (Index b = 0; b < B; ++b) {
      dx.middleCols(b * T, T).noalias() = dy.col(b) * cache.weights.col(b).transpose();
      const RowVector<Scalar> da = dy.col(b).transpose() * cache.x.middleCols(b * T, T);
      // 2) through the softmax (zero weight on padding gives zero score gradient there)
      const Scalar dot = da.dot(cache.weights.col(b).transpose());
      ds.row(0).segment(b * T, T) = (cache.weights.col(b).transpose().array() * (da.array() - dot)).matrix();
    }
    // 3) through the scores and tanh
    Matrix<Scalar> dhidden, dx_score;
    score_.backward(cache.score, ds, dhidden);
    dhidden.array() *= Scalar(1) - cache.hidden.array().square();
    proj_.backward(cache.proj, dhidden, dx_score);
    dx += dx_score;
  }

  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    proj_.for_each_parameter(join_name(prefix, "proj"), f);
    score_.for_each_parameter(join_name(prefix, "score"), f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    proj_.for_each_parameter(join_name(prefix, "proj"), f);
    score_.for_each_parameter(join_name(prefix, "score"), f);
  }
  void zero_grad() {
    proj_.zero_grad();
    score_.zero_grad();
  }

 private:
  void forward_impl(const Eigen::Ref<const Matrix<Scalar>>& x, const std::vector<Index>& lengths, Matrix<Scalar>& y,
                    Matrix<Scalar>* weights, Cache* cache, const ForwardContext& /*context*/) const {
    constexpr std::string_view where = "elm::nn::AttentionPooling::forward";
    check_shape(x, width(), -1, where, "x");
    const Index B = to_index(lengths.size());
    ELM_EXPECT(B > 0 && x.cols() % B == 0 && x.cols() > 0, ShapeError, where, ": x has ", x.cols(),
               " columns, expected a positive multiple of B = lengths.size() = ", B);
    const Index T = x.cols() / B;
    for (Index len : lengths)
      ELM_EXPECT(len >= 1 && len <= T, RangeError, where, ": length ", len, " is out of range, expected 1 <= length <= T = ",
                 T);
    // 1) scores s_t = w^T tanh(W x_t + b)
    Matrix<Scalar> pre, hidden, s;
    proj_.forward(x, pre, cache ? &cache->proj : nullptr);
    hidden = pre.array().tanh().matrix();
    score_.forward(hidden, s, cache ? &cache->score : nullptr);
    // 2) softmax over the valid positions of each sequence, 3) weighted sum
    Matrix<Scalar> a = Matrix<Scalar>::Zero(T, B);
    y.resize(width(), B);
    for (Index b = 0; b < B; ++b) {
      const Index len = lengths[static_cast<std::size_t>(b)];
      const Scalar m = s.row(0).segment(b * T, len).maxCoeff();
      a.col(b).head(len) = (s.row(0).segment(b * T, len).array() - m).exp().matrix().transpose();
      a.col(b).head(len) /= a.col(b).head(len).sum();
      y.col(b).noalias() = x.middleCols(b * T, len) * a.col(b).head(len);
    }
    if (weights) *weights = a;
    if (cache) {
      cache->hidden = std::move(hidden);
      cache->weights = std::move(a);
      cache->x = x;
    }
  }

  Linear<Scalar> proj_, score_;
};

}  // namespace elm::nn
