// SPDX-License-Identifier: MIT
// The int8 weights' product with int8 activations, for prompts: the activations quantized as llama.cpp quantizes
// them for its Q8_0 products (blocks of 32 along the depth, each with its own scale), each block's dot product
// summed in 32-bit integers by AVX-512 VNNI's vpdpbusd, then scaled and added in float. Chosen at run time when
// the CPU has AVX-512 VNNI (and BW) and the AVX-512 kernel is in force; included by quantized_weights.hpp only.
//
// Why: a prompt's product on float panels dequantized from int8 runs at float32's speed (the weights' bytes do not
// matter once they are in cache); an integer multiply-add of four byte pairs per lane does four times the work of
// a float one per instruction, which is where the int8 engines' prompt speed comes from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/quantized_kernels.hpp"
#include "elm/nn/detail/simd.hpp"

namespace elm::nn::detail {

/// A prompt's activations x (depth, n) quantized for the integer product: per column j and block b of 32 depth
/// indices, d = max |x| / 127 and q = x / d rounded to nearest (ties to even, as llama.cpp's vectorised
/// quantize_row_q8_0) in [-127, 127], stored as the byte q + 128 (vpdpbusd's unsigned operand; the weights' row
/// sums take the 128 back out). Column n is a column of zeros (q = 0, d = 0): a tile's columns past the last.
struct Q8Activations {
  std::vector<std::uint8_t, elm::detail::HugePageAllocator<std::uint8_t>> q;  // (n + 1) columns of blocks * 32
  std::vector<float> d;                                                       // (n + 1) columns of blocks
  Index n = 0, blocks = 0;

