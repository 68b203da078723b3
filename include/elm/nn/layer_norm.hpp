// SPDX-License-Identifier: MIT
// LayerNorm over the feature dimension of each column, with its backward pass.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    // 1) mean, 2) biased variance (two passes: stable for large means), 3) normalise, 4) scale and shift;
    // whole-matrix expressions so that Eigen vectorises along each column.
    const RowVector<Scalar> mean = x.colwise().sum() * inv_c;
    Matrix<Scalar> centered = x.rowwise() - mean;
    const RowVector<Scalar> rstd =
        ((centered.array().square().colwise().sum() * inv_c) + eps_).rsqrt().matrix();
    centered.array().rowwise() *= rstd.array();
    y.resize(width(), x.cols());
    y.array() = (centered.array().colwise() * weight_.value.col(0).array()).colwise() + bias_.value.col(0).array();
    if (cache) {
      cache->x_hat = std::move(centered);
      cache->rstd = rstd;
    }
  }

  /// dx = rstd (g - mean(g) - x_hat mean(g x_hat)) with g = gamma dy (overwritten); dgamma += sum dy x_hat,
  /// dbeta += sum dy (added).  dy: (C, N) -> dx: (C, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    check_shape(dy, width(), cache.x_hat.cols(), "elm::nn::LayerNorm::backward", "dy");
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    if (weight_.trainable) weight_.grad.col(0) += dy.cwiseProduct(cache.x_hat).rowwise().sum();
    if (bias_.trainable) bias_.grad.col(0) += dy.rowwise().sum();
    dx.resize(width(), dy.cols());
    dx.array() = dy.array().colwise() * weight_.value.col(0).array();  // g = gamma dy
    const RowVector<Scalar> mean_g = dx.colwise().sum() * inv_c;
    const RowVector<Scalar> mean_gx = dx.cwiseProduct(cache.x_hat).colwise().sum() * inv_c;
    dx.array() = ((dx.rowwise() - mean_g).array() - cache.x_hat.array().rowwise() * mean_gx.array()).rowwise() *
                 cache.rstd.array();
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
