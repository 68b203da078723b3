// SPDX-License-Identifier: MIT
// The prompt products of weights kept in bf16 or int8 (QuantizedWeights) on AMX tiles, chosen at run time where
// the CPU, the OS and the process allow them (amx.hpp) and the AVX-512 kernel is in force. Included by
// quantized_weights.hpp only.
//
// The tile unit computes C (m x 16) += A (m x K) B (K x 16) with B's K in pairs (bf16) or quads (int8) per 32-bit
// column. A is read straight from the weights' storage: a storage tile's 16 rows of one block of 32 depth indices
// are 16 consecutive lines of 64 bytes (bf16) or 32 bytes (int8), one tile load of the unit's full 16 rows (a
// tile of 8 rows took as long as one of 16). The activations are laid out once
// per product as B tiles of 16 columns (tokens), rounded to bf16 (vcvtne2ps2bf16: to nearest, ties to even) or
// quantized as the VNNI path quantizes them (Q8_0 blocks, q8_integer_product.hpp). C then holds weight rows by
// tokens, the transpose of y's columns: the results are transposed in registers, 16 by 16, on the way out.
// - bf16: C accumulates the whole depth in float32 in the tile (the unit's own order of additions).
// - int8: a Q8_0 product needs each block's integer sum scaled by both blocks' scales, so C holds one block's
//   sums at a time: stored, converted and scaled into float accumulators by AVX-512 (the int8 path's bound).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/amx.hpp"
#include "elm/nn/detail/q8_integer_product.hpp"
#include "elm/nn/detail/quantized_kernels.hpp"
#include "elm/nn/detail/simd.hpp"

namespace elm::nn::detail {

/// Tokens (columns of x) of a B tile.
inline constexpr Index amx_group = 16;

/// A prompt's activations x (depth, n) rounded to bf16 as B tiles: group g of 16 tokens, chunk c of 32 depth
/// indices; tile (g, c) is 16 rows (pairs p) of 16 tokens x 2 values: x(32 c + 2 p + e, 16 g + t) at element
/// (p 16 + t) 2 + e. Tokens past n and depth past `depth` are zeros; the groups are padded to an even number.
struct Bf16TileActivations {
  std::vector<std::uint16_t, elm::detail::HugePageAllocator<std::uint16_t>> data;
  Index n = 0, groups = 0, chunks = 0;
  static constexpr Index tile_elements = 512;

  const std::uint16_t* tile(Index g, Index c) const { return data.data() + (g * chunks + c) * tile_elements; }
  /// The bf16 value standing for x(k, j).
  float value(Index j, Index k) const {
    const Index p = (k % q8_block) / 2, e = k % 2;
    return bf16_to_float(tile(j / amx_group, k / q8_block)[(p * amx_group + j % amx_group) * 2 + e]);
  }
};

/// A prompt's activations quantized as Q8Activations (the same bytes less 128, the same scales) as B tiles: tile
/// (g, c) is 8 rows (quads q) of 16 tokens x 4 values: q(32 c + 4 q + e, 16 g + t) at byte (q 16 + t) 4 + e; the
/// 16 tokens' scales of block c at scales(g, c). The last group padded with zero tokens (scale 0).
struct Q8TileActivations {
  std::vector<std::int8_t, elm::detail::HugePageAllocator<std::int8_t>> q;
  std::vector<float, elm::detail::HugePageAllocator<float>> d;
  Index n = 0, groups = 0, chunks = 0;
  static constexpr Index tile_bytes = 512;

