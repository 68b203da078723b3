// SPDX-License-Identifier: MIT
// Dropout: seeded inverted dropout in training, the identity at inference.
#pragma once

#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// Inverted dropout (PyTorch's nn.Dropout): in training each element is zeroed with probability p and the
/// survivors are scaled by 1/(1 - p); at inference it is the identity. Only a training context drops, drawing
/// from its generator, so an inference forward never draws (and a shared model stays const and thread-safe).
template <typename Scalar = float>
class Dropout {
  static_assert(std::is_floating_point_v<Scalar>, "Dropout needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// The mask applied (0 or 1/(1-p) per element); empty after an inference forward.
  struct Cache {
    Matrix<Scalar> mask;
  };

  /// Throws InvalidArgument unless 0 <= p < 1.
  explicit Dropout(double p) : p_(p) {
    ELM_EXPECT(p >= 0.0 && p < 1.0, InvalidArgument, "elm::nn::Dropout: expected 0 <= p < 1, got p = ", p);
  }
  double p() const { return p_; }

  /// Inference (and training with p = 0): y = x. Training: y = x * mask, mask_ij = [u_ij >= p] / (1 - p) with u
  /// drawn from the context's generator column by column (InvalidArgument when a training context has none).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    if (!context.training || p_ == 0.0) {
      y = x;
      if (cache) cache->mask.resize(0, 0);
      return;
    }
    Rng& rng = context.require_rng("elm::nn::Dropout::forward");
    Matrix<Scalar> mask(x.rows(), x.cols());
    const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - p_));
    for (Index j = 0; j < x.cols(); ++j)
      for (Index i = 0; i < x.rows(); ++i) mask(i, j) = rng.uniform() < p_ ? Scalar(0) : keep_scale;
    y = x.cwiseProduct(mask);
    if (cache) cache->mask = std::move(mask);
  }

  /// dx = dy * mask (dx = dy after an inference forward).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    if (cache.mask.size() == 0) {
      dx = dy;
      return;
    }
    check_shape(dy, cache.mask.rows(), cache.mask.cols(), "elm::nn::Dropout::backward", "dy");
    dx = dy.cwiseProduct(cache.mask);
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  double p_;
};

}  // namespace elm::nn
