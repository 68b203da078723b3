// SPDX-License-Identifier: MIT
// The packed product kernel, written once over the vector operations Simd<Scalar> of the namespace it is
// included in: packed_lhs.hpp includes this file once per instruction set (generic, avx2, avx512), each time
// inside that instruction set's namespace and, for avx2 and avx512, inside a region compiled for it.
// No include guard and no includes of its own, on purpose: packed_lhs.hpp includes what it uses first.
//
// The kernel: a register tile of up to three packets of rows by block_cols columns accumulated over the depth
// (3 x 8 with 32 vector registers, 3 x 4 with 16), the left operand packed in panels of three packets of rows,
// k-major, so that the tile reads it sequentially; the right operand read in place when it is a deep enough
// column-major matrix, else packed in blocks of block_cols columns. Operands reach the kernel as strided views
// (element (r, c) at data[r * row_stride + c * col_stride]), so that it is compiled once per scalar type and
// instruction set, not once per Eigen expression.

/// Shape of the register tile: panel_packets packets of rows by block_cols columns, as many as the registers
/// allow with 3 * block_cols accumulators, 3 loaded packets and one broadcast.
template <typename Scalar>
struct RegisterTile {
  using Ops = Simd<Scalar>;
  using Packet = typename Ops::Packet;
  static constexpr Index packet_size = Ops::size;
  static constexpr int panel_packets = 3;
  static constexpr Index panel_rows = panel_packets * packet_size;
  static constexpr int block_cols = Ops::registers >= 32 ? 8 : 4;
};

/// The accumulators of a tile of Packets packets of rows by block_cols columns.
template <typename Scalar, int Packets>
using TileAccumulators = typename RegisterTile<Scalar>::Packet[Packets][RegisterTile<Scalar>::block_cols];

/// Calls f(std::integral_constant<int, P>) for P = packets (1 to 3): a tile's packet count, known at run time,
/// as the compile-time constant the kernel is instantiated with.
template <typename F>
void with_packets(Index packets, F&& f) {
  static_assert(RegisterTile<float>::panel_packets == 3 && RegisterTile<double>::panel_packets == 3,
                "the dispatch below covers 1 to 3 packets");
  if (packets == 3) f(std::integral_constant<int, 3>{});
  else if (packets == 2) f(std::integral_constant<int, 2>{});
  else f(std::integral_constant<int, 1>{});
}

/// acc[i][j] = sum over k < depth of packet i of A's column k (at a + k a_step + i packet_size; aligned unless
/// Unaligned) times B(k, j) (at b + k b_k_step + j b_j_step). Inlined, so that steps known to the caller at
/// compile time (a packed operand's) become constants. The accumulators are indexed only by compile-time
/// constants (the loops unroll) so that they live in registers, not on the stack.
template <typename Scalar, int Packets, bool Unaligned>
EIGEN_ALWAYS_INLINE void accumulate_tile(const Scalar* a, Index a_step, const Scalar* b,
                                                           Index b_k_step, Index b_j_step, Index depth,
                                                           TileAccumulators<Scalar, Packets>& acc) {
  using Tile = RegisterTile<Scalar>;
  using Ops = typename Tile::Ops;
  using Packet = typename Tile::Packet;
  ELM_UNROLL
  for (int i = 0; i < Packets; ++i) {
    ELM_UNROLL
    for (int j = 0; j < Tile::block_cols; ++j) acc[i][j] = Ops::set1(Scalar(0));
  }
  // unrolled 4 times: the loop's own instructions are then a smaller share of the issue slots
  ELM_UNROLL_4
  for (Index k = 0; k < depth; ++k, a += a_step, b += b_k_step) {
    Packet ak[Packets];
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i)
      ak[i] = Unaligned ? Ops::loadu(a + i * Tile::packet_size) : Ops::load(a + i * Tile::packet_size);
    ELM_UNROLL
    for (int j = 0; j < Tile::block_cols; ++j) {
      const Packet bj = Ops::set1(b[j * b_j_step]);
      ELM_UNROLL
      for (int i = 0; i < Packets; ++i) acc[i][j] = Ops::madd(ak[i], bj, acc[i][j]);
    }
  }
}

