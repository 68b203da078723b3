// SPDX-License-Identifier: MIT
// LayerNorm over the feature dimension of each column, with its backward pass.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "elm/core/check.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/layer.hpp"
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

  /// PyTorch's initialisation: weight ones, bias zeros (the generator is not drawn from).
  void reset_parameters(Rng&) {
    weight_.value.setOnes();
    bias_.value.setZero();
  }

  Index width() const { return weight_.value.rows(); }
  Scalar eps() const { return eps_; }
  Parameter<Scalar>& weight() { return weight_; }
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// y = gamma * (x - mean) / sqrt(var + eps) + beta per column (biased variance).  x: (C, N) -> y: (C, N).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    check_shape(x, width(), -1, "elm::nn::LayerNorm::forward", "x");
    const Index n = x.cols();
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    const auto gamma = weight_.value.col(0).array();
    const auto beta = bias_.value.col(0).array();
    y.resize(width(), n);
    Matrix<Scalar> local_hat;
    Matrix<Scalar>& x_hat = cache ? cache->x_hat : local_hat;
    x_hat.resize(width(), n);
    RowVector<Scalar> rstd(n);
    // Column by column, so each column is read from memory once and its two passes (mean, then the variance
    // about it: stable for large means) run from L1; column chunks run on OpenMP threads.
    elm::detail::parallel_chunks(n, elm::detail::column_chunk(width()), [&](Index, Index first, Index last) {
      const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
        for (Index j = first; j < last; ++j)
          rstd(j) = kernels.layer_norm_forward_column(x.col(j).data(), weight_.value.data(), bias_.value.data(),
                                                       x_hat.col(j).data(), y.col(j).data(), width(), eps_);
      });
      if (wide) return;
      for (Index j = first; j < last; ++j) {
        const auto xj = x.col(j).array();
        const Scalar mean = xj.sum() * inv_c;
        const Scalar r = Scalar(1) / std::sqrt((xj - mean).square().sum() * inv_c + eps_);
        auto hat = x_hat.col(j).array();
        hat = (xj - mean) * r;
        y.col(j).array() = hat * gamma + beta;
        rstd(j) = r;
      }
    });
    if (cache) cache->rstd = std::move(rstd);
  }

  /// dx = rstd (g - mean(g) - x_hat mean(g x_hat)) with g = gamma dy (overwritten); dgamma += sum dy x_hat,
  /// dbeta += sum dy (added).  dy: (C, N) -> dx: (C, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    check_shape(dy, width(), cache.x_hat.cols(), "elm::nn::LayerNorm::backward", "dy");
    const Index n = dy.cols();
    const Scalar inv_c = Scalar(1) / static_cast<Scalar>(width());
    const auto gamma = weight_.value.col(0).array();
    dx.resize(width(), n);
    // One pass per column (dx and both parameter-gradient terms), over column chunks on OpenMP threads; each
    // chunk sums its dgamma and dbeta terms into its own column, reduced in chunk order afterwards.
    const Index chunk = elm::detail::column_chunk(width());
    Matrix<Scalar> dgamma = Matrix<Scalar>::Zero(width(), elm::detail::chunk_count(n, chunk));
    Matrix<Scalar> dbeta = Matrix<Scalar>::Zero(width(), dgamma.cols());
    elm::detail::parallel_chunks(n, chunk, [&](Index c, Index first, Index last) {
      const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
        for (Index j = first; j < last; ++j)
          kernels.layer_norm_backward_column(cache.x_hat.col(j).data(), dy.col(j).data(), weight_.value.data(),
                                             cache.rstd(j), dx.col(j).data(), dgamma.col(c).data(),
                                             dbeta.col(c).data(), width());
      });
      if (wide) return;
      for (Index j = first; j < last; ++j) {
        const auto hat = cache.x_hat.col(j).array();
        const auto dyj = dy.col(j).array();
        dgamma.col(c).array() += dyj * hat;
        dbeta.col(c).array() += dyj;
        auto g = dx.col(j).array();
        g = dyj * gamma;
        const Scalar mean_g = g.sum() * inv_c;
        const Scalar mean_gx = (g * hat).sum() * inv_c;
        g = (g - mean_g - hat * mean_gx) * cache.rstd(j);
      }
    });
    if (weight_.trainable) weight_.gradient().col(0) += elm::row_sums(dgamma);
    if (bias_.trainable) bias_.gradient().col(0) += elm::row_sums(dbeta);
  }

  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    f(join_name(prefix, "bias"), bias_);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
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
