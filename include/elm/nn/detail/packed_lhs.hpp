// SPDX-License-Identifier: MIT
// PackedLhs: a matrix packed once for many products with small right-hand sides (a recurrent layer's W_hh).
//
// Why it exists: every step of a recurrent layer multiplies the same (G H, H) weight by the batch's (H, B) state.
// Eigen's general product packs both operands on every call, so each step re-packed the 4 MB weight of an LSTM
// with H = 512 (1M floats moved for a 33M multiply-add product): in a profile of the B = 32, H = 512 training
// step, packing took about a third of the time of the per-step products. Here the weight is packed once per
// forward or backward call, each step packs only its small (H, B) right-hand side, and a register-blocked
// kernel written with Eigen's packet primitives (SSE, AVX, AVX-512, NEON; float and double) streams the panels.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include <Eigen/Core>

#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/register_tile.hpp"

namespace elm::nn::detail {

/// A (M, K) matrix packed in panels of `panel_rows` rows (zero-padded at the bottom), each panel stored
/// k-major so the kernel reads it sequentially. multiply() computes A B for any (K, N) B, multiply_add() adds it.
template <typename Scalar>
class PackedLhs {
  using Packet = typename RegisterTile<Scalar>::Packet;
  static constexpr Index packet_size = RegisterTile<Scalar>::packet_size;
  using Output = TileOutput<Scalar>;

 public:
  /// Rows per panel: three packets; columns per register block: 8 with 32 vector registers, 4 with 16 (see
  /// RegisterTile).
  static constexpr int panel_packets = RegisterTile<Scalar>::panel_packets;
  static constexpr Index panel_rows = RegisterTile<Scalar>::panel_rows;
  static constexpr int block_cols = RegisterTile<Scalar>::block_cols;
  /// Depth from which a column-major right side is read in place rather than packed. Measured on one AVX-512
  /// core, builds alternated within minutes: a GPT-2-sized Linear step (depths 768 to 3072) takes 4 % less time
  /// at 1 thread and 8 % less at 2 with 256 than with 1024; the LSTM step (depths 256 and 512 read in place
  /// only with 256) does not change. Alone, a (2048, 256) x (256, 2048) product was 4 % slower in place:
  /// below a few hundred rows a column's stream per tile is too short for the prefetchers.
  static constexpr Index direct_min_depth = 256;
  /// How many columns ahead packing a column-major operand prefetches (see pack_panel).
  static constexpr Index pack_prefetch_columns = 8;

  PackedLhs() = default;

  /// Packs a (M, K), any Eigen expression (e.g. W.transpose()).
  template <typename Derived>
  explicit PackedLhs(const Eigen::MatrixBase<Derived>& a) {
    pack(a);
  }

  template <typename Derived>
  void pack(const Eigen::MatrixBase<Derived>& a) {
    set_shape(a.rows(), a.cols());
    pack_panel_ = nullptr;
    add_row_sums_ = nullptr;
    grow(data_, panels_ * panel_rows * depth_);
    // Panels on OpenMP threads, in chunks of 128K scalars: packing a (G H, B T) gradient moves 16 MB.
    const Index panel_size = std::max<Index>(1, panel_rows * depth_);
    const Index panels_per_chunk = std::max<Index>(1, 4 * elm::detail::parallel_grain / panel_size);
    elm::detail::parallel_chunks(panels_, panels_per_chunk, [&](Index, Index first, Index last) {
      for (Index p = first; p < last; ++p) pack_panel(a, p, data_.data() + p * panel_rows * depth_, rows_, depth_);
    });
  }

