// SPDX-License-Identifier: MIT
// The register-blocked kernel shared by PackedLhs (large products, operands packed) and tile_product (small
// products whose operands already sit in cache, read in place): a tile of up to three packets of rows by eight
// columns accumulated in registers over the depth, then written out.
#pragma once

#include <algorithm>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "elm/core/types.hpp"

// Asks the compiler to unroll the next loop completely (its trip count is a compile-time constant), or 4 times.
#if defined(__clang__)
#define ELM_UNROLL _Pragma("unroll")
#define ELM_UNROLL_4 _Pragma("unroll 4")
#elif defined(__GNUC__)
#define ELM_UNROLL _Pragma("GCC unroll 16")
#define ELM_UNROLL_4 _Pragma("GCC unroll 4")
#else
#define ELM_UNROLL
#define ELM_UNROLL_4
#endif

namespace elm::nn::detail {

/// Shape of the register tile for a scalar type: panel_packets packets of rows by block_cols columns, as many
/// as the registers allow with 3 * block_cols accumulators, 3 loaded packets and one broadcast (8 columns with
/// 32 vector registers, 4 with 16).
template <typename Scalar>
struct RegisterTile {
  using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
  static constexpr Index packet_size = Eigen::internal::packet_traits<Scalar>::size;
  static constexpr int panel_packets = 3;
  static constexpr Index panel_rows = panel_packets * packet_size;
  static constexpr int block_cols = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 8 : 4;
};

/// The accumulators of a tile of Packets packets of rows by block_cols columns.
template <typename Scalar, int Packets>
using TileAccumulators = typename RegisterTile<Scalar>::Packet[Packets][RegisterTile<Scalar>::block_cols];

/// Calls f(std::integral_constant<int, P>) for P = packets (1 to panel_packets): a tile's packet count, known at
/// run time, as the compile-time constant the kernel is instantiated with.
template <typename F>
void with_packets(Index packets, F&& f) {
  static_assert(RegisterTile<float>::panel_packets == 3 && RegisterTile<double>::panel_packets == 3,
                "the dispatch below covers 1 to 3 packets");
  if (packets == 3) f(std::integral_constant<int, 3>{});
  else if (packets == 2) f(std::integral_constant<int, 2>{});
  else f(std::integral_constant<int, 1>{});
}

/// Where a product goes: element (r, c) at data[r * row_stride + c * col_stride], plus row_bias[r] if set.
/// Either row_stride or col_stride is 1 (a column-major output or a transposed one).
template <typename Scalar>
struct TileOutput {
  Scalar* data;
  Index row_stride, col_stride;
  const Scalar* row_bias = nullptr;
};

/// acc[i][j] = sum over k < depth of packet i of A's column k (at a + k a_step + i packet_size; aligned unless
/// Unaligned) times B(k, j) (at b + k b_k_step + j b_j_step). Inlined, so that steps known to the caller at
/// compile time (a packed operand's) become constants. The accumulators are indexed only by compile-time
/// constants (the loops unroll) so that they live in registers, not on the stack.
template <typename Scalar, int Packets, bool Unaligned>
EIGEN_ALWAYS_INLINE void accumulate_tile(const Scalar* a, Index a_step, const Scalar* b, Index b_k_step,
                                         Index b_j_step, Index depth, TileAccumulators<Scalar, Packets>& acc) {
  using namespace Eigen::internal;
  using Tile = RegisterTile<Scalar>;
  using Packet = typename Tile::Packet;
  ELM_UNROLL
  for (int i = 0; i < Packets; ++i) {
    ELM_UNROLL
    for (int j = 0; j < Tile::block_cols; ++j) acc[i][j] = pset1<Packet>(Scalar(0));
  }
  // unrolled 4 times: 2-4 % more GFLOP/s on an AVX-512 core (the loop's own instructions)
  ELM_UNROLL_4
  for (Index k = 0; k < depth; ++k, a += a_step, b += b_k_step) {
    Packet ak[Packets];
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i)
      ak[i] = Unaligned ? ploadu<Packet>(a + i * Tile::packet_size) : pload<Packet>(a + i * Tile::packet_size);
    ELM_UNROLL
    for (int j = 0; j < Tile::block_cols; ++j) {
      const Packet bj = pset1<Packet>(b[j * b_j_step]);
      ELM_UNROLL
      for (int i = 0; i < Packets; ++i) acc[i][j] = pmadd(ak[i], bj, acc[i][j]);
    }
  }
}