/// Writes (or, with accumulate, adds) the first row_count rows and col_count columns of the tile acc as the
/// output's rows from r0 and columns from c0. (accumulate is a run-time flag: each instantiation of the kernel
/// costs compile time in every program that uses it, and the branch is outside the depth loop.)
template <typename Scalar, int Packets>
EIGEN_ALWAYS_INLINE void write_tile(const TileAccumulators<Scalar, Packets>& acc, Index r0, Index c0,
                                    Index row_count, Index col_count, const TileOutput<Scalar>& out,
                                    bool accumulate) {
  using Tile = RegisterTile<Scalar>;
  using Ops = typename Tile::Ops;
  constexpr Index tile_rows = Packets * Tile::packet_size;
  if (out.row_stride == 1 && row_count >= tile_rows) {
    // Whole packets of rows into a column-major output: stored from the registers, the bias added by packets
    // (the same sums as below). Through the buffer, each column's copy became a call of memmove for a few cache
    // lines: 5 % of a one-thread MiniLM forward.
    typename Tile::Packet bias[Packets];
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i)
      bias[i] = out.row_bias ? Ops::loadu(out.row_bias + r0 + i * Tile::packet_size) : Ops::set1(Scalar(0));
    ELM_UNROLL
    for (int j = 0; j < Tile::block_cols; ++j) {
      if (j == col_count) break;
      Scalar* dst = out.data + (c0 + j) * out.col_stride + r0;
      ELM_UNROLL
      for (int i = 0; i < Packets; ++i) {
        const auto value = out.row_bias ? Ops::add(acc[i][j], bias[i]) : acc[i][j];
        Scalar* d = dst + i * Tile::packet_size;
        Ops::storeu(d, accumulate ? Ops::add(Ops::loadu(d), value) : value);
      }
    }
    return;
  }
  alignas(64) Scalar tile[tile_rows * Tile::block_cols];
  ELM_UNROLL
  for (int j = 0; j < Tile::block_cols; ++j) {
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i) Ops::store(tile + j * tile_rows + i * Tile::packet_size, acc[i][j]);
  }
  row_count = std::min(tile_rows, row_count);
  if (out.row_bias) {
    for (Index j = 0; j < col_count; ++j)
      for (Index i = 0; i < row_count; ++i) tile[j * tile_rows + i] += out.row_bias[r0 + i];
  }
  if (out.row_stride != 1) {  // transposed destination: each tile row is block_cols contiguous scalars
    for (Index i = 0; i < row_count; ++i) {
      Scalar* dst = out.data + (r0 + i) * out.row_stride + c0;
      if (accumulate) {
        for (Index j = 0; j < col_count; ++j) dst[j] += tile[j * tile_rows + i];
      } else {
        for (Index j = 0; j < col_count; ++j) dst[j] = tile[j * tile_rows + i];
      }
    }
    return;
  }
  for (Index j = 0; j < col_count; ++j) {
    const Scalar* src = tile + j * tile_rows;
    Scalar* dst = out.data + (c0 + j) * out.col_stride + r0;
    if (accumulate) {
      for (Index i = 0; i < row_count; ++i) dst[i] += src[i];
    } else {
      for (Index i = 0; i < row_count; ++i) dst[i] = src[i];
    }
  }
}

/// write_tile for a whole tile (all Packets packets of rows) into a column-major output without a bias: the
/// packets are stored straight from the registers. At an attention tile's depth of 64 the copy through a buffer
/// is a large share of the work; in the deep products of PackedLhsKernel it is not, and they keep write_tile.
template <typename Scalar, int Packets>
EIGEN_ALWAYS_INLINE void write_whole_tile(const TileAccumulators<Scalar, Packets>& acc, Index r0, Index c0,
                                          Index col_count, const TileOutput<Scalar>& out, bool accumulate) {
  using Tile = RegisterTile<Scalar>;
  using Ops = typename Tile::Ops;
  ELM_UNROLL
  for (int j = 0; j < Tile::block_cols; ++j) {
    if (j == col_count) break;
    Scalar* dst = out.data + (c0 + j) * out.col_stride + r0;
    ELM_UNROLL
    for (int i = 0; i < Packets; ++i) {
      Scalar* d = dst + i * Tile::packet_size;
      Ops::storeu(d, accumulate ? Ops::add(Ops::loadu(d), acc[i][j]) : acc[i][j]);
    }
  }
}