  /// Takes a (M, K) to be packed inside each product instead of now, one panel at a time just before the
  /// tiles that use it, into the running thread's own panel buffer, which stays in its L2 cache. For an
  /// operand used by one product only (a dense layer's weight, input or output gradient): packing it whole
  /// first wrote it out to memory and read it back, 3-4 ms of a 25 ms GPT-2 MLP product. a is referenced, not
  /// copied: it must stay alive and unchanged until the last product that uses it, and must not share memory
  /// with that product's output. With add_row_sums (M scalars), the next product also adds each row's sum
  /// into it, from the packed panels (a bias gradient without another pass over a (out, N) gradient).
  template <typename Derived>
  void pack_per_product(const Eigen::MatrixBase<Derived>& a, Scalar* add_row_sums = nullptr) {
    set_shape(a.rows(), a.cols());
    add_row_sums_ = add_row_sums;
    // Holds a by reference when it is a matrix and by value when it is an expression such as a transpose (a
    // temporary, which itself refers to a matrix), as Eigen's own expressions nest their operands.
    struct Nested {
      typename Eigen::internal::ref_selector<Derived>::type a;
    };
    // (the shape is captured by value, not through this, so that a moved PackedLhs holds nothing stale)
    pack_panel_ = [nested = Nested{a.derived()}, rows = rows_, depth = depth_](Index p, Scalar* dst) {
      pack_panel(nested.a, p, dst, rows, depth);
    };
  }

  /// Whether products after pack_per_product pack a panel by panel, each thread its own (else whole first).
  bool streams_panels() const {
    const Index threads = elm::detail::max_threads();
    return threads == 1 || panels_ >= 4 * threads;
  }

  Index rows() const { return rows_; }
  Index cols() const { return depth_; }

  /// out = A b, plus row_bias (M scalars, not aliasing out) in every column when given.  b: (K, N), any Eigen
  /// expression (e.g. a transpose) -> out: (M, N), overwritten. The (panel, column block) tiles run on OpenMP
  /// threads when there are enough of them. The bias is added as the tiles are written (a dense layer's
  /// y = W^T x + b without a second pass over y).
  template <typename Derived>
  void multiply(const Eigen::MatrixBase<Derived>& b, Matrix<Scalar>& out, const Scalar* row_bias = nullptr) {
    const Index n = b.cols();
    const Rhs rhs = prepare_rhs(b, out.data(), out.data() + out.size());
    out.resize(rows_, n);  // after preparing b, which out may alias (b is then packed)
    product<false>(n, rhs, Output{out.data(), 1, out.outerStride(), row_bias});
  }

  /// out += A b.  out: (M, N), a matrix or a block of whole columns (one step's columns of a (G H, B T)
  /// matrix): a sum formed where it is needed, without a product-sized temporary.
  template <typename Derived>
  void multiply_add(const Eigen::MatrixBase<Derived>& b, Eigen::Ref<Matrix<Scalar>> out) {
    eigen_assert(out.rows() == rows_ && out.cols() == b.cols());
    const Rhs rhs = prepare_rhs(b, out.data(), out.data() + out.outerStride() * out.cols());
    product<true>(b.cols(), rhs, Output{out.data(), 1, out.outerStride()});
  }

  /// out_t = (A b)^T.  out_t: resized to (N, M), overwritten.
  template <typename Derived>
  void multiply_transposed(const Eigen::MatrixBase<Derived>& b, Matrix<Scalar>& out_t) {
    const Index n = b.cols();
    const Rhs rhs = prepare_rhs(b, out_t.data(), out_t.data() + out_t.size());
    out_t.resize(n, rows_);  // after preparing b, which out_t may alias (b is then packed)
    product<false>(n, rhs, Output{out_t.data(), out_t.outerStride(), 1});
  }

  /// out_t += (A b)^T.  out_t: (N, M). A weight gradient stored transposed (PyTorch's (out, in) bytes in a
  /// column-major (in, out) matrix) is accumulated tile by tile, instead of through a (M, N) temporary added
  /// transposed afterwards (a pass that misses the cache on every column).
  template <typename Derived>
  void multiply_add_transposed(const Eigen::MatrixBase<Derived>& b, Eigen::Ref<Matrix<Scalar>> out_t) {
    eigen_assert(out_t.cols() == rows_ && out_t.rows() == b.cols());
    const Rhs rhs = prepare_rhs(b, out_t.data(), out_t.data() + out_t.outerStride() * out_t.cols());
    product<true>(b.cols(), rhs, Output{out_t.data(), out_t.outerStride(), 1});
  }

 private:
  void set_shape(Index rows, Index depth) {
    rows_ = rows;
    depth_ = depth;
    panels_ = (rows_ + panel_rows - 1) / panel_rows;
  }

