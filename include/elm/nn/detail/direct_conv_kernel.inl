// SPDX-License-Identifier: MIT
// The convolution's direct kernels, written once over the vector operations Simd<Scalar> of the namespace it is
// included in: direct_conv.hpp includes this file once for AVX2 and once for AVX-512, each time inside that
// instruction set's namespace and a region compiled for it.
// No include guard and no includes of its own, on purpose: direct_conv.hpp includes what it uses first.
//
// Both kernels keep the channels as the vector dimension, as the library's images lay them out (a pixel's
// channels contiguous), and read the operand that moves with the window's taps in place, a broadcast scalar at a
// time, through a table of column pointers: nothing is packed or transposed.

/// The register tiles: up to max_row_packets packets of rows (channels) by `pixels` columns of the output for the
/// products over the taps, by `weight_columns` (input channels of one tap) for the weight gradient: 4 x 6
/// accumulators with 32 vector registers, 2 x 6 with 16, leaving registers for the loaded packets and a broadcast.
template <typename Scalar>
struct DirectConvTile {
  using Ops = Simd<Scalar>;
  using Packet = typename Ops::Packet;
  static constexpr Index packet_size = Ops::size;
  static constexpr int max_row_packets = Ops::registers >= 32 ? 4 : 2;
  static constexpr int pixels = 6;
  static constexpr int weight_columns = 6;
  /// Pixels whose column pointers are gathered at a time (a multiple of `pixels`): their tables stay in L1.
  static constexpr Index chunk_pixels = 16 * pixels;
};

/// Calls f(std::integral_constant<int, P>) for P = packets, at most max_row_packets (the tile's rows as the
/// compile-time constant the kernels are instantiated with).
template <typename Scalar, typename F>
void with_row_packets(Index packets, F&& f) {
  constexpr int max_packets = DirectConvTile<Scalar>::max_row_packets;
  static_assert(max_packets == 2 || max_packets == 4, "the dispatch below covers 2 or 4 packets at most");
  if constexpr (max_packets == 4) {
    if (packets >= 4) return f(std::integral_constant<int, 4>{});
    if (packets == 3) return f(std::integral_constant<int, 3>{});
  }
  if (packets >= 2) return f(std::integral_constant<int, 2>{});
  f(std::integral_constant<int, 1>{});
}

/// One tile of the product over the taps: for the tile's `pixels` output columns (out[j], RowPackets packets of
/// rows each), out[j] = init + sum over taps t and depth c of w[(t * depth + c) * w_stride + (packet rows)] *
/// src[t * src_stride + j][c], where init is out[j] itself (accumulate), the bias, or zero.
template <typename Scalar, int RowPackets>
void direct_conv_tile(const Scalar* w, Index w_stride, Index taps, Index depth, const Scalar* const* src,
                      Index src_stride, const Scalar* zeros, Scalar* const* out, const Scalar* bias,
                      bool accumulate) {
  using Tile = DirectConvTile<Scalar>;
  using Ops = typename Tile::Ops;
  using Packet = typename Tile::Packet;
  constexpr int P = Tile::pixels;
  constexpr Index size = Tile::packet_size;
  Packet acc[RowPackets][P];
  ELM_UNROLL
  for (int j = 0; j < P; ++j) {
    ELM_UNROLL
    for (int i = 0; i < RowPackets; ++i)
      acc[i][j] = accumulate ? Ops::loadu(out[j] + i * size) : bias ? Ops::loadu(bias + i * size) : Ops::set1(0);
  }
  for (Index t = 0; t < taps; ++t, src += src_stride) {
    const Scalar* s[P];
    bool padding = true;  // a tap over the zero padding for every pixel of the tile (an image's edge) adds nothing
    ELM_UNROLL
    for (int j = 0; j < P; ++j) {
      s[j] = src[j];
      padding = padding && s[j] == zeros;
    }
    if (padding) continue;
    const Scalar* wk = w + t * depth * w_stride;
    ELM_UNROLL_4
    for (Index c = 0; c < depth; ++c, wk += w_stride) {
      Packet wp[RowPackets];
      ELM_UNROLL
      for (int i = 0; i < RowPackets; ++i) wp[i] = Ops::load(wk + i * size);
      ELM_UNROLL
      for (int j = 0; j < P; ++j) {
        const Packet b = Ops::set1(s[j][c]);
        ELM_UNROLL
        for (int i = 0; i < RowPackets; ++i) acc[i][j] = Ops::madd(wp[i], b, acc[i][j]);
      }
    }
  }
  ELM_UNROLL
  for (int j = 0; j < P; ++j) {
    ELM_UNROLL
    for (int i = 0; i < RowPackets; ++i) Ops::storeu(out[j] + i * size, acc[i][j]);
  }
}