/// out (+)= A B for operands small enough to sit in cache (an attention tile's), read where they are instead of
/// packed: A (m, depth) column-major, element (r, k) at a[r + k lda]; B (depth, n), element (k, j) at
/// b[k b_k_stride + j b_j_stride] (column-major: 1, ldb; row-major, i.e. a transpose read in place: ldb, 1).
/// Only the rows past the last whole packet of A and the columns past the last whole block of B are copied
/// (zero-padded) into small buffers allocated for this call, so that no read goes past an operand.
template <typename Scalar>
void tile_product(Index m, Index n, Index depth, const Scalar* a, Index lda, const Scalar* b, Index b_k_stride,
                  Index b_j_stride, const TileOutput<Scalar>& out, bool accumulate) {
  using Tile = RegisterTile<Scalar>;
  constexpr Index cols = Tile::block_cols;
  if (m <= 0 || n <= 0) return;
  // rows in whole packets, read in place; the rest (fewer than packet_size rows) from a zero-padded copy
  const Index whole_rows = m / Tile::packet_size * Tile::packet_size;
  std::vector<Scalar> a_tail, b_tail;
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
        if (plain_output) write_whole_tile<Scalar, P>(acc, r0, c0, col_count, out, accumulate);
        else write_tile<Scalar, P>(acc, r0, c0, P * Tile::packet_size, col_count, out, accumulate);
      });
    }
    if (whole_rows < m) {  // the rows after the last whole packet
      TileAccumulators<Scalar, 1> acc;
      accumulate_tile<Scalar, 1, true>(a_tail.data(), Tile::packet_size, bq, bk, bj, depth, acc);
      write_tile<Scalar, 1>(acc, whole_rows, c0, m - whole_rows, col_count, out, accumulate);
    }
  }
}

/// A (M, K) left operand packed in panels of panel_rows rows (zero-padded at the bottom), each panel stored
/// k-major so the kernel reads it sequentially, and the products of it with any (K, N) right operand. It owns
/// its buffers (the caller's scratch: a layer's cache or workspace, or a local), nothing else: every operand
/// it does not own is passed to the call that reads it.
template <typename Scalar>
class PackedLhsKernel {
  using Tile = RegisterTile<Scalar>;
  using Ops = typename Tile::Ops;
  using Packet = typename Tile::Packet;
  using Output = TileOutput<Scalar>;
  using View = StridedView<Scalar>;

 public:
  static constexpr int panel_packets = Tile::panel_packets;
  static constexpr Index packet_size = Tile::packet_size;
  static constexpr Index panel_rows = Tile::panel_rows;
  static constexpr int block_cols = Tile::block_cols;
  /// Depth from which a column-major right side is read in place rather than packed: below a few hundred
  /// rows a column's stream per tile is too short for the hardware prefetchers (docs/benchmarks.md).
  static constexpr Index direct_min_depth = 256;
  /// Depth above which a streamed panel is multiplied in slices of depth_slice (see product): up to 4096 a
  /// panel (768 KB) and a block sit in L2 together; slicing shallower panels measured no faster.
  static constexpr Index sliced_depth = 4096;
  static constexpr Index depth_slice = 512;
  /// How many columns ahead packing a column-major operand prefetches (see pack_panel).
  static constexpr Index pack_prefetch_columns = 8;

  Index rows() const { return rows_; }
  Index cols() const { return depth_; }