  // Packs panel p of a into dst (panel_rows * depth scalars), k-major, zero-padded at the bottom. Reads follow
  // a's storage order (a row-major a, e.g. a transpose, is read row by row), so that every cache line read
  // is used whole.
  template <typename Derived>
  static void pack_panel(const Eigen::MatrixBase<Derived>& a, Index p, Scalar* dst, Index rows, Index depth) {
    const Index r0 = p * panel_rows, count = std::min(panel_rows, rows - r0);
    if constexpr (!Derived::IsRowMajor && bool(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit)) {
      if (a.derived().innerStride() == 1) {
        // A column-major a in memory: each column's piece is a few cache lines, a page or more from the last,
        // a stride the hardware prefetchers do not follow across pages; prefetching pack_prefetch_columns
        // ahead made a GPT-2 MLP's three products 1.5-2 % faster (min and mean of 6 alternated runs).
        constexpr Index line_scalars = 64 / Index(sizeof(Scalar));
        const Index stride = a.derived().outerStride();
        const Scalar* col = a.derived().data() + r0;
        for (Index k = 0; k < depth; ++k, dst += panel_rows, col += stride) {
          if (k + pack_prefetch_columns < depth)
            for (Index i = 0; i < count; i += line_scalars)
              Eigen::internal::prefetch(col + pack_prefetch_columns * stride + i);
          for (Index i = 0; i < count; ++i) dst[i] = col[i];
          for (Index i = count; i < panel_rows; ++i) dst[i] = Scalar(0);
        }
        return;
      }
    }
    // k outer for either order: the writes are sequential, and a row-major a's rows are read in step
    for (Index k = 0; k < depth; ++k, dst += panel_rows) {
      for (Index i = 0; i < count; ++i) dst[i] = a(r0 + i, k);
      for (Index i = count; i < panel_rows; ++i) dst[i] = Scalar(0);
    }
  }

  // Where the right side is read: its first direct_blocks blocks in place (column j of block q at
  // data + (q block_cols + j) col_stride, rows contiguous), the rest from packed_rhs_.
  struct Rhs {
    const Scalar* data;
    Index col_stride, direct_blocks;
  };

  // A column-major b with contiguous columns, at least direct_min_depth deep, that does not overlap the output
  // [out_begin, out_end) is read in place, one stream per column, instead of being copied into blocks first;
  // only its last, partial block is packed. Any other b is packed whole.
  template <typename Derived>
  Rhs prepare_rhs(const Eigen::MatrixBase<Derived>& b, const Scalar* out_begin, const Scalar* out_end) {
    eigen_assert(b.rows() == depth_);
    if constexpr (!Derived::IsRowMajor && bool(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit)) {
      const Derived& m = b.derived();
      const Scalar* begin = m.data();
      const Scalar* end = begin + m.outerStride() * m.cols();
      const bool overlaps = begin < out_end && out_begin < end;
      if (m.innerStride() == 1 && !overlaps && depth_ >= direct_min_depth) {
        const Index direct_blocks = m.cols() / block_cols;
        pack_rhs(b, direct_blocks * block_cols);
        return Rhs{begin, m.outerStride(), direct_blocks};
      }
    }
    pack_rhs(b, 0);
    return Rhs{nullptr, 0, 0};
  }

