// SPDX-License-Identifier: MIT
// The convolution as direct products: forward, input gradient and weight gradient computed from the images as
// they lie in memory, a pixel's channels contiguous, through tables of column pointers (one per tap and pixel),
// in float with the AVX2 or AVX-512 kernel chosen at run time (elm/nn/product_kernel.hpp).
//
// Why: the im2col route packs every output pixel's window (taps x channels values) before each product, and
// transposes it so that pixels fill the vectors; for a 64-channel 3x3 layer those gathers were a fifth of the
// time. With the channels as the vector dimension the window's values are read where they are, one broadcast
// scalar each, and the products write the output's columns as they are laid out.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/simd.hpp"
#include "elm/nn/detail/window.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn::detail {

/// The columns a direct product reads at each tap: gather(context, p0, count, zeros, dst, dst_stride) writes,
/// for pixels p0 + i (i < count) and every tap t, the address of the channel vector that tap t of pixel p0 + i
/// reads to dst[t * dst_stride + i], or `zeros` where it reads the zero padding.
template <typename Scalar>
struct ColumnTable {
  void (*gather)(const void* context, Index p0, Index count, const Scalar* zeros, const Scalar** dst,
                 Index dst_stride);
  const void* context;
};

/// out(:, p) = init + sum over taps t and depth c of W_t(c, :) * (column t of pixel p)[c], for `columns` pixels:
/// W_t(c, r) at w[(t * depth + c) * w_stride + r] (64-byte aligned, w_stride a multiple of the packet size), out
/// column p's `rows` values at out + p * out_stride; init: out itself (accumulate), else the bias (rows values)
/// or zero.
template <typename Scalar>
struct DirectConvProduct {
  const Scalar* w;
  Index w_stride, rows, taps, depth, columns;
  ColumnTable<Scalar> sources;
  const Scalar* zeros;  // depth zeros, the padding's column
  Scalar* out;
  Index out_stride;
  const Scalar* bias;
  bool accumulate;
};

/// dw(:, t * depth + c) += sum over pixels p of a(:, p) * (column t of pixel p)[c]: a column p's `rows` values at
/// a + p * a_stride, dw column k at dw + k * dw_stride.
template <typename Scalar>
struct DirectConvWeightProduct {
  const Scalar* a;
  Index a_stride, rows, taps, depth, columns;
  ColumnTable<Scalar> sources;
  const Scalar* zeros;
  Scalar* dw;
  Index dw_stride;
};

/// Pixels whose weight-gradient terms one partial sum takes at most (fewer when that makes fewer than 16 partial
/// sums): set by the pixel count alone, so that the partials, and their sum, are the same on any number of threads.
inline constexpr Index direct_conv_weight_chunk_pixels = 4096;

}  // namespace elm::nn::detail

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AVX2
namespace elm::nn::detail::avx2 {
namespace direct {
template <typename Scalar>
using Simd = SimdAvx2<Scalar>;
#include "elm/nn/detail/direct_conv_kernel.inl"
}  // namespace direct
}  // namespace elm::nn::detail::avx2
ELM_END_TARGET

ELM_BEGIN_TARGET_AVX512
namespace elm::nn::detail::avx512 {
namespace direct {
template <typename Scalar>
using Simd = SimdAvx512<Scalar>;
#include "elm/nn/detail/direct_conv_kernel.inl"
}  // namespace direct
}  // namespace elm::nn::detail::avx512
ELM_END_TARGET
#endif

namespace elm::nn::detail {

/// Calls f(kernels) with the direct kernels in force (an empty DirectConvKernels of the instruction set's
/// namespace) and returns true; returns false (nothing called) when Scalar is not float or the kernel in force
/// has none (reference, generic): the convolution then takes its im2col route.
template <typename Scalar, typename F>
bool with_direct_conv_kernels(F&& f) {
#if ELM_X86_KERNELS
  if constexpr (std::is_same_v<Scalar, float>) {
    if (products_use_blas) return false;
    switch (product_kernel()) {
      case ProductKernel::avx512: f(avx512::direct::DirectConvKernels{}); return true;
      case ProductKernel::avx2: f(avx2::direct::DirectConvKernels{}); return true;
      default: return false;
    }
  }
#endif
  (void)f;
  return false;
}

/// Whether the direct products serve a product whose output rows are `channels` channels (the output channels
/// for the forward pass and the weight gradient, the input channels for the input gradient): float, an AVX2 or
/// AVX-512 kernel in force, and the channels a whole number of its vectors (they fill the register tile's rows;
/// the depth, the other side's channels, may be anything). Other products take the im2col route.
template <typename Scalar>
bool direct_conv_serves(Index channels) {
  Index width = 0;  // the vector width of the kernels in force, 0 without them
  with_direct_conv_kernels<Scalar>([&](auto kernels) { width = kernels.packet_size; });
  return width > 0 && channels % width == 0;
}

/// The column tables of a convolution's products: the forward pass and the weight gradient read, at tap t of
/// output pixel p, the input pixel the window's tap covers (x's column); the input gradient reads, at tap t of
/// input pixel q, the output pixel whose tap t covers q (dy's column).
template <typename Scalar>
struct ConvColumns {
  const Geometry* g;
  const Scalar* data;  // x (C, B*H*W) or dy (O, B*Ho*Wo), column-major
  Index stride;        // between columns