  const std::int8_t* tile(Index g, Index c) const { return q.data() + (g * chunks + c) * tile_bytes; }
  const float* scales(Index g, Index c) const { return d.data() + (g * chunks + c) * amx_group; }
};

/// Repacks activations quantized for the VNNI path (bytes q + 128, column-major blocks) as int8 B tiles.
inline void pack_q8_tile_activations(const Q8Activations& a, Q8TileActivations& out) {
  out.n = a.n;
  out.chunks = a.blocks;
  out.groups = (a.n + amx_group - 1) / amx_group;
  out.q.assign(to_size(out.groups * out.chunks * Q8TileActivations::tile_bytes), 0);
  out.d.assign(to_size(out.groups * out.chunks * amx_group), 0.0f);
  elm::detail::parallel_chunks(out.groups, 1, [&](Index, Index g, Index) {
    for (Index t = 0; t < amx_group && g * amx_group + t < a.n; ++t) {
      const Index j = g * amx_group + t;
      const std::uint8_t* column = a.column(j);
      for (Index c = 0; c < a.blocks; ++c) {
        std::int8_t* tile = out.q.data() + (g * out.chunks + c) * Q8TileActivations::tile_bytes;
        for (Index quad = 0; quad < q8_block / 4; ++quad) {
          // four bytes q + 128 at a time; flipping each byte's top bit gives q's two's complement byte
          std::uint32_t bytes;
          std::memcpy(&bytes, column + c * q8_block + quad * 4, 4);
          bytes ^= 0x80808080u;
          std::memcpy(tile + (quad * amx_group + t) * 4, &bytes, 4);
        }
        out.d[to_size((g * out.chunks + c) * amx_group + t)] = a.scales(j)[c];
      }
    }
  });
}

}  // namespace elm::nn::detail

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AMX
namespace elm::nn::detail::amx {

/// The tile configuration (palette 1): rows and bytes a row of each of the 8 tiles.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};

// GCC's tile intrinsics are asm statements that name no memory: a compiler barrier keeps the stores that fill a
// buffer before the tile loads from it, and the reads of a stored tile after the store.
inline void memory_barrier() { __asm__ volatile("" ::: "memory"); }

using vnni::LaneMasks;
using vnni::transpose16;

/// Rounds x (depth, n), column j at x + j ldx, to bf16 B tiles (Bf16TileActivations).
inline void pack_bf16_activations(const float* x, Index ldx, Index depth, Index n, Bf16TileActivations& out) {
  out.n = n;
  out.chunks = (depth + q8_block - 1) / q8_block;
  out.groups = ((n + amx_group - 1) / amx_group + 1) / 2 * 2;
  out.data.resize(to_size(out.groups * out.chunks * Bf16TileActivations::tile_elements));
  elm::detail::parallel_chunks(out.groups, 1, [&](Index, Index g, Index) {
    for (Index c = 0; c < out.chunks; ++c) {
      const Index k0 = c * q8_block, count = std::min(q8_block, depth - k0);
      const LaneMasks masks(count);
      const __mmask16 m0 = masks.low, m1 = masks.high;
      __m512i rows[16];
      for (Index t = 0; t < amx_group; ++t) {
        const Index j = g * amx_group + t;
        if (j >= n) {
          rows[t] = _mm512_setzero_si512();
          continue;
        }
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, x + j * ldx + k0);
        const __m512 v1 = _mm512_maskz_loadu_ps(m1, x + j * ldx + k0 + 16);
        rows[t] = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);  // 32-bit lane p: values 2 p (low half), 2 p + 1
      }
      transpose16(rows);  // rows[p]: pair p of the 16 tokens
      std::uint16_t* tile = out.data.data() + (g * out.chunks + c) * Bf16TileActivations::tile_elements;
      for (int p = 0; p < 16; ++p) _mm512_storeu_si512(tile + p * 32, rows[p]);
    }
  });
}

using vnni::RowWindow;
using vnni::store_rows;

/// Writes a C tile's results, weight rows by 16 tokens (rows[m] lane t: storage row m, token t), for the tokens of
/// group g: transposed, token t's 16 rows go to y's column 16 g + t through the window.
inline void store_tile(__m512i (&rows)[16], const RowWindow& window, Index g, Index n, float* y, Index ldy,
                       const float* bias) {
  transpose16(rows);
  for (Index t = 0; t < amx_group && g * amx_group + t < n; ++t)
    store_rows(window, _mm512_castsi512_ps(rows[t]), y, ldy, g * amx_group + t, bias);
}

/// y(i, j) = bias[i] + (row r0 + i of the bf16 weight) . (activation column j), i < count, j < a.n, y column j at
/// y + j ldy: units of two storage tiles (32 rows) on the OpenMP threads, by 32 tokens, C = 2 x 2 tiles.
inline void bf16_product(const Bf16Rows& w, const Bf16TileActivations& a, Index r0, Index count, float* y,
                         Index ldy, const float* bias) {
  const Index first_tile = r0 / tile_rows, end_tile = (r0 + count + tile_rows - 1) / tile_rows;
  const Index units = (end_tile - first_tile + 1) / 2;
  const Index threads = elm::detail::max_threads();
  const Index chunk = std::max<Index>(1, (units + threads - 1) / threads);
  elm::detail::parallel_chunks(units, chunk, [&](Index, Index u0, Index u1) {
    TileConfig config;
    for (int i = 0; i < 8; ++i) {  // A (0, 1): 16 rows; B (2, 3): 16 pairs; C (4 - 7): 16 rows; 64 bytes a row
      config.rows[i] = 16;
      config.bytes_per_row[i] = 64;
    }
    _tile_loadconfig(&config);
    alignas(64) float stored[4][16][16];
    for (Index u = u0; u < u1; ++u) {
      const Index tile0 = first_tile + 2 * u;
      const bool second = tile0 + 1 < end_tile;
      const std::uint16_t* a0 = w.data + tile_offset(w, tile0 * tile_rows, 0);  // block c at + c 512
      const std::uint16_t* a1 = second ? w.data + tile_offset(w, (tile0 + 1) * tile_rows, 0) : a0;
      const RowWindow window0(tile0 * tile_rows, tile_rows, r0, count);
      const RowWindow window1((tile0 + 1) * tile_rows, second ? tile_rows : 0, r0, count);
      for (Index g = 0; g < a.groups; g += 2) {
        _tile_zero(4);
        _tile_zero(5);
        _tile_zero(6);
        _tile_zero(7);
        memory_barrier();
        for (Index c = 0; c < a.chunks; ++c) {
          _tile_loadd(0, a0 + c * 512, 64);
          _tile_loadd(1, a1 + c * 512, 64);
          _tile_loadd(2, a.tile(g, c), 64);
          _tile_loadd(3, a.tile(g + 1, c), 64);
          _tile_dpbf16ps(4, 0, 2);
          _tile_dpbf16ps(5, 0, 3);
          _tile_dpbf16ps(6, 1, 2);
          _tile_dpbf16ps(7, 1, 3);
        }
        _tile_stored(4, stored[0], 64);
        _tile_stored(5, stored[1], 64);
        _tile_stored(6, stored[2], 64);
        _tile_stored(7, stored[3], 64);
        memory_barrier();
        for (int i = 0; i < 4; ++i) {  // tile 4 + i: rows of tile0 (i < 2) or tile0 + 1, tokens of group g + i % 2
          __m512i rows[16];
          for (int m = 0; m < 16; ++m) rows[m] = _mm512_load_si512(stored[i][m]);
          store_tile(rows, i < 2 ? window0 : window1, g + i % 2, a.n, y, ldy, bias);
        }
      }
    }
    _tile_release();
  });
}