/// Writes (or, with Accumulate, adds) the first row_count rows and col_count columns of the tile acc as the
/// output's rows from r0 and columns from c0.
template <bool Accumulate, typename Scalar, int Packets>
EIGEN_ALWAYS_INLINE void write_tile(const TileAccumulators<Scalar, Packets>& acc, Index r0, Index c0, Index row_count,
                                    Index col_count, const TileOutput<Scalar>& out) {
  using Tile = RegisterTile<Scalar>;
  constexpr Index tile_rows = Packets * Tile::packet_size;
  alignas(64) Scalar tile[tile_rows * Tile::block_cols];
  ELM_UNROLL
  for (int j = 0; j < Tile::block_cols; ++j) {
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i) Eigen::internal::pstore(tile + j * tile_rows + i * Tile::packet_size, acc[i][j]);
  }
  row_count = std::min(tile_rows, row_count);
  if (out.row_bias) {
    for (Index j = 0; j < col_count; ++j)
      for (Index i = 0; i < row_count; ++i) tile[j * tile_rows + i] += out.row_bias[r0 + i];
  }
  if (out.row_stride != 1) {  // transposed destination: each tile row is block_cols contiguous scalars
    eigen_assert(out.col_stride == 1);
    for (Index i = 0; i < row_count; ++i) {
      Scalar* dst = out.data + (r0 + i) * out.row_stride + c0;
      for (Index j = 0; j < col_count; ++j) {
        if constexpr (Accumulate) dst[j] += tile[j * tile_rows + i];
        else dst[j] = tile[j * tile_rows + i];
      }
    }
    return;
  }
  for (Index j = 0; j < col_count; ++j) {
    const Scalar* src = tile + j * tile_rows;
    Scalar* dst = out.data + (c0 + j) * out.col_stride + r0;
    if constexpr (Accumulate) {
      for (Index i = 0; i < row_count; ++i) dst[i] += src[i];
    } else {
      for (Index i = 0; i < row_count; ++i) dst[i] = src[i];
    }
  }
}

/// write_tile for a whole tile (all Packets packets of rows) into a column-major output without a bias: the
/// packets are stored straight from the registers. At an attention tile's depth of 64 the copy through a buffer
/// took a fifth of the time of the products that accumulate; in the deep products of PackedLhs it gained
/// nothing (and measured 1 % slower), so those keep write_tile.
template <bool Accumulate, typename Scalar, int Packets>
EIGEN_ALWAYS_INLINE void write_whole_tile(const TileAccumulators<Scalar, Packets>& acc, Index r0, Index c0,
                                          Index col_count, const TileOutput<Scalar>& out) {
  using namespace Eigen::internal;
  using Tile = RegisterTile<Scalar>;
  using Packet = typename Tile::Packet;
  eigen_assert(out.row_stride == 1 && !out.row_bias);
  ELM_UNROLL
  for (int j = 0; j < Tile::block_cols; ++j) {
    if (j == col_count) break;
    Scalar* dst = out.data + (c0 + j) * out.col_stride + r0;
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i) {
      Scalar* d = dst + i * Tile::packet_size;
      if constexpr (Accumulate) pstoreu(d, padd(ploadu<Packet>(d), acc[i][j]));
      else pstoreu(d, acc[i][j]);
    }
  }
}