  const std::uint8_t* column(Index j) const { return q.data() + j * blocks * q8_block; }
  const float* scales(Index j) const { return d.data() + j * blocks; }
  /// The value block b's scale and q stand for at depth k of column j: (q - 128) d.
  float value(Index j, Index k) const {
    return float(int(column(j)[k]) - 128) * scales(j)[k / q8_block];
  }
  void resize(Index columns, Index depth_blocks) {
    n = columns;
    blocks = depth_blocks;
    q.assign(to_size((n + 1) * blocks * q8_block), std::uint8_t(128));
    d.assign(to_size((n + 1) * blocks), 0.0f);
  }
};

/// Quantizes x (depth, n), column j at x + j ldx, as Q8Activations says, in scalar code: the reference of the
/// vectorised quantize_activations, which gives the same bytes and scales.
inline void reference_quantize_activations(const float* x, Index ldx, Index depth, Index n, Q8Activations& out) {
  out.resize(n, (depth + q8_block - 1) / q8_block);
  for (Index j = 0; j < n; ++j)
    for (Index b = 0; b < out.blocks; ++b) {
      const Index k0 = b * q8_block, k1 = std::min(depth, k0 + q8_block);
      float amax = 0.0f;
      for (Index k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(x[j * ldx + k]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      out.d[to_size(j * out.blocks + b)] = d;
      std::uint8_t* q = out.q.data() + j * out.blocks * q8_block;
      for (Index k = k0; k < k1; ++k) q[k] = std::uint8_t(int(std::nearbyint(x[j * ldx + k] * id)) + 128);
    }
}

/// The scalar reference of the integer product: y(r - first, j) = bias[r - first] + sum over blocks b of
/// (sum over the block of q_w(r, k) q_x(j, k)) d_w(r, b) d_x(j, b), in double, for rows [r0, r1). abs_terms gets the
/// sum of the terms' magnitudes (a bound on the float kernel's rounding is a small multiple of it).
inline void reference_q8_integer_rows(const Q8Rows& w, const Q8Activations& a, Index r0, Index r1, Index first,
                                      const float* bias, Matrix<double>& y, Matrix<double>& abs_terms) {
  y.setZero(r1 - r0, a.n);
  abs_terms.setZero(r1 - r0, a.n);
  for (Index r = r0; r < r1; ++r)
    for (Index j = 0; j < a.n; ++j) {
      double sum = bias ? double(bias[r - first]) : 0.0, magnitude = std::fabs(sum);
      for (Index b = 0; b < a.blocks; ++b) {
        std::int64_t dot = 0;
        for (Index k = b * q8_block; k < (b + 1) * q8_block; ++k)
          dot += std::int64_t(w.q[tile_offset(w, r, k)]) * (int(a.column(j)[k]) - 128);
        const double term = double(dot) * double(w.scales[tile_offset(w, r, b * q8_block) / q8_block]) *
                            double(a.scales(j)[b]);
        sum += term;
        magnitude += std::fabs(term);
      }
      y(r - r0, j) = sum;
      abs_terms(r - r0, j) = magnitude;
    }
}

/// Decoding's few columns quantized as Q8Activations, for the integer matrix-vector product: per column and
/// block, |q| as bytes and the signs as a 32-bit mask (bit i: the value at 32 b + i is negative), with the scales.
struct Q8DecodeColumns {
  std::vector<std::uint8_t> magnitude;  // n columns of blocks * 32
  std::vector<std::uint32_t> negative;  // n columns of blocks
  std::vector<float> d;                 // n columns of blocks
  Index n = 0, blocks = 0;

  void assign(const Q8Activations& a) {
    n = a.n;
    blocks = a.blocks;
    magnitude.assign(to_size(n * blocks * q8_block), 0);
    negative.assign(to_size(n * blocks), 0);
    d.assign(a.d.begin(), a.d.begin() + n * blocks);
    for (Index j = 0; j < n; ++j)
      for (Index k = 0; k < blocks * q8_block; ++k) {
        const int q = int(a.column(j)[k]) - 128;
        magnitude[to_size(j * blocks * q8_block + k)] = std::uint8_t(q < 0 ? -q : q);
        if (q < 0) negative[to_size(j * blocks + k / q8_block)] |= 1u << (k % q8_block);
      }
  }
};

/// Whether this build has the integer product and this CPU can run it (AVX-512 F, BW and VNNI).
inline bool q8_integer_product_supported() {
#if ELM_X86_KERNELS
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace elm::nn::detail

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AVX512_VNNI
namespace elm::nn::detail::vnni {

// (the masked forms of max and the conversions, every lane set: the plain ones fill an "undefined" source that
// GCC 12 warns of as uninitialised once inlined, as in simd.hpp)

inline __m512i unpacklo32(__m512i a, __m512i b) { return _mm512_mask_unpacklo_epi32(a, 0xFFFF, a, b); }
inline __m512i unpackhi32(__m512i a, __m512i b) { return _mm512_mask_unpackhi_epi32(a, 0xFFFF, a, b); }
inline __m512i unpacklo64(__m512i a, __m512i b) { return _mm512_mask_unpacklo_epi64(a, 0xFF, a, b); }
inline __m512i unpackhi64(__m512i a, __m512i b) { return _mm512_mask_unpackhi_epi64(a, 0xFF, a, b); }
template <int Selector>
inline __m512i shuffle128(__m512i a, __m512i b) {
  return _mm512_mask_shuffle_i32x4(a, 0xFFFF, a, b, Selector);
}

/// Transposes 16 x 16 32-bit elements in registers: r[i] lane j becomes r[j] lane i.
inline void transpose16(__m512i (&r)[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = unpacklo32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = unpackhi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4 i + e], 128-bit lane l: element 4 l + e of rows 4 i .. 4 i + 3
    r[4 * i] = unpacklo64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = unpackhi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = unpacklo64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = unpackhi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int e = 0; e < 4; ++e) {  // 128-bit lanes 0, 2 (0x88) or 1, 3 (0xDD) of each operand
    const __m512i a = shuffle128<0x88>(r[e], r[4 + e]), b = shuffle128<0xDD>(r[e], r[4 + e]);
    const __m512i c = shuffle128<0x88>(r[8 + e], r[12 + e]), d = shuffle128<0xDD>(r[8 + e], r[12 + e]);
    t[e] = shuffle128<0x88>(a, c);
    t[8 + e] = shuffle128<0xDD>(a, c);
    t[4 + e] = shuffle128<0x88>(b, d);
    t[12 + e] = shuffle128<0xDD>(b, d);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

/// Rows of a packed panel: two groups of 16, one per 32-bit lane of a vector.
inline constexpr Index panel_rows = 32;
/// Activation columns of a register tile: 2 x 6 integer and 2 x 6 float accumulators.
inline constexpr int tile_columns = 6;

/// The masks of the first `count` (at most 32) of 32 lanes, as two vectors' 16: a block's values past the depth,
/// or a panel's rows past the last, left out.
struct LaneMasks {
  __mmask16 low, high;
  explicit LaneMasks(Index count)
      : low(count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1)),
        high(count >= 32 ? __mmask16(0xFFFF) : count > 16 ? __mmask16((1u << (count - 16)) - 1) : __mmask16(0)) {}
};

/// x quantized as reference_quantize_activations does, 32 values at a time.
inline void quantize_activations(const float* x, Index ldx, Index depth, Index n, Q8Activations& out) {
  out.resize(n, (depth + q8_block - 1) / q8_block);
  elm::detail::parallel_chunks(n, std::max<Index>(1, 4096 / std::max<Index>(1, depth)), [&](Index, Index j0,
                                                                                               Index j1) {
    for (Index j = j0; j < j1; ++j)
      for (Index b = 0; b < out.blocks; ++b) {
        const Index k0 = b * q8_block, count = std::min(q8_block, depth - k0);
        const LaneMasks masks(count);
        const __mmask16 m0 = masks.low, m1 = masks.high;
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, x + j * ldx + k0);
        const __m512 v1 = _mm512_maskz_loadu_ps(m1, x + j * ldx + k0 + 16);
        const __m512 a = _mm512_mask_max_ps(_mm512_abs_ps(v0), 0xFFFF, _mm512_abs_ps(v0), _mm512_abs_ps(v1));
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, a);
        float amax = 0.0f;
        for (float lane : lanes) amax = std::max(amax, lane);
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        out.d[to_size(j * out.blocks + b)] = d;
        const __m512 scale = _mm512_set1_ps(id);
        const __m512i offset = _mm512_set1_epi32(128);
        std::uint8_t* q = out.q.data() + j * out.blocks * q8_block + k0;
        // to nearest, ties to even (the default rounding mode), then the byte q + 128 (past `count`: 128, zero)
        const __m512i q0 = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(v0, scale)), offset);
        const __m512i q1 = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(v1, scale)), offset);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_maskz_cvtepi32_epi8(0xFFFF, q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_maskz_cvtepi32_epi8(0xFFFF, q1));
      }
  });
}