  /// Packs a (rows, depth) whole, for many products (a recurrent layer's W_hh, used at every step).
  void pack(const View& a, Index rows, Index depth) {
    set_shape(rows, depth);
    grow(data_, panels_ * panel_rows * depth_);
    // Panels on OpenMP threads, in chunks of 128K scalars: packing a (G H, B T) gradient moves 16 MB.
    const Index panel_size = std::max<Index>(1, panel_rows * depth_);
    const Index panels_per_chunk = std::max<Index>(1, 4 * elm::detail::parallel_grain / panel_size);
    elm::detail::parallel_chunks(panels_, panels_per_chunk, [&](Index, Index first, Index last) {
      for (Index p = first; p < last; ++p) pack_panel(a, p, data_.data() + p * panel_rows * depth_);
    });
  }

  /// The shape of the left operand of the next products: set by pack, or by the caller before a streamed
  /// product (which replaces whatever pack packed).
  void set_shape(Index rows, Index depth) {
    rows_ = rows;
    depth_ = depth;
    panels_ = (rows_ + panel_rows - 1) / panel_rows;
  }

  // Whether a streamed product packs panel by panel, each thread its own (else whole first, so that the
  // threads can share tiles when there are too few panels for them).
  bool streams_panels() const {
    const Index threads = elm::detail::max_threads();
    return threads == 1 || panels_ >= 4 * threads;
  }

  /// Where the right side is read: its first direct_blocks blocks in place (column j of block q at
  /// data + (q block_cols + j) col_stride, rows contiguous), the rest from packed_rhs_.
  struct Rhs {
    const Scalar* data;
    Index col_stride, direct_blocks;
  };

  /// Prepares the right side b (depth, n) of a product whose output occupies [out_begin, out_end): a
  /// column-major b with contiguous columns, at least direct_min_depth deep, that does not overlap the output
  /// is read in place, one stream per column, instead of being copied into blocks first; only its last,
  /// partial block is packed. Any other b is packed whole, so that the output may then be resized or written
  /// even where b was.
  Rhs prepare_rhs(const View& b, Index n, const Scalar* out_begin, const Scalar* out_end) {
    if (b.row_stride == 1 && depth_ >= direct_min_depth) {
      const Scalar* begin = b.data;
      const Scalar* end = begin + b.col_stride * n;
      const bool overlaps = begin < out_end && out_begin < end;
      if (!overlaps) {
        const Index direct_blocks = n / block_cols;
        pack_rhs(b, n, direct_blocks * block_cols);
        return Rhs{begin, b.col_stride, direct_blocks};
      }
    }
    pack_rhs(b, n, 0);
    return Rhs{nullptr, 0, 0};
  }