/// out (+)= A B for operands small enough to sit in cache (an attention tile's), read where they are instead of
/// packed: A (m, depth) column-major, element (r, k) at a[r + k lda]; B (depth, n), element (k, j) at
/// b[k b_k_stride + j b_j_stride] (column-major: 1, ldb; row-major, i.e. a transpose read in place: ldb, 1).
/// Only the rows past the last whole packet of A and the columns past the last whole block of B are copied
/// (zero-padded) into small buffers, so that no read goes past an operand.
/// In an attention tile product (256 x 64 by 64 x 128) this ran 15-20 % faster than Eigen's general product,
/// which packs both operands on every call.
template <bool Accumulate, typename Scalar>
void tile_product(Index m, Index n, Index depth, const Scalar* a, Index lda, const Scalar* b, Index b_k_stride,
                  Index b_j_stride, const TileOutput<Scalar>& out) {
  using Tile = RegisterTile<Scalar>;
  constexpr Index cols = Tile::block_cols;
  if (m <= 0 || n <= 0) return;
  // rows in whole packets, read in place; the rest (fewer than packet_size rows) from a zero-padded copy
  const Index whole_rows = m / Tile::packet_size * Tile::packet_size;
  thread_local std::vector<Scalar> a_tail, b_tail;
  if (whole_rows < m) {
    a_tail.assign(static_cast<std::size_t>(Tile::packet_size * depth), Scalar(0));
    for (Index k = 0; k < depth; ++k)
      for (Index r = whole_rows; r < m; ++r)
        a_tail[static_cast<std::size_t>(k * Tile::packet_size + r - whole_rows)] = a[r + k * lda];
  }
  const Index whole_cols = n / cols * cols;
  if (whole_cols < n) {
    b_tail.assign(static_cast<std::size_t>(cols * depth), Scalar(0));
    for (Index k = 0; k < depth; ++k)
      for (Index j = whole_cols; j < n; ++j)
        b_tail[static_cast<std::size_t>(k * cols + j - whole_cols)] = b[k * b_k_stride + j * b_j_stride];
  }
  const bool plain_output = out.row_stride == 1 && !out.row_bias;
  for (Index c0 = 0; c0 < n; c0 += cols) {
    const bool b_in_place = c0 < whole_cols;
    const Scalar* bq = b_in_place ? b + c0 * b_j_stride : b_tail.data();
    const Index bk = b_in_place ? b_k_stride : cols, bj = b_in_place ? b_j_stride : 1;
    const Index col_count = std::min(cols, n - c0);
    // the whole packets of rows: panels of three packets, the last one of one to three
    for (Index r0 = 0; r0 < whole_rows; r0 += Tile::panel_rows) {
      with_packets(std::min<Index>(Tile::panel_packets, (whole_rows - r0) / Tile::packet_size), [&](auto packets) {
        constexpr int P = decltype(packets)::value;
        TileAccumulators<Scalar, P> acc;
        accumulate_tile<Scalar, P, true>(a + r0, lda, bq, bk, bj, depth, acc);
        if (plain_output) write_whole_tile<Accumulate, Scalar, P>(acc, r0, c0, col_count, out);
        else write_tile<Accumulate, Scalar, P>(acc, r0, c0, P * Tile::packet_size, col_count, out);
      });
    }
    if (whole_rows < m) {  // the rows after the last whole packet
      TileAccumulators<Scalar, 1> acc;
      accumulate_tile<Scalar, 1, true>(a_tail.data(), Tile::packet_size, bq, bk, bj, depth, acc);
      write_tile<Accumulate>(acc, whole_rows, c0, m - whole_rows, col_count, out);
    }
  }
}

/// tile_product on Eigen blocks: out (+)= a b.  a: a column-major block with contiguous columns; b: such a
/// block or the transpose of one (read as a row-major operand); out: a column-major block with contiguous
/// columns, of a's rows and b's columns.
template <bool Accumulate, typename A, typename B, typename Out>
void block_product(const A& a, const B& b, Out&& out) {
  using Scalar = typename A::Scalar;
  static_assert(!A::IsRowMajor && !std::decay_t<Out>::IsRowMajor, "block_product needs column-major a and out");
  eigen_assert(a.innerStride() == 1 && b.innerStride() == 1 && out.innerStride() == 1);
  eigen_assert(a.cols() == b.rows() && out.rows() == a.rows() && out.cols() == b.cols());
  const Index b_k_stride = B::IsRowMajor ? b.outerStride() : 1;
  const Index b_j_stride = B::IsRowMajor ? 1 : b.outerStride();
  tile_product<Accumulate>(a.rows(), b.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b_k_stride, b_j_stride,
                           TileOutput<Scalar>{out.data(), 1, out.outerStride()});
}

}  // namespace elm::nn::detail