/// Rows [row0, row0 + rows) (rows <= 32; the rest zero) of the stored int8 weight, packed for the tile: per block
/// b and quad j of its 32 depth indices, two vectors (rows 0-15, 16-31) whose lane i holds row i's 4 bytes of the
/// quad (wp); per block the rows' scales (dw) and -128 times each row's sum of q over the block (correction: the
/// activations' +128 taken back out).
inline void pack_panel(const Q8Rows& w, Index row0, Index rows, std::int8_t* wp, float* dw, std::int32_t* correction) {
  for (Index b = 0; b < w.blocks; ++b)
    for (Index i = 0; i < panel_rows; ++i) {
      const Index g = i / 16, lane = i % 16, at = (b * 2 + g) * 16 + lane;
      if (i >= rows) {
        for (Index j = 0; j < 8; ++j) std::memset(wp + ((b * 8 + j) * 2 + g) * 64 + lane * 4, 0, 4);
        dw[at] = 0.0f;
        correction[at] = 0;
        continue;
      }
      const Index e = tile_offset(w, row0 + i, b * q8_block);  // the row's 32 bytes of the block, contiguous
      std::int32_t sum = 0;
      for (Index k = 0; k < q8_block; ++k) sum += w.q[e + k];
      for (Index j = 0; j < 8; ++j) std::memcpy(wp + ((b * 8 + j) * 2 + g) * 64 + lane * 4, w.q + e + 4 * j, 4);
      dw[at] = w.scales[e / q8_block];
      correction[at] = -128 * sum;
    }
}

/// out[g][t] = sum over blocks of float(sum over the block's quads of bytes) x dw x d_x: two groups of 16 rows by
/// Columns activation columns.
template <int Columns>
inline void tile(const std::int8_t* wp, const float* dw, const std::int32_t* correction, Index blocks,
                 const std::uint8_t* const* xq, const float* const* xd, __m512 (&out)[2][tile_columns]) {
  ELM_UNROLL
  for (int t = 0; t < Columns; ++t) out[0][t] = out[1][t] = _mm512_setzero_ps();
  for (Index b = 0; b < blocks; ++b) {
    const __m512i c0 = _mm512_loadu_si512(correction + b * 32), c1 = _mm512_loadu_si512(correction + b * 32 + 16);
    __m512i acc[2][Columns];
    ELM_UNROLL
    for (int t = 0; t < Columns; ++t) acc[0][t] = c0, acc[1][t] = c1;
    const std::int8_t* wb = wp + b * 8 * 128;
    ELM_UNROLL
    for (int j = 0; j < 8; ++j) {
      const __m512i w0 = _mm512_loadu_si512(wb + j * 128), w1 = _mm512_loadu_si512(wb + j * 128 + 64);
      ELM_UNROLL
      for (int t = 0; t < Columns; ++t) {
        std::int32_t quad;
        std::memcpy(&quad, xq[t] + b * q8_block + 4 * j, 4);
        const __m512i x = _mm512_set1_epi32(quad);
        acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], x, w0);
        acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], x, w1);
      }
    }
    const __m512 d0 = _mm512_loadu_ps(dw + b * 32), d1 = _mm512_loadu_ps(dw + b * 32 + 16);
    ELM_UNROLL
    for (int t = 0; t < Columns; ++t) {
      const __m512 s = _mm512_set1_ps(xd[t][b]);
      out[0][t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, acc[0][t]), _mm512_mul_ps(d0, s), out[0][t]);
      out[1][t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, acc[1][t]), _mm512_mul_ps(d1, s), out[1][t]);
    }
  }
}