  /// out (+)= A times the prepared right side (n columns). A is the packed one (streamed and source null), or
  /// *streamed (of the shape given to set_shape), or what *source packs, packed inside the product: one panel at
  /// a time just before the tiles that use it, into the running thread's own panel buffer, which stays in its L2 cache (for an
  /// operand used by one product only, such as a dense layer's weight, packing it whole first would write it
  /// out to memory and read it back), or whole first when there are too few panels to share among the
  /// threads. A streamed A must not overlap out. With a_row_sums (rows scalars), each row's sum of a streamed
  /// A is added into it, from the packed panels (a bias gradient without another pass over the gradient).
  void product(Index n, const Rhs& rhs, const Output& out, bool accumulate, const View* streamed,
               Scalar* a_row_sums, const PanelSource<Scalar>* source = nullptr) {
    const Index blocks = (n + block_cols - 1) / block_cols;
    // the tile of panel p and block q over the depth range [k0, k1): the first range writes (or accumulates, as
    // asked) and adds the bias, the others accumulate
    const auto tile = [&](const Scalar* panel, Index p, Index q, Index k0, Index k1) {
      const Index packets = std::min<Index>(panel_packets, (rows_ - p * panel_rows + packet_size - 1) / packet_size);
      Output slice_out = out;
      if (k0 > 0) slice_out.row_bias = nullptr;
      with_packets(packets, [&](auto count) {
        tile_with<decltype(count)::value>(panel, p, q, n, rhs, slice_out, accumulate || k0 > 0, k0, k1);
      });
    };
    // A chunk is at least 256K multiply-adds, below which a fork costs more than it saves.
    const Index tile_work = std::max<Index>(1, panel_rows * block_cols * depth_);
    const bool streaming = streamed || source;
    if (streaming && streams_panels()) {
      // whole panels per chunk, each packed into the running thread's buffer, then used by every block
      const Index threads = elm::detail::max_threads();
      if (to_index(thread_panels_.size()) < threads) thread_panels_.resize(to_size(threads));
      for (Buffer& buffer : thread_panels_) grow(buffer, panel_rows * depth_);
      const Index panels_per_chunk = std::max<Index>(1, (Index(1) << 18) / (tile_work * std::max<Index>(1, blocks)));
      elm::detail::parallel_chunks(panels_, panels_per_chunk, [&](Index, Index first, Index last) {
        Scalar* panel = thread_panels_[to_size(elm::detail::thread_index())].data();
        for (Index p = first; p < last; ++p) {
          pack_streamed(streamed, source, p, panel);
          if (a_row_sums) add_panel_row_sums(panel, p, a_row_sums);
          if (depth_ <= sliced_depth) {
            for (Index q = 0; q < blocks; ++q) tile(panel, p, q, 0, depth_);
            continue;
          }
          // A very deep panel (a convolution's weight gradient sums over every pixel of the batch: 6 MB per
          // panel) is taken in slices, each used by every block while it is in L2.
          for (Index k0 = 0; k0 < depth_; k0 += depth_slice)
            for (Index q = 0; q < blocks; ++q) tile(panel, p, q, k0, std::min(depth_, k0 + depth_slice));
        }
      });
      return;
    }
    if (streaming) {  // too few panels to share among the threads: packed whole first, the tiles shared
      grow(data_, panels_ * panel_rows * depth_);
      elm::detail::parallel_chunks(panels_, 1, [&](Index, Index p, Index) {
        Scalar* panel = data_.data() + p * panel_rows * depth_;
        pack_streamed(streamed, source, p, panel);
        if (a_row_sums) add_panel_row_sums(panel, p, a_row_sums);
      });
    }
    // Tiles in panel-major order, so a thread's tiles share panels (which stay in its L2 cache).
    const Index tiles_per_chunk = std::max<Index>(1, (Index(1) << 18) / tile_work);
    elm::detail::parallel_chunks(panels_ * blocks, tiles_per_chunk, [&](Index, Index first, Index last) {
      for (Index t = first; t < last; ++t) {
        const Index p = t / blocks;
        tile(data_.data() + p * panel_rows * depth_, p, t % blocks, 0, depth_);
      }
    });
  }

 private:
  // Packs panel p of the streamed A, a view or a source, into dst (see pack_panel).
  void pack_streamed(const View* view, const PanelSource<Scalar>* source, Index p, Scalar* dst) const {
    if (view) {
      pack_panel(*view, p, dst);
      return;
    }
    const Index r0 = p * panel_rows, count = std::min(panel_rows, rows_ - r0);
    source->pack(source->context, r0, count, depth_, panel_rows, dst);
    if (count < panel_rows)
      for (Index k = 0; k < depth_; ++k)
        for (Index i = count; i < panel_rows; ++i) dst[k * panel_rows + i] = Scalar(0);
  }

