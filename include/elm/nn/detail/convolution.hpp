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
#include "elm/nn/detail/direct_conv.hpp"
#include "elm/nn/detail/window.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn::detail {

/// cols: (taps*C, B*Ho*Wo), tap t of output column j in rows [t C, (t + 1) C): the pixel it reads, or zeros
/// over the padding. Each block is one contiguous copy of an input column.
template <typename Scalar>
void im2col(const Geometry& g, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& cols) {
  const Index C = g.channels, rows = g.taps() * C, x_stride = x.outerStride();
  cols.setZero(rows, g.out_columns());
  // plain loops, not Eigen segments: a first layer's C is 1 to 3, where a segment's setup is most of the copy
  Scalar* out_data = cols.data();
  const Scalar* in_data = x.data();
  for_each_tap(g, [&](Index out, Index in, Index tap) {
    Scalar* d = out_data + out * rows + tap * C;
    const Scalar* s = in_data + in * x_stride;
    for (Index c = 0; c < C; ++c) d[c] = s[c];
  });
}

/// The adjoint of im2col: dx: (C, B*H*W) = the sum over taps of the blocks of dcols that read each pixel.
template <typename Scalar>
void col2im(const Geometry& g, const Matrix<Scalar>& dcols, Matrix<Scalar>& dx) {
  const Index C = g.channels, rows = dcols.rows();
  dx.setZero(C, g.in_columns());
  Scalar* dx_data = dx.data();
  const Scalar* dcols_data = dcols.data();
  for_each_tap(g, [&](Index out, Index in, Index tap) {
    Scalar* d = dx_data + in * C;
    const Scalar* s = dcols_data + out * rows + tap * C;
    for (Index c = 0; c < C; ++c) d[c] += s[c];
  });
}

/// Writes `count` pixels' channel vectors (pixel i's `channels` scalars contiguous at src[i], or zeros where src[i]
/// is null) as the rows of a k-major panel block: dst[c * panel_rows + i] = src[i][c]. Each group of a packet's
/// width of pixels is transposed in registers: one packet store per channel and group instead of a scalar store
/// per value (the gathers' stores were a fifth of a small convolution's backward pass).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // __m128 as a template argument, as inside Eigen
#endif
template <typename Scalar>
void write_pixels_transposed(const Scalar* const* src, Index count, Index channels, Index panel_rows, Scalar* dst) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<Scalar>::type;
  constexpr int width = ei::unpacket_traits<Packet>::size;
  Index i0 = 0;
  for (; i0 + width <= count; i0 += width) {
    Index c = 0;
    for (; c + width <= channels; c += width) {
      ei::PacketBlock<Packet, width> block;
      for (int j = 0; j < width; ++j)
        block.packet[j] = src[i0 + j] ? ei::ploadu<Packet>(src[i0 + j] + c) : ei::pset1<Packet>(Scalar(0));
      ei::ptranspose(block);
      for (int j = 0; j < width; ++j) ei::pstoreu(dst + (c + j) * panel_rows + i0, block.packet[j]);
    }
    for (; c < channels; ++c)
      for (Index j = 0; j < width; ++j) dst[c * panel_rows + i0 + j] = src[i0 + j] ? src[i0 + j][c] : Scalar(0);
  }
  for (; i0 < count; ++i0)
    for (Index c = 0; c < channels; ++c) dst[c * panel_rows + i0] = src[i0] ? src[i0][c] : Scalar(0);
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// im2col's matrix of x (taps*C, B*Ho*Wo) as PanelSources, gathered from x panel by panel inside the products
/// instead of formed (it is taps times x: 75 MB for a batch of 32 64-channel 32x32 images under a 3x3 kernel,
/// written and read back through memory on every pass).
template <typename Scalar>
struct Im2colSource {
  const Geometry* g;
  const Scalar* x;  // (C, B*H*W), column-major: column j at x + j * x_stride
  Index x_stride;

  /// Its transpose (B*Ho*Wo, taps*C): rows are output pixels, depth the taps' channels (the forward product's
  /// and the input gradient's packed side).
  PanelSource<Scalar> pixel_rows() const { return {&pack_pixel_rows, this}; }
  /// The matrix itself: rows are taps' channels, depth the output pixels (the weight gradient's packed side).
  PanelSource<Scalar> tap_rows() const { return {&pack_tap_rows, this}; }