/// y(i, j) = bias[i] + (row r0 + i of the weight) . (activation column j), i < count, j < a.n; y column j at
/// y + j ldy. Panels of 32 rows on the OpenMP threads, each packed by the thread that uses it.
inline void product(const Q8Rows& w, const Q8Activations& a, Index r0, Index count, float* y, Index ldy,
                    const float* bias) {
  const Index panels = (count + panel_rows - 1) / panel_rows;
  elm::detail::parallel_chunks(panels, 1, [&](Index, Index p, Index) {
    const Index row0 = p * panel_rows, rows = std::min(panel_rows, count - row0);
    std::vector<std::int8_t, elm::detail::HugePageAllocator<std::int8_t>> wp(to_size(w.blocks * 8 * 128));
    std::vector<float> dw(to_size(w.blocks * 32));
    std::vector<std::int32_t> correction(to_size(w.blocks * 32));
    pack_panel(w, r0 + row0, rows, wp.data(), dw.data(), correction.data());
    const LaneMasks masks(rows);
    const __mmask16 m0 = masks.low, m1 = masks.high;
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias + row0) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + row0 + 16) : _mm512_setzero_ps();
    for (Index j0 = 0; j0 < a.n; j0 += tile_columns) {
      const Index columns = std::min<Index>(tile_columns, a.n - j0);
      const std::uint8_t* xq[tile_columns];
      const float* xd[tile_columns];
      for (Index t = 0; t < tile_columns; ++t) {
        const Index j = t < columns ? j0 + t : a.n;  // past the last: the column of zeros
        xq[t] = a.column(j);
        xd[t] = a.scales(j);
      }
      __m512 out[2][tile_columns];
      tile<tile_columns>(wp.data(), dw.data(), correction.data(), w.blocks, xq, xd, out);
      for (Index t = 0; t < columns; ++t) {
        float* yj = y + (j0 + t) * ldy + row0;
        _mm512_mask_storeu_ps(yj, m0, _mm512_add_ps(out[0][t], b0));
        if (m1) _mm512_mask_storeu_ps(yj + 16, m1, _mm512_add_ps(out[1][t], b1));
      }
    }
  });
}

/// Where a run of output rows lands: rows [base, base + lanes) of the stored weight hold lanes 0 .. lanes - 1 of
/// a vector; those in [r0, r0 + count) go to y's rows from `first` = max(base, r0) - r0, lane `shift` first.
struct RowWindow {
  Index first = 0;
  int shift = 0;
  __mmask16 mask = 0;

  RowWindow(Index base, Index lanes, Index r0, Index count) {
    const Index lo = std::max(base, r0), hi = std::min(base + lanes, r0 + count);
    first = lo - r0;
    shift = int(lo - base);
    mask = hi > lo ? __mmask16((1u << (hi - lo)) - 1) : __mmask16(0);
  }
  /// v's lanes from `shift` on, moved to lane 0.
  __m512 align(__m512 v) const {
    if (shift == 0) return v;
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_mask_permutexvar_ps(v, 0xFFFF, _mm512_add_epi32(lanes, _mm512_set1_epi32(shift)), v);
  }
};

/// Writes column j's results for a window of rows: y(first .. , j) = v's lanes from shift (+ bias).
inline void store_rows(const RowWindow& window, __m512 v, float* y, Index ldy, Index j, const float* bias) {
  if (!window.mask) return;
  __m512 out = window.align(v);
  if (bias) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(window.mask, bias + window.first));
  _mm512_mask_storeu_ps(y + j * ldy + window.first, window.mask, out);
}

