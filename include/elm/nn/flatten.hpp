// SPDX-License-Identifier: MIT
// Flatten: each sample's channels and positions as one feature column, in PyTorch's order, with backward.
#pragma once

#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/window.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// PyTorch's nn.Flatten on a (B, C, H, W) or (B, C, L) tensor, from the library's layout: x: (C, batch*S) with S
/// positions per sample (S = H*W of an image, L of a sequence) -> y: (C*S, batch), feature c*S + s of sample b =
/// x(c, b*S + s). That is PyTorch's feature order (channel-major), so a Linear after it takes PyTorch's weights as
/// they are, although the layout keeps a sample's channels together (position-major). No parameters.
template <typename Scalar = float>
class Flatten {
  static_assert(std::is_floating_point_v<Scalar>, "Flatten needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// The input's sizes, for backward.
  struct Cache {
    Index channels = 0, batch = 0, positions = 0;
  };

  /// ShapeError when x's columns do not split into `batch` >= 1 samples.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    const Index S = detail::sequence_length(x.cols(), batch, "elm::nn::Flatten::forward");
    const Index C = x.rows();
    y.resize(C * S, batch);
    // sample b's (C, S) block, transposed, is its column read as an (S, C) matrix
    for (Index b = 0; b < batch; ++b)
      Eigen::Map<Matrix<Scalar>>(y.col(b).data(), S, C) = x.middleCols(b * S, S).transpose();
    if (cache) *cache = Cache{C, batch, S};
  }

  /// The inverse reshape: dy: (C*S, batch) -> dx: (C, batch*S), overwritten.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::Flatten::backward";
    ELM_EXPECT(cache.batch > 0, InvalidArgument, where,
               ": the cache holds no forward pass (run forward with a cache first)");
    const Index C = cache.channels, S = cache.positions;
    check_shape(dy, C * S, cache.batch, where, "dy");
    dx.resize(C, cache.batch * S);
    for (Index b = 0; b < cache.batch; ++b)
      dx.middleCols(b * S, S) = Eigen::Map<const Matrix<Scalar>>(dy.col(b).data(), S, C).transpose();
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};

}  // namespace elm::nn