  /// At tap t of output pixel p: x's column tap t of p's window covers.
  ColumnTable<Scalar> of_windows() const { return {&gather_windows, this}; }
  /// At tap t of input pixel q: dy's column of the output pixel whose tap t covers q.
  ColumnTable<Scalar> of_covering_outputs() const { return {&gather_covering_outputs, this}; }

 private:
  // Both gathers step through the pixels in order (image, row, column) instead of dividing for each: they run
  // once per product, over every pixel and tap.
  static void gather_windows(const void* context, Index p0, Index count, const Scalar* zeros, const Scalar** dst,
                             Index dst_stride) {
    const auto& self = *static_cast<const ConvColumns*>(context);
    const Geometry& g = *self.g;
    const Window& w = g.window;
    const Index per_image = g.out_height * g.out_width, H = g.in.height, W = g.in.width;
    Index b = p0 / per_image, oh = p0 % per_image / g.out_width, ow = p0 % g.out_width;
    for (Index i = 0; i < count; ++i) {
      const Scalar* image = self.data + b * H * W * self.stride;
      const Index top = oh * w.stride.height - w.padding.height, left = ow * w.stride.width - w.padding.width;
      const Scalar** d = dst + i;
      for (Index r = 0; r < w.kernel.height; ++r) {
        const Index ih = top + r * w.dilation.height;
        const bool row_inside = ih >= 0 && ih < H;
        for (Index s = 0; s < w.kernel.width; ++s, d += dst_stride) {
          const Index iw = left + s * w.dilation.width;
          *d = row_inside && iw >= 0 && iw < W ? image + (ih * W + iw) * self.stride : zeros;
        }
      }
      if (++ow == g.out_width) {
        ow = 0;
        if (++oh == g.out_height) oh = 0, ++b;
      }
    }
  }

  // The output position (oh, or ow) whose tap at `offset` below the padded input position covers it: (position -
  // offset) / stride when that divides, else none (-1).
  static Index covering_output(Index position, Index offset, Index stride, Index outputs) {
    const Index top = position - offset;
    if (top < 0) return -1;
    const Index o = stride == 1 ? top : top % stride == 0 ? top / stride : -1;
    return o < outputs ? o : -1;
  }

  static void gather_covering_outputs(const void* context, Index q0, Index count, const Scalar* zeros,
                                      const Scalar** dst, Index dst_stride) {
    const auto& self = *static_cast<const ConvColumns*>(context);
    const Geometry& g = *self.g;
    const Window& w = g.window;
    const Index per_image = g.in.height * g.in.width, Ho = g.out_height, Wo = g.out_width;
    Index b = q0 / per_image, ih = q0 % per_image / g.in.width, iw = q0 % g.in.width;
    for (Index i = 0; i < count; ++i) {
      const Scalar* image = self.data + b * Ho * Wo * self.stride;
      const Scalar** d = dst + i;
      for (Index r = 0; r < w.kernel.height; ++r) {
        // oh * stride - padding + r * dilation = ih
        const Index oh = covering_output(ih + w.padding.height, r * w.dilation.height, w.stride.height, Ho);
        for (Index s = 0; s < w.kernel.width; ++s, d += dst_stride) {
          const Index ow = covering_output(iw + w.padding.width, s * w.dilation.width, w.stride.width, Wo);
          *d = oh >= 0 && ow >= 0 ? image + (oh * Wo + ow) * self.stride : zeros;
        }
      }
      if (++iw == g.in.width) {
        iw = 0;
        if (++ih == g.in.height) ih = 0, ++b;
      }
    }
  }
};

/// A weight for the direct products, 64-byte aligned: W_t(c, r) at (t * depth + c) * rows + r.
template <typename Scalar>
using DirectConvWeight = std::vector<Scalar, elm::detail::HugePageAllocator<Scalar>>;

}  // namespace elm::nn::detail