/// One tile of the weight gradient: for Columns input channels c0 + j of one tap and RowPackets packets of rows,
/// dw[j * dw_stride + (packet rows)] += sum over pixels p < count of a[p * a_stride + (packet rows)] *
/// src[p][c0 + j].
template <typename Scalar, int RowPackets, int Columns>
void direct_conv_weight_tile(const Scalar* a, Index a_stride, const Scalar* const* src, Index count, Index c0,
                             Scalar* dw, Index dw_stride) {
  using Tile = DirectConvTile<Scalar>;
  using Ops = typename Tile::Ops;
  using Packet = typename Tile::Packet;
  constexpr Index size = Tile::packet_size;
  Packet acc[RowPackets][Columns];
  ELM_UNROLL
  for (int j = 0; j < Columns; ++j) {
    ELM_UNROLL
    for (int i = 0; i < RowPackets; ++i) acc[i][j] = Ops::loadu(dw + j * dw_stride + i * size);
  }
  ELM_UNROLL_4
  for (Index p = 0; p < count; ++p, a += a_stride) {
    Packet ap[RowPackets];
    ELM_UNROLL
    for (int i = 0; i < RowPackets; ++i) ap[i] = Ops::loadu(a + i * size);
    const Scalar* s = src[p] + c0;
    ELM_UNROLL
    for (int j = 0; j < Columns; ++j) {
      const Packet b = Ops::set1(s[j]);
      ELM_UNROLL
      for (int i = 0; i < RowPackets; ++i) acc[i][j] = Ops::madd(ap[i], b, acc[i][j]);
    }
  }
  ELM_UNROLL
  for (int j = 0; j < Columns; ++j) {
    ELM_UNROLL
    for (int i = 0; i < RowPackets; ++i) Ops::storeu(dw + j * dw_stride + i * size, acc[i][j]);
  }
}

/// The kernels of this instruction set, as static members (see direct_conv.hpp for what they compute).
struct DirectConvKernels {
  using Tile = DirectConvTile<float>;
  static constexpr Index packet_size = Tile::packet_size;

  static void product(const DirectConvProduct<float>& job) {
    constexpr Index P = Tile::pixels;
    const Index taps = job.taps, row_step = Tile::max_row_packets * packet_size;
    // chunks of up to chunk_pixels, at least 8 a thread where the pixels allow (a small batch's 11 chunks on 2
    // threads left one idle a twelfth of the time); each output column is one tile's, so the chunks change nothing
    // in the sums
    const Index per_thread = elm::detail::chunk_count(job.columns, 8 * elm::detail::max_threads());
    const Index chunk = std::clamp<Index>(elm::detail::chunk_count(per_thread, P) * P, P, Tile::chunk_pixels);
    const Index chunks = elm::detail::chunk_count(job.columns, chunk);
    elm::detail::parallel_chunks(chunks, 1, [&](Index, Index first, Index) {
      const Index p0 = first * chunk, count = std::min(chunk, job.columns - p0);
      const float* table[Tile::chunk_pixels * 16];  // [tap][pixel]
      const float** columns = table;
      std::vector<const float*> large;
      if (taps > 16) {
        large.resize(to_size(taps * chunk));
        columns = large.data();
      }
      job.sources.gather(job.sources.context, p0, count, job.zeros, columns, chunk);
      for (Index t = 0; t < taps; ++t)  // the tail of the last tile reads zeros
        for (Index i = count; i < elm::detail::chunk_count(count, P) * P; ++i) columns[t * chunk + i] = job.zeros;
      float discard[Tile::max_row_packets * Tile::packet_size];
      for (Index j0 = 0; j0 < count; j0 += P) {
        float* out[P];
        for (Index j = 0; j < P; ++j) out[j] = j0 + j < count ? job.out + (p0 + j0 + j) * job.out_stride : discard;
        for (Index r0 = 0; r0 < job.rows; r0 += row_step) {
          float* tile_out[P];
          for (Index j = 0; j < P; ++j) tile_out[j] = out[j] == discard ? discard : out[j] + r0;
          with_row_packets<float>((job.rows - r0) / packet_size, [&](auto packets) {
            direct_conv_tile<float, decltype(packets)::value>(job.w + r0, job.w_stride, taps, job.depth,
                                                              columns + j0, chunk, job.zeros, tile_out,
                                                              job.bias ? job.bias + r0 : nullptr, job.accumulate);
          });
        }
      }
    });
  }