 private:
  static void pack_pixel_rows(const void* context, Index r0, Index count, Index depth, Index panel_rows,
                              Scalar* dst) {
    const auto& self = *static_cast<const Im2colSource*>(context);
    const Geometry& g = *self.g;
    const Index C = g.channels;
    eigen_assert(depth == g.taps() * C);
    (void)depth;
    constexpr Index max_rows = 64;  // above any kernel's panel_rows (48 at most)
    ELM_EXPECT(count <= max_rows, InvalidArgument, "convolution gather: a panel of ", count, " rows, at most ",
               max_rows, " supported");
    WindowOrigin origins[max_rows];
    for (Index i = 0; i < count; ++i) origins[i] = window_origin(g, r0 + i);
    // tap by tap: a tap's C rows of dst (C lines per packet of pixels) stay in L1 while the pixels are written
    const Scalar* src[max_rows];
    for (Index t = 0; t < g.taps(); ++t) {
      for (Index i = 0; i < count; ++i) {
        const Index in = tap_input_column(g, origins[i], t);
        src[i] = in < 0 ? nullptr : self.x + in * self.x_stride;
      }
      write_pixels_transposed(src, count, C, panel_rows, dst + t * C * panel_rows);
    }
  }

  static void pack_tap_rows(const void* context, Index r0, Index count, Index depth, Index panel_rows, Scalar* dst) {
    const auto& self = *static_cast<const Im2colSource*>(context);
    const Geometry& g = *self.g;
    const Index C = g.channels;
    eigen_assert(depth == g.out_columns());
    // each output pixel's rows [r0, r0 + count) are runs of consecutive channels of one tap: one copy per run
    for (Index n = 0; n < depth; ++n, dst += panel_rows) {
      const WindowOrigin origin = window_origin(g, n);
      for (Index row = r0; row < r0 + count;) {
        const Index t = row / C, c = row % C, run = std::min(C - c, r0 + count - row);
        const Index in = tap_input_column(g, origin, t);
        Scalar* d = dst + (row - r0);
        if (in < 0) {
          for (Index i = 0; i < run; ++i) d[i] = Scalar(0);
        } else {
          const Scalar* src = self.x + in * self.x_stride + c;
          for (Index i = 0; i < run; ++i) d[i] = src[i];
        }
        row += run;
      }
    }
  }
};

/// The input gradient's gathered operand for a window of stride 1: rows are input pixels (B*H*W), depth the taps'
/// output channels (taps*O, tap-major); row `in`, column t*O + o holds dy(o, the output pixel whose tap t reads
/// `in`), or 0 where no output pixel's tap t reads it. dx^T = this times W' (taps*O, C), W'(t*O + o, c) =
/// W(o, c, t): the transposed convolution as one product, with neither im2col's matrix of dy nor col2im.
template <typename Scalar>
struct TransposedIm2colSource {
  const Geometry* g;
  const Scalar* dy;  // (O, B*Ho*Wo), column-major: column j at dy + j * dy_stride
  Index dy_stride, out_channels;

  PanelSource<Scalar> pixel_rows() const { return {&pack_pixel_rows, this}; }

 private:
  static void pack_pixel_rows(const void* context, Index r0, Index count, Index depth, Index panel_rows,
                              Scalar* dst) {
    const auto& self = *static_cast<const TransposedIm2colSource*>(context);
    const Geometry& g = *self.g;
    const Window& w = g.window;
    const Index O = self.out_channels, per_image = g.in.height * g.in.width;
    eigen_assert(depth == g.taps() * O && w.stride.height == 1 && w.stride.width == 1);
    (void)depth;
    constexpr Index max_rows = 64;  // above any kernel's panel_rows (48 at most)
    ELM_EXPECT(count <= max_rows, InvalidArgument, "convolution gather: a panel of ", count, " rows, at most ",
               max_rows, " supported");
    Index image_out[max_rows], row[max_rows], col[max_rows];  // per input pixel: b*Ho*Wo, ih + pad, iw + pad
    for (Index i = 0; i < count; ++i) {
      const Index in = r0 + i, b = in / per_image;
      image_out[i] = b * g.out_height * g.out_width;
      row[i] = in % per_image / g.in.width + w.padding.height;
      col[i] = in % g.in.width + w.padding.width;
    }
    // tap by tap, as Im2colSource: a tap's O rows of dst stay in L1 while the pixels are written
    const Scalar* src[max_rows];
    for (Index r = 0; r < w.kernel.height; ++r)
      for (Index s = 0; s < w.kernel.width; ++s) {
        for (Index i = 0; i < count; ++i) {
          // the output pixel whose tap (r, s) reads this input pixel: oh - padding + r * dilation = ih
          const Index oh = row[i] - r * w.dilation.height, ow = col[i] - s * w.dilation.width;
          const bool inside = oh >= 0 && oh < g.out_height && ow >= 0 && ow < g.out_width;
          src[i] = inside ? self.dy + (image_out[i] + oh * g.out_width + ow) * self.dy_stride : nullptr;
        }
        write_pixels_transposed(src, count, O, panel_rows, dst + (r * w.kernel.width + s) * O * panel_rows);
      }
  }
};

