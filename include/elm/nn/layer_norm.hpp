// SPDX-License-Identifier: MIT
// LayerNorm over the feature dimension of each column, with its backward pass.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// PyTorch's nn.LayerNorm(C) over the last dimension. Parameters `weight` (C, ones) and `bias` (C, zeros).
template <typename Scalar = float>
class LayerNorm {
  static_assert(std::is_floating_point_v<Scalar>, "LayerNorm needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the normalised input and 1/sqrt(var + eps) of each column.
  struct Cache {
    Matrix<Scalar> x_hat;
    RowVector<Scalar> rstd;
  };

  explicit LayerNorm(Index width, Scalar eps = Scalar(1e-5)) : weight_({width}), bias_({width}), eps_(eps) {
    ELM_EXPECT(width > 0, InvalidArgument, "elm::nn::LayerNorm: expected width > 0, got ", width);
    ELM_EXPECT(eps > Scalar(0), InvalidArgument, "elm::nn::LayerNorm: expected eps > 0, got ", eps);
    weight_.value.setOnes();
  }

  Index width() const { return weight_.value.rows(); }
  Scalar eps() const { return eps_; }
  Parameter<Scalar>& weight() { return weight_; }
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// y = gamma * (x - mean) / sqrt(var + eps) + beta per column (biased variance).  x: (C, N) -> y: (C, N).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr) const {
    check_shape(x, width(), -1, "elm::nn::LayerNorm::forward", "x");
    const Index n = x.cols();
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    y.resize(width(), n);
    if (cache) {
      cache->x_hat.resize(width(), n);
      cache->rstd.resize(n);
    }
    for (Index t = 0; t < n; ++t) {
      // 1) mean, 2) biased variance (two passes: stable for large means), 3) normalise, scale and shift.
      const Scalar mean = x.col(t).sum() * inv_c;
      const Scalar var = (x.col(t).array() - mean).square().sum() * inv_c;
      const Scalar rstd = Scalar(1) / std::sqrt(var + eps_);
      y.col(t) = ((x.col(t).array() - mean) * rstd).matrix();
      if (cache) {
        cache->x_hat.col(t) = y.col(t);
        cache->rstd(t) = rstd;
      }
      y.col(t) = (y.col(t).array() * weight_.value.col(0).array() + bias_.value.col(0).array()).matrix();
    }
  }

  /// dx = rstd (g - mean(g) - x_hat mean(g x_hat)) with g = gamma dy (overwritten); dgamma += sum dy x_hat,
  /// dbeta += sum dy (added).  dy: (C, N) -> dx: (C, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    check_shape(dy, width(), cache.x_hat.cols(), "elm::nn::LayerNorm::backward", "dy");
    const Index n = dy.cols();
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    if (weight_.trainable) weight_.grad.col(0) += dy.cwiseProduct(cache.x_hat).rowwise().sum();
    if (bias_.trainable) bias_.grad.col(0) += dy.rowwise().sum();
    dx.resize(width(), n);
    for (Index t = 0; t < n; ++t) {
      const auto g = (dy.col(t).array() * weight_.value.col(0).array()).eval();
      const Scalar mean_g = g.sum() * inv_c;
      const Scalar mean_gx = (g * cache.x_hat.col(t).array()).sum() * inv_c;
      dx.col(t) = ((g - mean_g - cache.x_hat.col(t).array() * mean_gx) * cache.rstd(t)).matrix();
    }
  }

  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    f(join_name(prefix, "bias"), bias_);
  }

  void zero_grad() {
    weight_.zero_grad();
    bias_.zero_grad();
  }

 private:
  Parameter<Scalar> weight_;
  Parameter<Scalar> bias_;
  Scalar eps_;
};

}  // namespace elm::nn