  static void weight_product(const DirectConvWeightProduct<float>& job) {
    constexpr Index block = Tile::chunk_pixels, C = Tile::weight_columns;
    const Index taps = job.taps, depth = job.depth, row_step = Tile::max_row_packets * packet_size;
    eigen_assert(job.rows % packet_size == 0);
    const Index blocks = elm::detail::chunk_count(job.columns, block);
    // pixel blocks in chunks, each summed into its own partial gradient, the partials added in chunk order: the
    // chunks depend on the pixel count alone (16 of them where blocks allow, up to 4096 pixels each), so the sums
    // are the same on any number of threads, and the threads get even shares (9 chunks on 2 threads left one idle
    // a ninth of the time)
    const Index blocks_per_chunk =
        std::clamp<Index>((blocks + 15) / 16, 1, std::max<Index>(1, direct_conv_weight_chunk_pixels / block));
    const Index chunks = elm::detail::chunk_count(blocks, blocks_per_chunk);
    const Index grad_size = taps * depth * job.dw_stride;
    std::vector<float> partials(chunks > 1 ? to_size(chunks * grad_size) : 0, 0.0f);
    elm::detail::parallel_chunks(blocks, blocks_per_chunk, [&](Index c, Index first, Index last) {
      float* dw = chunks > 1 ? partials.data() + c * grad_size : job.dw;
      std::vector<const float*> columns(to_size(taps * block));
      for (Index b = first; b < last; ++b) {
        const Index p0 = b * block, count = std::min(block, job.columns - p0);
        job.sources.gather(job.sources.context, p0, count, job.zeros, columns.data(), block);
        const float* a = job.a + p0 * job.a_stride;
        for (Index t = 0; t < taps; ++t) {
          const float* const* src = columns.data() + t * block;
          // tiles of 6 input channels, then of 2, then of 1 for what is left
          for (Index c0 = 0; c0 < depth;) {
            const Index left = depth - c0, width = left >= C ? C : left >= 2 ? 2 : 1;
            float* dw_tile = dw + (t * depth + c0) * job.dw_stride;
            for (Index r0 = 0; r0 < job.rows; r0 += row_step)
              with_row_packets<float>((job.rows - r0) / packet_size, [&](auto packets) {
                constexpr int R = decltype(packets)::value;
                const auto tile = width == C   ? &direct_conv_weight_tile<float, R, int(C)>
                                  : width == 2 ? &direct_conv_weight_tile<float, R, 2>
                                               : &direct_conv_weight_tile<float, R, 1>;
                tile(a + r0, job.a_stride, src, count, c0, dw_tile + r0, job.dw_stride);
              });
            c0 += width;
          }
        }
      }
    });
    // each gradient element the sum of its partials in chunk order, the elements shared among the threads
    if (chunks > 1)
      elm::detail::parallel_chunks(grad_size, elm::detail::parallel_grain, [&](Index, Index i0, Index i1) {
        for (Index c = 0; c < chunks; ++c) {
          const float* partial = partials.data() + c * grad_size;
          for (Index i = i0; i < i1; ++i) job.dw[i] += partial[i];
        }
      });
  }
};