/// Whether a convolution's products go through the packed kernel with the pixels as its packed side: im2col's
/// matrix has a column per output pixel (B*Ho*Wo of them, thousands) and few rows (taps x in) next to few output
/// channels, the shape the dense layer's routing (features as the packed side) leaves to Eigen's product.
/// rows: of the packed side (pixels, or taps x channels for the weight gradient); right_cols: of the other
/// side. Below four panels of rows, or two blocks of right-side columns, the padding the kernel works through
/// costs more than Eigen's product.
template <typename Scalar>
bool conv_uses_packed_products(Index rows, Index right_cols) {
  constexpr Index min_rows = 4 * 3 * 64 / Index(sizeof(Scalar));  // four panels of the widest kernel
  constexpr Index min_cols = 16;                                   // two blocks of the widest kernel
  return has_packed_kernel<Scalar> && !products_use_blas && rows >= min_rows && right_cols >= min_cols &&
         product_kernel() != ProductKernel::reference;
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
    Matrix<Scalar> input;  // x: backward gathers im2col's matrix from it again
    Matrix<Scalar> cols;   // im2col's matrix, formed only when the forward product was Eigen's (a small layer)
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
    PackedLhs<Scalar> local_products;
    PackedLhs<Scalar>& products = cache ? *cache->products : local_products;
    if (direct_conv_serves<Scalar>(out_channels_)) {
      // y(:, p) = b + sum over taps of W_t x(:, the pixel tap t of p's window covers), read in place
      const ConvColumns<Scalar> windows{&g, x.data(), x.outerStride()};
      const DirectConvWeight<Scalar> w = weight_by_tap(/*output_rows=*/true);
      const std::vector<Scalar> zeros(to_size(in_channels_), Scalar(0));
      y.resize(out_channels_, g.out_columns());
      with_direct_conv_kernels<Scalar>([&](auto kernels) {
        kernels.product({w.data(), out_channels_, out_channels_, g.taps(), in_channels_, g.out_columns(),
                         windows.of_windows(), zeros.data(), y.data(), y.outerStride(),
                         has_bias_ ? bias_.value.data() : nullptr, /*accumulate=*/false});
      });
      if (cache) {
        copy_input(x, cache->input);
        cache->cols.resize(0, 0);
        cache->geometry = g;
      }
      return;
    }
    const Matrix<Scalar> wp = tap_major_weight();
    if (conv_uses_packed_products<Scalar>(g.out_columns(), out_channels_)) {
      // y^T = cols^T Wp: the output pixels are the packed side, gathered from x panel by panel (im2col's matrix
      // is never formed), Wp the right side; the tiles are written transposed into y, which starts as the bias
      const Im2colSource<Scalar> source{&g, x.data(), x.outerStride()};
      y.resize(out_channels_, g.out_columns());
      if (has_bias_)
        y.colwise() = bias_.value.col(0);
      else
        y.setZero();
      products.multiply_add_transposed_from(source.pixel_rows(), g.out_columns(), g.taps() * in_channels_, wp, y);
      if (cache) {
        copy_input(x, cache->input);
        cache->cols.resize(0, 0);
      }
    } else {
      Matrix<Scalar> local_cols;
      Matrix<Scalar>& cols = cache ? cache->cols : local_cols;
      im2col<Scalar>(g, x, cols);
      dense_forward<Scalar>(wp.transpose(), cols, y, has_bias_ ? bias_.value.data() : nullptr, products);
      if (cache) copy_input(x, cache->input);
    }
    if (cache) cache->geometry = g;
  }

  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                std::string_view where) {
    const Geometry& g = cache.geometry;
    ELM_EXPECT(g.in.batch > 0 && cache.input.cols() == g.in_columns(), InvalidArgument, where,
               ": the cache holds no forward pass (run forward with a cache first)");
    ELM_EXPECT(cache.input.rows() == in_channels_ && same_window(g.window, window_), InvalidArgument, where,
               ": the cache is another layer's (", cache.input.rows(), " input channels, kernel ",
               g.window.kernel.height, "x", g.window.kernel.width, "; expected in_channels = ", in_channels_,
               ", kernel ", window_.kernel.height, "x", window_.kernel.width, " and this layer's stride, padding and "
               "dilation)");
    check_shape(dy, out_channels_, g.out_columns(), where, "dy");
    const bool bias_grad = has_bias_ && bias_.trainable;
    // the direct products where the channels of their rows fill whole vectors: the output channels for the
    // weight gradient, the input channels for the input gradient (each product chosen on its own)
    const bool direct_weight_grad = direct_conv_serves<Scalar>(out_channels_);
    const bool direct_input_grad = direct_conv_serves<Scalar>(in_channels_);
    const Index tap_rows = tap_count() * in_channels_;
    // the weight gradient's packed side is im2col's matrix (taps x in rows); the input gradient's, the pixels
    const bool packed_weight_grad = conv_uses_packed_products<Scalar>(tap_rows, out_channels_);
    const bool packed_input_grad = conv_uses_packed_products<Scalar>(g.out_columns(), tap_rows);
    const bool transposed_input_grad = window_.stride.height == 1 && window_.stride.width == 1 &&
                                       conv_uses_packed_products<Scalar>(g.in_columns(), in_channels_);
    // im2col's matrix, where Eigen's product reads it (small layers): the forward pass's, or formed again
    Matrix<Scalar> formed_cols;
    const bool cols_needed = (weight_.trainable && !direct_weight_grad && !packed_weight_grad) ||
                             (!direct_input_grad && !transposed_input_grad && !packed_input_grad);
    const bool cols_cached = cache.cols.rows() == tap_rows && cache.cols.cols() == g.out_columns();
    if (cols_needed && !cols_cached) im2col<Scalar>(g, cache.input, formed_cols);
    const Matrix<Scalar>& cols = cols_cached ? cache.cols : formed_cols;
    if (weight_.trainable && direct_weight_grad) {
      direct_weight_gradient(cache, dy);
      if (bias_grad) bias_.gradient().col(0) += elm::row_sums(dy);
    } else if (weight_.trainable) {
      Matrix<Scalar> dwp = Matrix<Scalar>::Zero(tap_rows, out_channels_);
      if (packed_weight_grad) {
        // dWp = cols dy^T, a product over the pixels: cols the packed side, gathered from x panel by panel
        const Im2colSource<Scalar> source{&g, cache.input.data(), cache.input.outerStride()};
        products_->multiply_add_from(source.tap_rows(), tap_rows, g.out_columns(), dy.transpose(), dwp);
        if (bias_grad) bias_.gradient().col(0) += elm::row_sums(dy);
      } else {
        dense_add_weight_grad<Scalar>(cols, dy, dwp, /*grad_transposed=*/true,
                                      bias_grad ? bias_.gradient().data() : nullptr, *products_);
      }
      add_from_tap_major(dwp, weight_.gradient());
    } else if (bias_grad) {
      bias_.gradient().col(0) += elm::row_sums(dy);
    }
    if (direct_input_grad) {
      direct_input_gradient(cache, dy, dx);
      return;
    }
    if (transposed_input_grad) {
      // dx^T = (dy gathered per input pixel) W': the transposed convolution as one product (see
      // TransposedIm2colSource), written transposed into dx
      const TransposedIm2colSource<Scalar> source{&g, dy.data(), dy.outerStride(), out_channels_};
      dx.setZero(in_channels_, g.in_columns());
      products_->multiply_add_transposed_from(source.pixel_rows(), g.in_columns(), tap_count() * out_channels_,
                                              output_major_weight(), dx);
      return;
    }
    const Matrix<Scalar> wp = tap_major_weight();
    Matrix<Scalar>& dcols = *dcols_;
    if (packed_input_grad) {
      // dcols^T = dy^T Wp^T: the pixels again the packed side, the tiles written transposed into dcols
      dcols.setZero(wp.rows(), dy.cols());
      products_->multiply_add_transposed_streamed(dy.transpose(), wp.transpose(), dcols);
    } else {
      dense_input_grad<Scalar>(wp.transpose(), dy, dcols, /*accumulate=*/false, *products_);
    }
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

  // The cache's copy of x, in column chunks on the OpenMP threads (a 64-channel batch of 32 32x32 images is 8 MB:
  // a millisecond on one thread, 3 % of the layer's forward and backward on two).
  static void copy_input(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& input) {
    input.resize(x.rows(), x.cols());
    const Index chunk = std::max<Index>(1, (Index(1) << 18) / std::max<Index>(1, x.rows()));  // 1 MB a chunk
    elm::detail::parallel_chunks(x.cols(), chunk, [&](Index, Index c0, Index c1) {
      input.middleCols(c0, c1 - c0) = x.middleCols(c0, c1 - c0);
    });
  }

  // The backward pass's direct products: dW_t = sum over pixels p of dy(:, p) x(:, tap t of p)^T (added to the
  // weight's gradient), and dx(:, q) = sum over taps of W_t^T dy(:, the output pixel whose tap t covers q): the
  // transposed convolution, one product, any stride.
  void direct_weight_gradient(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy) {
    const Geometry& g = cache.geometry;
    const Index C = in_channels_, O = out_channels_, taps = tap_count();
    const std::vector<Scalar> zeros(to_size(C), Scalar(0));
    const ConvColumns<Scalar> windows{&g, cache.input.data(), cache.input.outerStride()};
    Matrix<Scalar>& dw = *dcols_;  // dW_t(o, c) at column t * C + c
    dw.setZero(O, taps * C);
    with_direct_conv_kernels<Scalar>([&](auto kernels) {
      kernels.weight_product({dy.data(), dy.outerStride(), O, taps, C, g.out_columns(), windows.of_windows(),
                              zeros.data(), dw.data(), dw.outerStride()});
    });
    Scalar* grad = weight_.gradient().data();  // (o, i, t) in PyTorch's order
    const Scalar* d = dw.data();                // read in order, as weight_by_tap writes
    for (Index t = 0; t < taps; ++t)
      for (Index i = 0; i < C; ++i)
        for (Index o = 0; o < O; ++o) grad[(o * C + i) * taps + t] += *d++;
  }

  void direct_input_gradient(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    const Geometry& g = cache.geometry;
    const Index C = in_channels_, O = out_channels_;
    const std::vector<Scalar> zeros(to_size(O), Scalar(0));
    const ConvColumns<Scalar> covering{&g, dy.data(), dy.outerStride()};
    const DirectConvWeight<Scalar> w = weight_by_tap(/*output_rows=*/false);
    dx.resize(C, g.in_columns());
    with_direct_conv_kernels<Scalar>([&](auto kernels) {
      kernels.product({w.data(), C, C, tap_count(), O, g.in_columns(), covering.of_covering_outputs(), zeros.data(),
                       dx.data(), dx.outerStride(), nullptr, /*accumulate=*/false});
    });
  }

  /// The weight by tap for the direct products: with output_rows, W_t(c, o) at (t * in + c) * out + o (the
  /// forward pass's); else W_t(o, c) at (t * out + o) * in + c (the input gradient's).
  DirectConvWeight<Scalar> weight_by_tap(bool output_rows) const {
    const Index C = in_channels_, O = out_channels_, taps = tap_count();
    DirectConvWeight<Scalar> w(to_size(taps * C * O));
    const Scalar* src = weight_.value.data();  // (o, i, t) in PyTorch's order
    // written in order, read a stride apart (the other way round, the writes a tap apart, C * O scalars, fall in
    // the same cache set and were most of a small layer's copy)
    Scalar* dst = w.data();
    for (Index t = 0; t < taps; ++t)
      for (Index a = 0; a < (output_rows ? C : O); ++a)
        for (Index b = 0; b < (output_rows ? O : C); ++b) {
          const Index o = output_rows ? b : a, i = output_rows ? a : b;
          *dst++ = src[(o * C + i) * taps + t];
        }
    return w;
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

  /// W' (taps*out, in): W'(t*out + o, i) = W(o, i, t), the transposed convolution's right side.
  Matrix<Scalar> output_major_weight() const {
    Matrix<Scalar> wt(tap_count() * out_channels_, in_channels_);
    const Scalar* w = weight_.value.data();
    for (Index o = 0; o < out_channels_; ++o)
      for (Index i = 0; i < in_channels_; ++i)
        for (Index t = 0; t < tap_count(); ++t) wt(t * out_channels_ + o, i) = w[weight_offset(o, i, t)];
    return wt;
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
  elm::detail::Workspace<Matrix<Scalar>> dcols_;  // the input gradient's (taps*C, B*Ho*Wo), taps times dx
};

}  // namespace elm::nn::detail