/// The same for the int8 weight and Q8 activations: units of one storage tile (16 rows) on the OpenMP threads,
/// by 16 tokens; each block's integer sums (C tile 4 for even blocks, 5 for odd ones) scaled into 16 float
/// accumulators (rows, lanes: tokens).
inline void q8_product(const Q8Rows& w, const Q8TileActivations& a, Index r0, Index count, float* y, Index ldy,
                       const float* bias) {
  const Index first_tile = r0 / tile_rows, end_tile = (r0 + count + tile_rows - 1) / tile_rows;
  const Index units = end_tile - first_tile;
  const Index threads = elm::detail::max_threads();
  const Index chunk = std::max<Index>(1, (units + threads - 1) / threads);
  elm::detail::parallel_chunks(units, chunk, [&](Index, Index u0, Index u1) {
    TileConfig config;
    for (int i = 0; i < 8; ++i) {  // A (0, 1): 16 rows of 32 bytes; B (2, 3): 8 quads of 64; C (4, 5): 16 rows of 64
      config.rows[i] = i == 2 || i == 3 ? 8 : 16;
      config.bytes_per_row[i] = i < 2 ? 32 : 64;
    }
    _tile_loadconfig(&config);
    alignas(64) std::int32_t stored[2][16][16];  // by block parity
    for (Index u = u0; u < u1; ++u) {
      const Index tile0 = first_tile + u;
      const Index at = tile_offset(w, tile0 * tile_rows, 0);  // block c's 16 rows at + c 512, scales at / 32 + c 16
      const std::int8_t* wq = w.q + at;
      const float* wd = w.scales + at / q8_block;
      const RowWindow window(tile0 * tile_rows, tile_rows, r0, count);
      for (Index g = 0; g < a.groups; ++g) {
        __m512 acc[16];
        for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
        // software-pipelined: block c's product runs on the tile unit while block c - 1's sums are stored and
        // AVX-512 scales block c - 2's (a load of a tile's stored sums waits for the store, which waits for the
        // product)
        for (Index c = 0; c < a.chunks + 2; ++c) {
          if (c < a.chunks) {
            if (c % 2 == 0) {
              _tile_zero(4);
              _tile_loadd(0, wq + c * 512, 32);
              _tile_loadd(2, a.tile(g, c), 64);
              _tile_dpbssd(4, 0, 2);
            } else {
              _tile_zero(5);
              _tile_loadd(1, wq + c * 512, 32);
              _tile_loadd(3, a.tile(g, c), 64);
              _tile_dpbssd(5, 1, 3);
            }
          }
          if (c >= 2) {
            memory_barrier();
            const __m512 dx = _mm512_loadu_ps(a.scales(g, c - 2));
            const float* dw = wd + (c - 2) * tile_rows;
            const std::int32_t(&sums)[16][16] = stored[c % 2];
            for (int m = 0; m < 16; ++m)
              acc[m] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_load_si512(sums[m])),
                                       _mm512_mul_ps(dx, _mm512_set1_ps(dw[m])), acc[m]);
            memory_barrier();
          }
          if (c >= 1 && c <= a.chunks) {
            if ((c - 1) % 2 == 0)
              _tile_stored(4, stored[0], 64);
            else
              _tile_stored(5, stored[1], 64);
          }
        }
        memory_barrier();
        __m512i rows[16];
        for (int m = 0; m < 16; ++m) rows[m] = _mm512_castps_si512(acc[m]);
        store_tile(rows, window, g, a.n, y, ldy, bias);
      }
    }
    _tile_release();
  });
}

}  // namespace elm::nn::detail::amx
ELM_END_TARGET
#endif
