// SPDX-License-Identifier: MIT
// Matrix-vector products of a weight stored in bf16 or int8 (Q8_0) with a few float columns, written once over
// the vector operations Simd<float> of the namespace it is included in: quantized_kernels.hpp includes this file
// once per instruction set compiled apart from the program's flags (avx2, avx512), inside that instruction set's
// namespace and target region. No include guard and no includes of its own, on purpose.
//
// Each weight is widened to float as it is loaded (bf16: its 16 bits shifted into a float's upper half; int8:
// converted, its block's products scaled once) and multiplied with the float activations: the product is the
// float product with the dequantized matrix, up to the order of the additions. Decoding is bound by reading the
// weights: the tiles' layout (quantized_kernels.hpp) makes a pass over a tile's 16 rows one sequential stream.

/// The kernels, as static members so that the instruction set's namespace can be passed as a type.
struct QuantizedKernels {
  using Ops = Simd<float>;
  using Packet = typename Ops::Packet;
  static constexpr Index packet = Ops::size;
  static constexpr int per_block = int(q8_block / packet);
  static_assert(q8_block % packet == 0, "a packet of weights must not straddle two blocks");

  /// Rows [r0, r1) of y = A x (+ bias) for the weight rows w (A (m, depth)); x (depth, n), element (k, j) at
  /// x[k + j ldx]; y holds rows [first, ...) of the product, element (r, j) at y[r - first + j ldy], bias
  /// likewise (or null); 1 <= n <= max_quantized_columns.
  template <typename Rows>
  static void rows(const Rows& w, Index depth, const float* x, Index ldx, float* y, Index ldy, Index n, Index r0,
                   Index r1, Index first, const float* bias) {
    switch (n) {
      case 1: rows_n<1>(w, depth, x, ldx, y, ldy, r0, r1, first, bias); break;
      case 2: rows_n<2>(w, depth, x, ldx, y, ldy, r0, r1, first, bias); break;
      case 3: rows_n<3>(w, depth, x, ldx, y, ldy, r0, r1, first, bias); break;
      default: rows_n<4>(w, depth, x, ldx, y, ldy, r0, r1, first, bias); break;
    }
  }

  /// Rows read together: R N accumulators and N columns of x per packet of a block in the vector registers; a
  /// divisor of the tile's 16 rows. Decoding's one column reads a whole tile's 16 rows where 32 registers hold
  /// them: one sequential stream.
  template <int N>
  static constexpr int rows_per_pass() {
    if (Ops::registers >= 32) return N == 1 ? 16 : (N == 2 ? 8 : 4);
    return N == 1 ? 8 : (N == 2 ? 4 : 2);
  }

  template <int N, typename Rows>
  static void rows_n(const Rows& w, Index depth, const float* x, Index ldx, float* y, Index ldy, Index r0, Index r1,
                     Index first, const float* bias) {
    constexpr int R = rows_per_pass<N>();
    Index r = r0;
    for (; r < r1 && r % R != 0; ++r) dot_rows<N, 1>(w, depth, x, ldx, y, ldy, r, first, bias);
    for (; r + R <= r1; r += R) dot_rows<N, R>(w, depth, x, ldx, y, ldy, r, first, bias);
    for (; r < r1; ++r) dot_rows<N, 1>(w, depth, x, ldx, y, ldy, r, first, bias);
  }