  // Packs panel p of a into dst (panel_rows * depth scalars), k-major, zero-padded at the bottom. Reads follow
  // a's storage order (a row-major a, e.g. a transpose, is read row by row), so that every cache line read
  // is used whole.
  void pack_panel(const View& a, Index p, Scalar* dst) const {
    const Index r0 = p * panel_rows, count = std::min(panel_rows, rows_ - r0);
    if (a.row_stride == 1) {
      // A column-major a: each column's piece is a few cache lines, a page or more from the last, a stride the
      // hardware prefetchers do not follow across pages: prefetched pack_prefetch_columns columns ahead.
      constexpr Index line_scalars = 64 / Index(sizeof(Scalar));
      const Index stride = a.col_stride;
      const Scalar* col = a.data + r0;
      for (Index k = 0; k < depth_; ++k, dst += panel_rows, col += stride) {
        if (k + pack_prefetch_columns < depth_)
          for (Index i = 0; i < count; i += line_scalars)
            Eigen::internal::prefetch(col + pack_prefetch_columns * stride + i);
        if (count == panel_rows) {
          // a whole panel's piece copied by packets: the plain loop below becomes a call of memmove for a few
          // cache lines, which took 8 % of a one-thread MiniLM forward
          ELM_UNROLL
          for (Index i = 0; i < panel_rows; i += packet_size) Ops::storeu(dst + i, Ops::loadu(col + i));
          continue;
        }
        for (Index i = 0; i < count; ++i) dst[i] = col[i];
        for (Index i = count; i < panel_rows; ++i) dst[i] = Scalar(0);
      }
      return;
    }
    if (a.col_stride == 1) {
      // A row-major a with contiguous rows (a transposed weight, im2col's matrix transposed): the panel's rows
      // are one contiguous stretch of memory, read row by row (a stream the prefetchers follow; reading all
      // rows in step, k outer, is panel_rows streams at once, and waits on memory for most loads). Depth is
      // taken in slices so that the panel's lines being written (3 x 128 of them) stay in L1.
      constexpr Index pack_slice = 128;
      for (Index k0 = 0; k0 < depth_; k0 += pack_slice) {
        const Index k1 = std::min(depth_, k0 + pack_slice);
        for (Index i = 0; i < count; ++i) {
          const Scalar* src = a.data + (r0 + i) * a.row_stride;
          Scalar* d = dst + i;
          for (Index k = k0; k < k1; ++k) d[k * panel_rows] = src[k];
        }
      }
      if (count < panel_rows)
        for (Index k = 0; k < depth_; ++k)
          for (Index i = count; i < panel_rows; ++i) dst[k * panel_rows + i] = Scalar(0);
      return;
    }
    // any other strides: k outer, the writes sequential
    for (Index k = 0; k < depth_; ++k, dst += panel_rows) {
      const Scalar* src = a.data + r0 * a.row_stride + k * a.col_stride;
      for (Index i = 0; i < count; ++i) dst[i] = src[i * a.row_stride];
      for (Index i = count; i < panel_rows; ++i) dst[i] = Scalar(0);
    }
  }

  // Packs b's columns [first_col, n) into blocks from packed_rhs_'s start: k-major blocks of block_cols columns
  // (zero-padded), one broadcast per entry. For a row-major b (a transpose) each read is block_cols contiguous
  // scalars; for a column-major b, block_cols streams. Blocks on OpenMP threads when b is large (a (G H, B T)
  // gradient is 16 MB): chunks of 128K scalars, so a step's (G H, B) stays on one thread.
  void pack_rhs(const View& b, Index n_all, Index first_col) {
    const Index n = n_all - first_col;
    const Index blocks = (n + block_cols - 1) / block_cols;
    grow(packed_rhs_, blocks * block_cols * depth_);
    const Index block_size = std::max<Index>(1, block_cols * depth_);
    const Index blocks_per_chunk = std::max<Index>(1, 4 * elm::detail::parallel_grain / block_size);
    const bool row_major = b.col_stride == 1 && b.row_stride != 1;
    elm::detail::parallel_chunks(blocks, blocks_per_chunk, [&](Index, Index first, Index last) {
      // A row-major b is read 64 rows at a time across all the chunk's blocks: a cache line of a row holds
      // two blocks' entries, read once instead of once per block.
      const Index rows_per_pass = row_major ? 64 : std::max<Index>(1, depth_);
      for (Index k0 = 0; k0 < depth_; k0 += rows_per_pass) {
        const Index k1 = std::min(depth_, k0 + rows_per_pass);
        for (Index q = first; q < last; ++q) {
          Scalar* dst = packed_rhs_.data() + q * block_cols * depth_ + k0 * block_cols;
          const Index c0 = first_col + q * block_cols, count = std::min<Index>(block_cols, n_all - c0);
          const Scalar* src = b.data + c0 * b.col_stride;
          if (count == block_cols) {  // a whole block: a fixed-length inner loop, unrolled
            for (Index k = k0; k < k1; ++k, dst += block_cols) {
              ELM_UNROLL
              for (Index j = 0; j < block_cols; ++j) dst[j] = src[k * b.row_stride + j * b.col_stride];
            }
            continue;
          }
          for (Index k = k0; k < k1; ++k, dst += block_cols) {
            for (Index j = 0; j < count; ++j) dst[j] = src[k * b.row_stride + j * b.col_stride];
            for (Index j = count; j < block_cols; ++j) dst[j] = Scalar(0);
          }
        }
      }
    });
  }