  // Packs b's columns [first_col, N) into blocks from packed_rhs_'s start: k-major blocks of block_cols columns
  // (zero-padded), one broadcast per entry. For a row-major b (a transpose) each read is block_cols contiguous
  // scalars; for a column-major b, block_cols streams. Blocks on OpenMP threads when b is large (a (G H, B T)
  // gradient is 16 MB): chunks of 128K scalars, so a step's (G H, B) stays on one thread.
  template <typename Derived>
  void pack_rhs(const Eigen::MatrixBase<Derived>& b, Index first_col) {
    eigen_assert(b.rows() == depth_);
    const Index n = b.cols() - first_col;
    const Index blocks = (n + block_cols - 1) / block_cols;
    grow(packed_rhs_, blocks * block_cols * depth_);
    const Index block_size = std::max<Index>(1, block_cols * depth_);
    const Index blocks_per_chunk = std::max<Index>(1, 4 * elm::detail::parallel_grain / block_size);
    elm::detail::parallel_chunks(blocks, blocks_per_chunk, [&](Index, Index first, Index last) {
      // A row-major b is read 64 rows at a time across all the chunk's blocks: a cache line of a row holds
      // two blocks' entries, read once instead of once per block.
      const Index rows_per_pass = Derived::IsRowMajor ? 64 : std::max<Index>(1, depth_);
      for (Index k0 = 0; k0 < depth_; k0 += rows_per_pass) {
        const Index k1 = std::min(depth_, k0 + rows_per_pass);
        for (Index q = first; q < last; ++q) {
          Scalar* dst = packed_rhs_.data() + q * block_cols * depth_ + k0 * block_cols;
          const Index c0 = q * block_cols, count = std::min<Index>(block_cols, n - c0);
          if (count == block_cols) {  // a whole block: a fixed-length inner loop, unrolled
            for (Index k = k0; k < k1; ++k, dst += block_cols) {
              ELM_UNROLL
              for (Index j = 0; j < block_cols; ++j) dst[j] = b(k, first_col + c0 + j);
            }
            continue;
          }
          for (Index k = k0; k < k1; ++k, dst += block_cols) {
            for (Index j = 0; j < count; ++j) dst[j] = b(k, first_col + c0 + j);
            for (Index j = count; j < block_cols; ++j) dst[j] = Scalar(0);
          }
        }
      }
    });
  }

  // A times the right side (n columns) into out.
  template <bool Accumulate>
  void product(Index n, Rhs rhs, Output out) {
    const Index blocks = (n + block_cols - 1) / block_cols;
    const auto tile = [&](const Scalar* panel, Index p, Index q) {
      const Index packets = std::min<Index>(panel_packets, (rows_ - p * panel_rows + packet_size - 1) / packet_size);
      with_packets(packets, [&](auto count) {
        tile_with<Accumulate, decltype(count)::value>(panel, p, q, n, rhs, out);
      });
    };
    // A chunk is at least 256K multiply-adds, below which a fork costs more than it saves.
    const Index tile_work = std::max<Index>(1, panel_rows * block_cols * depth_);
    // Packed per product: whole panels per chunk, each packed into the thread's buffer, then used by every
    // block. With too few panels to share among the threads (a forward pass over a few dozen tokens), a is
    // packed whole first so that the tiles can be shared instead.
    if (pack_panel_ && !streams_panels()) pack_whole_per_product();
    if (pack_panel_ && streams_panels()) {
      const Index panels_per_chunk = std::max<Index>(1, (Index(1) << 18) / (tile_work * std::max<Index>(1, blocks)));
      elm::detail::parallel_chunks(panels_, panels_per_chunk, [&](Index, Index first, Index last) {
        thread_local Buffer panel;
        grow(panel, panel_rows * depth_);
        for (Index p = first; p < last; ++p) {
          pack_panel_(p, panel.data());
          if (add_row_sums_) add_panel_row_sums(panel.data(), p);
          for (Index q = 0; q < blocks; ++q) tile(panel.data(), p, q);
        }
      });
      add_row_sums_ = nullptr;  // added once, by this product
      return;
    }
    // Tiles in panel-major order, so a thread's tiles share panels (which stay in its L2 cache).
    const Index tiles_per_chunk = std::max<Index>(1, (Index(1) << 18) / tile_work);
    elm::detail::parallel_chunks(panels_ * blocks, tiles_per_chunk, [&](Index, Index first, Index last) {
      for (Index t = first; t < last; ++t) {
        const Index p = t / blocks;
        tile(data_.data() + p * panel_rows * depth_, p, t % blocks);
      }
    });
  }

  // A product's packing of the operand of pack_per_product, all panels at once into data_.
  void pack_whole_per_product() {
    grow(data_, panels_ * panel_rows * depth_);
    elm::detail::parallel_chunks(panels_, 1, [&](Index, Index p, Index) {
      Scalar* panel = data_.data() + p * panel_rows * depth_;
      pack_panel_(p, panel);
      if (add_row_sums_) add_panel_row_sums(panel, p);
    });
    add_row_sums_ = nullptr;
  }