/// Decoding's integer matrix-vector product over one storage tile (16 rows) and N (1 or 2) columns from
/// column j0: per block, each vector of weights (two rows' 32 bytes) takes each column's signs (the bytes negated
/// where the value is negative), vpdpbusd multiplies them by the magnitudes, and each lane's sum is converted and
/// scaled by both scales into float accumulators (lanes: 8 quads of each of the two rows); the lanes are summed
/// once at the end. The rows of the tile inside [r0, r1) go to y's rows from r - first.
template <int N>
inline void decode_tile(const Q8Rows& w, const Q8DecodeColumns& x, Index tile, Index j0, float* y, Index ldy,
                        Index r0, Index r1, Index first, const float* bias) {
  const Index at = tile_offset(w, tile * tile_rows, 0);  // block b's 16 rows at + b 512, their scales at / 32 + b 16
  const std::int8_t* wq = w.q + at;
  const float* wd = w.scales + at / q8_block;
  __m512 acc[N][8];
  for (int j = 0; j < N; ++j)
    for (int k = 0; k < 8; ++k) acc[j][k] = _mm512_setzero_ps();
  // lanes 0-7 take row 2 k's scale, 8-15 row 2 k + 1's
  const __m512i pairs = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i zero = _mm512_setzero_si512();
  for (Index b = 0; b < w.blocks; ++b) {
    const __m512 dw = _mm512_loadu_ps(wd + b * tile_rows);
    __m512i magnitude[N];
    __mmask64 negative[N];
    __m512 dx[N];
    for (int j = 0; j < N; ++j) {
      const Index c = (j0 + j) * x.blocks + b;
      magnitude[j] = _mm512_mask_broadcast_i64x4(
          zero, 0xFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.magnitude.data() + c * q8_block)));
      const std::uint64_t sign = x.negative[to_size(c)];
      negative[j] = __mmask64(sign | (sign << 32));
      dx[j] = _mm512_set1_ps(x.d[to_size(c)]);
    }
    const std::int8_t* block = wq + b * tile_rows * q8_block;
    // 4 KB ahead (8 blocks): the hardware prefetcher alone left one core at 8 GB/s of the 14 it reads
    // sequentially (a prefetch past the weights' end is harmless: prefetches do not fault)
    for (int k = 0; k < 8; ++k) _mm_prefetch(reinterpret_cast<const char*>(block + 4096 + k * 64), _MM_HINT_T0);
    for (int k = 0; k < 8; ++k) {
      const __m512i weights = _mm512_loadu_si512(block + k * 64);
      const __m512 scale = _mm512_mask_permutexvar_ps(dw, 0xFFFF, _mm512_add_epi32(pairs, _mm512_set1_epi32(2 * k)), dw);
      for (int j = 0; j < N; ++j) {
        const __m512i signed_weights = _mm512_mask_sub_epi8(weights, negative[j], zero, weights);
        const __m512i sums = _mm512_dpbusd_epi32(zero, magnitude[j], signed_weights);
        acc[j][k] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, sums), _mm512_mul_ps(scale, dx[j]), acc[j][k]);
      }
    }
  }
  const RowWindow window(tile * tile_rows, tile_rows, r0, r1 - r0);
  // rows 2 k and 2 k + 1 from accumulator k's lanes 0-7 and 8-15: transposed, then summed in halves
  const __m512i interleave = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int j = 0; j < N; ++j) {
    __m512i r[16];
    for (int k = 0; k < 8; ++k) {
      r[k] = _mm512_castps_si512(acc[j][k]);
      r[8 + k] = zero;
    }
    transpose16(r);
    __m512 low = _mm512_castsi512_ps(r[0]), high = _mm512_castsi512_ps(r[8]);
    for (int i = 1; i < 8; ++i) {
      low = _mm512_add_ps(low, _mm512_castsi512_ps(r[i]));
      high = _mm512_add_ps(high, _mm512_castsi512_ps(r[8 + i]));
    }
    store_rows(window, _mm512_permutex2var_ps(low, interleave, high), y + (r0 - first), ldy, j0 + j,
               bias ? bias + (r0 - first) : nullptr);
  }
}

/// Rows [r0, r1) of y = A x (+ bias) for decoding's columns x (quantized), as QuantizedKernels::rows lays y out
/// (rows from `first`): whole storage tiles, the rows outside [r0, r1) computed and not written.
inline void decode_rows(const Q8Rows& w, const Q8DecodeColumns& x, float* y, Index ldy, Index r0, Index r1,
                        Index first, const float* bias) {
  for (Index tile = r0 / tile_rows; tile * tile_rows < r1; ++tile) {
    Index j = 0;
    for (; j + 2 <= x.n; j += 2) decode_tile<2>(w, x, tile, j, y, ldy, r0, r1, first, bias);
    if (j < x.n) decode_tile<1>(w, x, tile, j, y, ldy, r0, r1, first, bias);
  }
}

}  // namespace elm::nn::detail::vnni
ELM_END_TARGET
#endif
