// SPDX-License-Identifier: MIT
// The sliding-window machinery shared by Conv1d, Conv2d and the pooling layers: output sizes, the checks on a
// window against its input, im2col / col2im, and the convolution's forward and backward as one product each.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/dense_products.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn::detail {

/// A window sliding over an image: size, step, zero padding and dilation per axis. A 1-D window is the same
/// with height 1 (kernel 1, stride 1, padding 0, dilation 1 on that axis).
struct Window {
  Size2d kernel, stride, padding, dilation;
};

/// Checks a window's options once, at construction. `where`: the constructor.
inline void check_window(const Window& w, std::string_view where) {
  ELM_EXPECT(w.kernel.height > 0 && w.kernel.width > 0, InvalidArgument, where, ": expected kernel > 0, got ",
             w.kernel.height, "x", w.kernel.width);
  ELM_EXPECT(w.stride.height > 0 && w.stride.width > 0, InvalidArgument, where, ": expected stride > 0, got ",
             w.stride.height, "x", w.stride.width);
  ELM_EXPECT(w.padding.height >= 0 && w.padding.width >= 0, InvalidArgument, where,
             ": expected padding >= 0, got ", w.padding.height, "x", w.padding.width);
  ELM_EXPECT(w.dilation.height > 0 && w.dilation.width > 0, InvalidArgument, where,
             ": expected dilation > 0, got ", w.dilation.height, "x", w.dilation.width);
}

/// One axis: floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, PyTorch's output size (ceil_mode = False).
/// Throws ShapeError when the dilated kernel is larger than the padded input.
inline Index window_output_size(Index in, Index kernel, Index stride, Index pad, Index dil, std::string_view where,
                                std::string_view axis) {
  const Index span = dil * (kernel - 1) + 1;
  ELM_EXPECT(in + 2 * pad >= span, ShapeError, where, ": the kernel spans ", span, " positions along ", axis,
             " (kernel ", kernel, ", dilation ", dil, "), larger than the padded input's ", in + 2 * pad, " (", in,
             " + 2 x padding ", pad, "), expected a kernel that fits");
  return (in + 2 * pad - span) / stride + 1;
}

/// A batch of images and the window over it: every size the loops need.
struct Geometry {
  Index channels = 0;
  ImageShape in;
  Index out_height = 0, out_width = 0;
  Window window;

  Index in_columns() const { return in.batch * in.height * in.width; }
  Index out_columns() const { return in.batch * out_height * out_width; }
  /// Rows of the im2col matrix: one block of `channels` per kernel tap.
  Index taps() const { return window.kernel.height * window.kernel.width; }
};

/// Checks x against `shape` (rows = channels when channels >= 0, columns = B*H*W, B, H, W >= 1) and the window
/// against the padded image; returns the geometry. ShapeError on any mismatch, naming `where`.
template <typename Scalar>
Geometry make_geometry(const Eigen::Ref<const Matrix<Scalar>>& x, Index channels, const ImageShape& shape,
                       const Window& window, std::string_view where) {
  ELM_EXPECT(shape.batch > 0, ShapeError, where, ": expected a batch of at least one, got batch = ", shape.batch);
  ELM_EXPECT(shape.height > 0 && shape.width > 0, ShapeError, where, ": expected an input of at least 1x1, got ",
             shape.height, "x", shape.width);
  ELM_EXPECT(channels < 0 || x.rows() == channels, ShapeError, where, ": x has ", x.rows(),
             " rows (channels), expected in_channels = ", channels);
  ELM_EXPECT(x.cols() == shape.batch * shape.height * shape.width, ShapeError, where, ": x has ", x.cols(),
             " columns, expected batch x height x width = ", shape.batch, " x ", shape.height, " x ", shape.width,
             " = ", shape.batch * shape.height * shape.width);
  Geometry g;
  g.channels = x.rows();
  g.in = shape;
  g.window = window;
  g.out_height = window_output_size(shape.height, window.kernel.height, window.stride.height, window.padding.height,
                                    window.dilation.height, where, "the height");
  g.out_width = window_output_size(shape.width, window.kernel.width, window.stride.width, window.padding.width,
                                   window.dilation.width, where, "the width");
  return g;
}

/// The length of each of `batch` sequences of x: (C, batch*L) -> L. ShapeError on an empty batch or columns
/// that do not split into `batch` equal sequences.
inline Index sequence_length(Index columns, Index batch, std::string_view where) {
  ELM_EXPECT(batch > 0, ShapeError, where, ": expected a batch of at least one, got batch = ", batch);
  ELM_EXPECT(columns > 0 && columns % batch == 0, ShapeError, where, ": x has ", columns,
             " columns, expected batch x length with batch = ", batch, " and length >= 1");
  return columns / batch;
}

/// Calls f(out_column, in_column, tap) for every kernel tap of every output position that falls inside the
/// image (taps over the zero padding are skipped); in_column and out_column index the (C, B*H*W) matrices.
template <typename F>
void for_each_tap(const Geometry& g, F&& f) {
  const Window& w = g.window;
  Index out = 0;
  for (Index b = 0; b < g.in.batch; ++b)
    for (Index oh = 0; oh < g.out_height; ++oh)
      for (Index ow = 0; ow < g.out_width; ++ow, ++out)
        for (Index r = 0; r < w.kernel.height; ++r) {
          const Index ih = oh * w.stride.height - w.padding.height + r * w.dilation.height;
          if (ih < 0 || ih >= g.in.height) continue;
          for (Index s = 0; s < w.kernel.width; ++s) {
            const Index iw = ow * w.stride.width - w.padding.width + s * w.dilation.width;
            if (iw < 0 || iw >= g.in.width) continue;
            f(out, (b * g.in.height + ih) * g.in.width + iw, r * w.kernel.width + s);
          }
        }
}

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