  // Adds the row sums of panel p (packed at panel) into add_row_sums_, summed in column order as row_sums.
  void add_panel_row_sums(const Scalar* panel, Index p) const {
    using namespace Eigen::internal;
    Packet sums[panel_packets];
    for (int i = 0; i < panel_packets; ++i) sums[i] = pset1<Packet>(Scalar(0));
    for (Index k = 0; k < depth_; ++k, panel += panel_rows)
      for (int i = 0; i < panel_packets; ++i) sums[i] = padd(sums[i], pload<Packet>(panel + i * packet_size));
    alignas(64) Scalar row_sum[panel_rows];
    for (int i = 0; i < panel_packets; ++i) pstore(row_sum + i * packet_size, sums[i]);
    const Index r0 = p * panel_rows, count = std::min(panel_rows, rows_ - r0);
    for (Index i = 0; i < count; ++i) add_row_sums_[r0 + i] += row_sum[i];
  }

  // One tile, its right side read in place or from packed_rhs_.
  template <bool Accumulate, int Packets>
  void tile_with(const Scalar* panel, Index p, Index q, Index n, Rhs rhs, Output out) const {
    if (q < rhs.direct_blocks)
      panel_block<Accumulate, true, Packets>(panel, p, q, rhs.data + q * block_cols * rhs.col_stride, rhs.col_stride,
                                             n, out);
    else
      panel_block<Accumulate, false, Packets>(panel, p, q,
                                              packed_rhs_.data() + (q - rhs.direct_blocks) * block_cols * depth_, 1,
                                              n, out);
  }

  // out(panel p's rows, block q's columns) = panel p (packed at a) times block q, whose entry (k, j) is at
  // b + k block_cols + j when packed, b + k + j col_stride when read in place (Direct).
  // Packets: how many of the panel's three packets of rows hold rows of A (fewer only in the last panel, where
  // the rest is padding: 16 of 48 rows at 1024 rows, a third of that panel's work saved).
  template <bool Accumulate, bool Direct, int Packets>
  void panel_block(const Scalar* a, Index p, Index q, const Scalar* b, Index col_stride, Index n, Output out) const {
    constexpr Index k_step = Direct ? 1 : block_cols;
    const Index j_step = Direct ? col_stride : 1;
    TileAccumulators<Scalar, Packets> acc;
    accumulate_tile<Scalar, Packets, false>(a, panel_rows, b, k_step, j_step, depth_, acc);
    const Index r0 = p * panel_rows, c0 = q * block_cols;
    write_tile<Accumulate>(acc, r0, c0, rows_ - r0, std::min<Index>(block_cols, n - c0), out);
  }

  // Aligned for pload, on huge pages when large (see huge_page_allocator.hpp). A buffer only grows: one
  // PackedLhs reused for operands of several sizes (the layers of a network, a Linear's three products)
  // allocates only for the largest, and does not zero again, on every call, the part a smaller operand left
  // unused (9 MB per GPT-2 MLP step).
  using Buffer = std::vector<Scalar, elm::detail::HugePageAllocator<Scalar>>;
  static void grow(Buffer& buffer, Index size) {
    if (buffer.size() < to_size(size)) buffer.resize(to_size(size));
  }
  Index rows_ = 0, depth_ = 0, panels_ = 0;
  Buffer data_;
  std::function<void(Index, Scalar*)> pack_panel_;  // set by pack_per_product: packs panel p into a buffer
  Scalar* add_row_sums_ = nullptr;                   // set by pack_per_product, for one product
  Buffer packed_rhs_;  // scratch of multiply(), kept to avoid an allocation per step
};

/// One PackedLhs per thread and Scalar, for layers that pack a weight on every call (Linear, whose forward is
/// const and keeps no workspace of its own): its buffers keep the capacity of the largest product, so a training
/// loop neither allocates nor faults in weight-sized buffers per call, and a network of many layers holds one
/// workspace, not one per layer.
template <typename Scalar>
PackedLhs<Scalar>& thread_packed_lhs() {
  thread_local PackedLhs<Scalar> packed;
  return packed;
}

}  // namespace elm::nn::detail
