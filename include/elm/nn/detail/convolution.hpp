// SPDX-License-Identifier: MIT
// The convolution of Conv1d and Conv2d: im2col / col2im over a sliding window, and forward and backward as one
// matrix product each.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/dense_products.hpp"
#include "elm/nn/detail/window.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn::detail {

/// cols: (taps*C, B*Ho*Wo), tap t of output column j in rows [t C, (t + 1) C): the pixel it reads, or zeros
/// over the padding. Each block is one contiguous copy of an input column.
template <typename Scalar>
void im2col(const Geometry& g, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& cols) {
  const Index C = g.channels;
  cols.setZero(g.taps() * C, g.out_columns());
  for_each_tap(g, [&](Index out, Index in, Index tap) { cols.col(out).segment(tap * C, C) = x.col(in); });
}

/// The adjoint of im2col: dx: (C, B*H*W) = the sum over taps of the blocks of dcols that read each pixel.
template <typename Scalar>
void col2im(const Geometry& g, const Matrix<Scalar>& dcols, Matrix<Scalar>& dx) {
  const Index C = g.channels;
  dx.setZero(C, g.in_columns());
  for_each_tap(g, [&](Index out, Index in, Index tap) { dx.col(in) += dcols.col(out).segment(tap * C, C); });
}

/// The convolution of Conv1d and Conv2d: weight (out, in, kh, kw) in PyTorch's bytes (Conv1d's (out, in, k) are
/// the same bytes with kh = 1), bias (out). Forward is one product y = Wp^T cols over im2col's matrix, with Wp:
/// (kh*kw*in, out) the weight reordered tap-major to match im2col's rows (a copy of the weight, small next to
/// the product); backward is the dense layer's two products and col2im.
template <typename Scalar>
class Convolution {
 public:
  struct Cache {
    Geometry geometry;
    Matrix<Scalar> cols;  // im2col of the input
    elm::detail::Workspace<PackedLhs<Scalar>> products;
  };

  Convolution() = default;
  Convolution(Index in_channels, Index out_channels, const Window& window, bool bias, std::vector<Index> weight_shape,
              std::string_view where)
      : in_channels_(in_channels), out_channels_(out_channels), window_(window), has_bias_(bias) {
    ELM_EXPECT(in_channels > 0 && out_channels > 0, InvalidArgument, where,
               ": expected in_channels > 0 and out_channels > 0, got ", in_channels, " and ", out_channels);
    check_window(window, where);
    weight_ = Parameter<Scalar>(std::move(weight_shape));
    if (has_bias_) bias_ = Parameter<Scalar>({out_channels});
  }

  /// PyTorch's default (kaiming_uniform with a = sqrt(5)): weight and bias uniform in +-1/sqrt(in * kh * kw).
  void reset_parameters(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels_ * window_.kernel.height *
                                                              window_.kernel.width));
    rng.fill_uniform(weight_.value, -bound, bound);
    if (has_bias_) rng.fill_uniform(bias_.value, -bound, bound);
  }

  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const ImageShape& shape, Matrix<Scalar>& y, Cache* cache,
               std::string_view where) const {
    const Geometry g = make_geometry<Scalar>(x, in_channels_, shape, window_, where);
    Matrix<Scalar> local_cols;
    PackedLhs<Scalar> local_products;
    Matrix<Scalar>& cols = cache ? cache->cols : local_cols;
    PackedLhs<Scalar>& products = cache ? *cache->products : local_products;
    im2col<Scalar>(g, x, cols);
    const Matrix<Scalar> wp = tap_major_weight();
    dense_forward<Scalar>(wp.transpose(), cols, y, has_bias_ ? bias_.value.data() : nullptr, products);
    if (cache) cache->geometry = g;
  }

  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                std::string_view where) {
    const Geometry& g = cache.geometry;
    ELM_EXPECT(g.in.batch > 0 && cache.cols.cols() == g.out_columns(), InvalidArgument, where,
               ": the cache holds no forward pass (run forward with a cache first)");
    ELM_EXPECT(cache.cols.rows() == tap_count() * in_channels_, InvalidArgument, where,
               ": the cache is another layer's (", cache.cols.rows(), " im2col rows, expected kernel taps x in_channels = ",
               tap_count() * in_channels_, ")");
    check_shape(dy, out_channels_, g.out_columns(), where, "dy");
    const bool bias_grad = has_bias_ && bias_.trainable;
    if (weight_.trainable) {
      Matrix<Scalar> dwp = Matrix<Scalar>::Zero(cache.cols.rows(), out_channels_);
      dense_add_weight_grad<Scalar>(cache.cols, dy, dwp, /*grad_transposed=*/true,
                                    bias_grad ? bias_.gradient().data() : nullptr, *products_);
      add_from_tap_major(dwp, weight_.gradient());
    } else if (bias_grad) {
      bias_.gradient().col(0) += elm::row_sums(dy);
    }
    const Matrix<Scalar> wp = tap_major_weight();
    Matrix<Scalar> dcols;
    dense_input_grad<Scalar>(wp.transpose(), dy, dcols, /*accumulate=*/false, *products_);
    col2im<Scalar>(g, dcols, dx);
  }

  Index in_channels() const { return in_channels_; }
  Index out_channels() const { return out_channels_; }
  const Window& window() const { return window_; }
  bool has_bias() const { return has_bias_; }
  Parameter<Scalar>& weight() { return weight_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// Visits `weight` and `bias` (when the layer has one) as f(name, parameter).
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit(*this, prefix, f);
  }
  void zero_grad() {
    weight_.zero_grad();
    bias_.zero_grad();
  }

 private:
  template <typename Self, typename F>
  static void visit(Self& self, std::string_view prefix, F& f) {
    f(join_name(prefix, "weight"), self.weight_);
    if (self.has_bias_) f(join_name(prefix, "bias"), self.bias_);
  }

  // weight[o, i, r, s] sits at ((o*in + i)*kh + r)*kw + s of the parameter's bytes; Wp((r*kw + s)*in + i, o)
  Index weight_offset(Index o, Index i, Index tap) const { return (o * in_channels_ + i) * tap_count() + tap; }
  Index tap_count() const { return window_.kernel.height * window_.kernel.width; }

  Matrix<Scalar> tap_major_weight() const {
    Matrix<Scalar> wp(tap_count() * in_channels_, out_channels_);
    const Scalar* w = weight_.value.data();
    for (Index o = 0; o < out_channels_; ++o)
      for (Index i = 0; i < in_channels_; ++i)
        for (Index t = 0; t < tap_count(); ++t) wp(t * in_channels_ + i, o) = w[weight_offset(o, i, t)];
    return wp;
  }

  void add_from_tap_major(const Matrix<Scalar>& dwp, Matrix<Scalar>& grad) const {
    Scalar* g = grad.data();
    for (Index o = 0; o < out_channels_; ++o)
      for (Index i = 0; i < in_channels_; ++i)
        for (Index t = 0; t < tap_count(); ++t) g[weight_offset(o, i, t)] += dwp(t * in_channels_ + i, o);
  }

  Index in_channels_ = 0, out_channels_ = 0;
  Window window_;
  bool has_bias_ = true;
  Parameter<Scalar> weight_, bias_;
  elm::detail::Workspace<PackedLhs<Scalar>> products_;  // the backward products' buffers
};

}  // namespace elm::nn::detail
