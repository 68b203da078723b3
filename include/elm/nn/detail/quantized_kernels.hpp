// SPDX-License-Identifier: MIT
// The kernels of weights stored in bf16 or int8 (Q8_0): their element formats, the scalar reference of y = A x,
// and its AVX2 and AVX-512 variants (quantized_kernel.inl) compiled apart from the program's flags and chosen at
// run time with the product kernel (elm/nn/product_kernel.hpp). Included by elm/nn/quantized_weights.hpp only.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>

#include "elm/core/types.hpp"
#include "elm/nn/detail/simd.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn::detail {

/// Weights per int8 block, each block with its own scale (llama.cpp's QK8_0).
inline constexpr Index q8_block = 32;
/// Columns of x the matrix-vector kernels serve in one pass over the weights.
inline constexpr Index max_quantized_columns = 4;

/// The float whose upper 16 bits b holds (exact: every bf16 is a float).
inline float bf16_to_float(std::uint16_t b) noexcept {
  const std::uint32_t bits = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// f rounded to bf16, to nearest with ties to even (PyTorch's and numpy's ml_dtypes' rounding); a NaN stays a
/// (quiet) NaN, infinities stay, a finite value past bf16's largest becomes an infinity as the rounding says.
inline std::uint16_t float_to_bf16(float f) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return std::uint16_t(bits >> 16);
}

/// Rows a tile of the stored matrix interleaves: 16, the rows of an AMX tile (amx_product.hpp reads a block of
/// a storage tile as one tile load).
inline constexpr Index tile_rows = 16;

// The storage of both formats: the rows in tiles of tile_rows (the last padded with zero rows), each tile's
// rows interleaved by blocks of q8_block columns (each row padded with zeros to whole blocks): block b of row r
// at element offset ((r / 16 blocks + b) 16 + r % 16) 32. A pass of the matrix-vector kernel over a tile's rows
// reads one sequential stream: with each row a stream of its own (1.5 KB for 768 bf16 weights), the hardware
// prefetchers fell behind (GPT-2 small's (3072, 768) weights decoded at 12 GB/s, against 20 for rows of 3072).

/// A bf16 matrix's storage (see above): data, and `blocks` blocks a row.
struct Bf16Rows {
  const std::uint16_t* data;
  Index blocks;
};

/// An int8 matrix's storage (see above): the values q and, at the same offset divided by q8_block, the
/// blocks' scales.
struct Q8Rows {
  const std::int8_t* q;
  const float* scales;
  Index blocks;
};

/// Element offset of (r, k) in the tiled storage of a matrix of `blocks` blocks a row.
inline Index tile_offset(Index blocks, Index r, Index k) noexcept {
  return ((r / tile_rows * blocks + k / q8_block) * tile_rows + r % tile_rows) * q8_block + k % q8_block;
}
template <typename Rows>
Index tile_offset(const Rows& w, Index r, Index k) noexcept {
  return tile_offset(w.blocks, r, k);
}

/// Element (r, k) as a float: the value every kernel multiplies by.
inline float element(const Bf16Rows& w, Index r, Index k) noexcept { return bf16_to_float(w.data[tile_offset(w, r, k)]); }
inline float element(const Q8Rows& w, Index r, Index k) noexcept {
  const Index e = tile_offset(w, r, k);
  return float(w.q[e]) * w.scales[e / q8_block];
}

/// The scalar reference of QuantizedKernels::rows (quantized_kernel.inl): each dot product summed in order of k.
template <typename Rows>
void reference_quantized_rows(const Rows& w, Index depth, const float* x, Index ldx, float* y, Index ldy, Index n,
                              Index r0, Index r1, Index first, const float* bias) {
  for (Index r = r0; r < r1; ++r)
    for (Index j = 0; j < n; ++j) {
      float s = 0.0f;
      for (Index k = 0; k < depth; ++k) s += element(w, r, k) * x[j * ldx + k];
      y[j * ldy + r - first] = s + (bias ? bias[r - first] : 0.0f);
    }
}

}  // namespace elm::nn::detail

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AVX2
namespace elm::nn::detail::avx2 {
namespace quantized {
template <typename Scalar>
using Simd = SimdAvx2<Scalar>;
#include "elm/nn/detail/quantized_kernel.inl"
}  // namespace quantized
}  // namespace elm::nn::detail::avx2
ELM_END_TARGET

ELM_BEGIN_TARGET_AVX512
namespace elm::nn::detail::avx512 {
namespace quantized {
template <typename Scalar>
using Simd = SimdAvx512<Scalar>;
#include "elm/nn/detail/quantized_kernel.inl"
}  // namespace quantized
}  // namespace elm::nn::detail::avx512
ELM_END_TARGET
#endif

namespace elm::nn::detail {

/// Rows [r0, r1) of y = A x (+ bias) with the weight rows w (see QuantizedKernels::rows: y and bias hold rows
/// from `first` on) on `kernel`: the AVX2 or AVX-512 variant, or the scalar reference for the others (reference,
/// generic).
template <typename Rows>
void quantized_rows(ProductKernel kernel, const Rows& w, Index depth, const float* x, Index ldx, float* y, Index ldy,
                    Index n, Index r0, Index r1, Index first, const float* bias) {
  switch (kernel) {
#if ELM_X86_KERNELS
    case ProductKernel::avx512:
      avx512::quantized::QuantizedKernels::rows(w, depth, x, ldx, y, ldy, n, r0, r1, first, bias);
      return;
    case ProductKernel::avx2:
      avx2::quantized::QuantizedKernels::rows(w, depth, x, ldx, y, ldy, n, r0, r1, first, bias);
      return;
#endif
    default: reference_quantized_rows(w, depth, x, ldx, y, ldy, n, r0, r1, first, bias);
  }
}

}  // namespace elm::nn::detail