  /// y[r + i, j] = dot(row r + i of A, column j of x) (+ bias) for i < R, j < N (rows r .. r + R - 1 in one
  /// tile): 1) whole blocks, each weight loaded once for the N columns (int8: a block's products summed, then
  /// scaled once), 2) the lanes summed, 3) the last depth % 32 columns one by one.
  /// Prefetches the lines of the R rows' block 4 KB past element `at`: the hardware prefetcher alone left one
  /// core well below its sequential read rate (int8 8 GB/s of 14; a prefetch past the end does not fault).
  template <int R, typename Rows>
  static EIGEN_ALWAYS_INLINE void prefetch_ahead(const Rows& w, Index at) {
    const char* ahead;
    std::size_t bytes;
    if constexpr (std::is_same_v<Rows, Q8Rows>) {
      ahead = reinterpret_cast<const char*>(w.q + at) + 4096;
      bytes = R * q8_block;
    } else {
      ahead = reinterpret_cast<const char*>(w.data + at) + 4096;
      bytes = R * q8_block * 2;
    }
    for (std::size_t line = 0; line < bytes; line += 64) __builtin_prefetch(ahead + line);
  }

  template <int N, int R, typename Rows>
  static EIGEN_ALWAYS_INLINE void dot_rows(const Rows& w, Index depth, const float* x, Index ldx, float* y,
                                           Index ldy, Index r, Index first, const float* bias) {
    Packet acc[R][N];
    ELM_UNROLL
    for (int i = 0; i < R; ++i) {
      ELM_UNROLL
      for (int j = 0; j < N; ++j) acc[i][j] = Ops::set1(0.0f);
    }
    const Index full = depth / q8_block;  // whole blocks
    const Index row0 = tile_offset(w, r, 0);  // element offset of (r, 0); row r + i's at + i q8_block
    for (Index b = 0; b < full; ++b) {
      const Index k = b * q8_block;
      const Index at = row0 + b * tile_rows * q8_block;  // block b of row r: the tile's rows follow it
      prefetch_ahead<R>(w, at);
      Packet xs[per_block][N];
      ELM_UNROLL
      for (int p = 0; p < per_block; ++p) {
        ELM_UNROLL
        for (int j = 0; j < N; ++j) xs[p][j] = Ops::loadu(x + j * ldx + k + p * packet);
      }
      ELM_UNROLL
      for (int i = 0; i < R; ++i) {
        const Index e = at + i * q8_block;
        if constexpr (std::is_same_v<Rows, Q8Rows>) {
          Packet t[N];
          const Packet a0 = Ops::load_int8(w.q + e);
          ELM_UNROLL
          for (int j = 0; j < N; ++j) t[j] = Ops::mul(a0, xs[0][j]);
          ELM_UNROLL
          for (int p = 1; p < per_block; ++p) {
            const Packet a = Ops::load_int8(w.q + e + p * packet);
            ELM_UNROLL
            for (int j = 0; j < N; ++j) t[j] = Ops::madd(a, xs[p][j], t[j]);
          }
          const Packet d = Ops::set1(w.scales[e / q8_block]);
          ELM_UNROLL
          for (int j = 0; j < N; ++j) acc[i][j] = Ops::madd(d, t[j], acc[i][j]);
        } else {
          ELM_UNROLL
          for (int p = 0; p < per_block; ++p) {
            const Packet a = Ops::load_bf16(w.data + e + p * packet);
            ELM_UNROLL
            for (int j = 0; j < N; ++j) acc[i][j] = Ops::madd(a, xs[p][j], acc[i][j]);
          }
        }
      }
    }
    // four accumulators' lanes summed at a time (one at a time goes through memory, as long as a row's loads)
    float sums[R * N];
    int a = 0;
    for (; a + 4 <= R * N; a += 4)
      Ops::sum4(acc[a / N][a % N], acc[(a + 1) / N][(a + 1) % N], acc[(a + 2) / N][(a + 2) % N],
                acc[(a + 3) / N][(a + 3) % N], sums + a);
    for (; a < R * N; ++a) sums[a] = Ops::sum(acc[a / N][a % N]);
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < N; ++j) {
        float s = sums[i * N + j];
        for (Index k = full * q8_block; k < depth; ++k) s += element(w, r + i, k) * x[j * ldx + k];
        y[j * ldy + r + i - first] = s + (bias ? bias[r + i - first] : 0.0f);
      }
  }
};