  // Adds the row sums of panel p (packed at panel) into row_sums, summed in column order as elm::row_sums.
  void add_panel_row_sums(const Scalar* panel, Index p, Scalar* row_sums) const {
    Packet sums[panel_packets];
    for (int i = 0; i < panel_packets; ++i) sums[i] = Ops::set1(Scalar(0));
    for (Index k = 0; k < depth_; ++k, panel += panel_rows)
      for (int i = 0; i < panel_packets; ++i) sums[i] = Ops::add(sums[i], Ops::load(panel + i * packet_size));
    alignas(64) Scalar row_sum[panel_rows];
    for (int i = 0; i < panel_packets; ++i) Ops::store(row_sum + i * packet_size, sums[i]);
    const Index r0 = p * panel_rows, count = std::min(panel_rows, rows_ - r0);
    for (Index i = 0; i < count; ++i) row_sums[r0 + i] += row_sum[i];
  }

  // One tile, its right side read in place or from packed_rhs_.
  template <int Packets>
  void tile_with(const Scalar* panel, Index p, Index q, Index n, const Rhs& rhs, const Output& out, bool accumulate,
                 Index k0, Index k1) const {
    if (q < rhs.direct_blocks)
      panel_block<true, Packets>(panel + k0 * panel_rows, p, q, rhs.data + q * block_cols * rhs.col_stride + k0,
                                 rhs.col_stride, k1 - k0, n, out, accumulate);
    else
      panel_block<false, Packets>(panel + k0 * panel_rows, p, q,
                                  packed_rhs_.data() + (q - rhs.direct_blocks) * block_cols * depth_ + k0 * block_cols,
                                  1, k1 - k0, n, out, accumulate);
  }

  // out(panel p's rows, block q's columns) = panel p (packed at a) times block q, whose entry (k, j) is at
  // b + k block_cols + j when packed, b + k + j col_stride when read in place (Direct).
  // Packets: how many of the panel's three packets of rows hold rows of A (fewer only in the last panel, where
  // the rest is padding, whose work is skipped).
  // depth: of this tile's slice (a and b point at its start).
  template <bool Direct, int Packets>
  void panel_block(const Scalar* a, Index p, Index q, const Scalar* b, Index col_stride, Index depth, Index n,
                   const Output& out, bool accumulate) const {
    constexpr Index k_step = Direct ? 1 : block_cols;
    const Index j_step = Direct ? col_stride : 1;
    TileAccumulators<Scalar, Packets> acc;
    accumulate_tile<Scalar, Packets, false>(a, panel_rows, b, k_step, j_step, depth, acc);
    const Index r0 = p * panel_rows, c0 = q * block_cols;
    write_tile<Scalar, Packets>(acc, r0, c0, rows_ - r0, std::min<Index>(block_cols, n - c0), out, accumulate);
  }

  // Aligned for aligned loads, on huge pages when large (see huge_page_allocator.hpp). A buffer only grows:
  // one kernel object reused for operands of several sizes (the layers of a network, a Linear's three
  // products) allocates only for the largest, and does not zero again, on every call, the part a smaller
  // operand left unused.
  using Buffer = std::vector<Scalar, elm::detail::HugePageAllocator<Scalar>>;
  static void grow(Buffer& buffer, Index size) {
    if (buffer.size() < to_size(size)) buffer.resize(to_size(size));
  }
  Index rows_ = 0, depth_ = 0, panels_ = 0;
  Buffer data_;                       // the packed A (pack, or a streamed A packed whole)
  Buffer packed_rhs_;                 // the packed part of the right side
  std::vector<Buffer> thread_panels_;  // a streamed A's current panel, one buffer per thread
};
