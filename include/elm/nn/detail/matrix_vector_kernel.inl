// SPDX-License-Identifier: MIT
// Products of a matrix read in place with a few columns (one token's activation, a few sequences decoded in
// step), in float, written once over the vector operations Simd<float> of the namespace it is included in:
// vector_kernels.hpp includes this file, beside vector_kernel.inl, once per instruction set compiled apart from
// the program's flags (avx2, avx512), inside that instruction set's namespace and target region; matrix_vector.hpp
// calls it. No include guard and no includes of its own, on purpose.
//
// Such a product reads every element of the matrix once and does two flops with it: it is bound by memory
// bandwidth, and what matters is reading the matrix in long sequential streams, once whatever the number of
// columns, on every thread.

/// The kernels, as static members so that the instruction set's namespace can be passed as a type.
struct MatrixVectorKernels {
  using Ops = Simd<float>;
  using Packet = typename Ops::Packet;
  static constexpr Index packet = Ops::size;
  /// Columns of x served together (each of the matrix's elements is loaded once for all of them).
  static constexpr Index max_columns = 4;

  /// Rows [r0, r1) of y = A x (+ bias) for column-major A (m, depth), element (r, k) at a[r + k lda]; x (depth,
  /// n), element (k, j) at x[k + j ldx]; y (m, n) likewise with ldy; 1 <= n <= max_columns; bias (m floats) or
  /// null. A's columns are read four at a time, each a sequential stream over the rows, into y's rows held in L1.
  static void column_major_rows(const float* a, Index lda, Index depth, const float* x, Index ldx, float* y,
                                Index ldy, Index n, Index r0, Index r1, const float* bias) {
    switch (n) {
      case 1: column_major_rows_n<1>(a, lda, depth, x, ldx, y, ldy, r0, r1, bias); break;
      case 2: column_major_rows_n<2>(a, lda, depth, x, ldx, y, ldy, r0, r1, bias); break;
      case 3: column_major_rows_n<3>(a, lda, depth, x, ldx, y, ldy, r0, r1, bias); break;
      default: column_major_rows_n<4>(a, lda, depth, x, ldx, y, ldy, r0, r1, bias); break;
    }
  }

  /// Columns of A read in one pass over a block of rows: as many streams as the registers hold broadcasts of x
  /// for (16 with 32 vector registers and one column of x). More concurrent streams keep more of the memory
  /// system's reads in flight. Measured on one core with a copy of these loops over GPT-2 small's matrices of a
  /// decoding step (2026-12-04, idle): 4 columns and 4 rows (transposed_rows) at a time 19 GB/s, 16 columns 22,
  /// 16 rows 22, both 26, a plain sequential read 31; `elm-gpt bench` decode 31-33 -> 25-28 ms/token.
  template <int N>
  static constexpr int columns_per_pass() {
    constexpr int broadcasts = Ops::registers >= 32 ? 16 : 8;
    return std::max(4, broadcasts / N / 4 * 4);
  }

  template <int N>
  static void column_major_rows_n(const float* a, Index lda, Index depth, const float* x, Index ldx, float* y,
                                  Index ldy, Index r0, Index r1, const float* bias) {
    // rows in blocks whose N columns of y stay in L1 (16 KB) while the depth loop adds into them
    constexpr Index block = std::max<Index>(packet, (4096 / N) / packet * packet);
    for (Index b0 = r0; b0 < r1; b0 += block) {
      const Index b1 = std::min(r1, b0 + block);
      for (int j = 0; j < N; ++j) {
        float* yj = y + j * ldy;
        for (Index r = b0; r < b1; ++r) yj[r] = bias ? bias[r] : 0.0f;
      }
      Index k = 0;
      constexpr int wide = columns_per_pass<N>();
      for (; k + wide <= depth; k += wide) add_columns<N, wide>(a + k * lda, lda, x + k, ldx, y, ldy, b0, b1);
      for (; k + 4 <= depth; k += 4) add_columns<N, 4>(a + k * lda, lda, x + k, ldx, y, ldy, b0, b1);
      for (; k < depth; ++k) add_columns<N, 1>(a + k * lda, lda, x + k, ldx, y, ldy, b0, b1);
    }
  }

  /// y[:, j] += A[:, k..k+K) x[k..k+K, j] over rows [b0, b1), for j < N; a points at column k, x at row k.
  template <int N, int K>
  static EIGEN_ALWAYS_INLINE void add_columns(const float* a, Index lda, const float* x, Index ldx, float* y,
                                              Index ldy, Index b0, Index b1) {
    Packet xs[N][K];
    ELM_UNROLL
    for (int j = 0; j < N; ++j) {
      ELM_UNROLL
      for (int c = 0; c < K; ++c) xs[j][c] = Ops::set1(x[j * ldx + c]);
    }
    Index r = b0;
    for (; r + packet <= b1; r += packet) {
      Packet ak[K];
      ELM_UNROLL
      for (int c = 0; c < K; ++c) ak[c] = Ops::loadu(a + c * lda + r);
      ELM_UNROLL
      for (int j = 0; j < N; ++j) {
        float* yj = y + j * ldy + r;
        Packet acc = Ops::loadu(yj);
        ELM_UNROLL
        for (int c = 0; c < K; ++c) acc = Ops::madd(ak[c], xs[j][c], acc);
        Ops::storeu(yj, acc);
      }
    }
    for (; r < b1; ++r)
      for (int j = 0; j < N; ++j) {
        float s = y[j * ldy + r];
        for (int c = 0; c < K; ++c) s += a[c * lda + r] * x[j * ldx + c];
        y[j * ldy + r] = s;
      }
  }

  /// Rows [r, r + R) of transposed_rows (R a multiple of 4): R contiguous streams of A against each column of x,
  /// each row's packet sums reduced four rows at a time.
  template <int R>
  static void rows_block(const float* a, Index lda, Index depth, const float* x, Index ldx, float* y, Index ldy,
                         Index n, Index r, const float* bias) {
    static_assert(R % 4 == 0, "rows_block reduces four rows at a time");
    const float* a0 = a + r * lda;
    for (Index j = 0; j < n; ++j) {
      const float* xj = x + j * ldx;
      Packet s[R];
      ELM_UNROLL
      for (int i = 0; i < R; ++i) s[i] = Ops::set1(0.0f);
      Index k = 0;
      for (; k + packet <= depth; k += packet) {
        const Packet xk = Ops::loadu(xj + k);
        ELM_UNROLL
        for (int i = 0; i < R; ++i) s[i] = Ops::madd(Ops::loadu(a0 + i * lda + k), xk, s[i]);
      }
      float out[R];
      for (int i = 0; i < R; i += 4) Ops::sum4(s[i], s[i + 1], s[i + 2], s[i + 3], out + i);
      for (; k < depth; ++k)
        for (int i = 0; i < R; ++i) out[i] += a0[i * lda + k] * xj[k];
      for (int i = 0; i < R; ++i) y[j * ldy + r + i] = out[i] + (bias ? bias[r + i] : 0.0f);
    }
  }

  /// Rows [r0, r1) of y = A x (+ bias) for A the transpose of a column-major (depth, m) matrix: y[r, j] =
  /// dot(a + r lda, x + j ldx) over depth floats (a PyTorch Linear's weight, a tied head's token table). Several
  /// rows of A at a time, each a contiguous stream, against every column of x (kept in L1).
  static void transposed_rows(const float* a, Index lda, Index depth, const float* x, Index ldx, float* y,
                              Index ldy, Index n, Index r0, Index r1, const float* bias) {
    Index r = r0;
    // rows_per_pass rows at a time (16 with 32 vector registers), for the same reason as columns_per_pass (a tied
    // head's 50257 rows are a third of GPT-2 small's weights); then 4, then one
    constexpr int rows_per_pass = Ops::registers >= 32 ? 16 : 8;
    for (; r + rows_per_pass <= r1; r += rows_per_pass)
      rows_block<rows_per_pass>(a, lda, depth, x, ldx, y, ldy, n, r, bias);
    for (; r + 4 <= r1; r += 4) rows_block<4>(a, lda, depth, x, ldx, y, ldy, n, r, bias);
    for (; r < r1; ++r) {
      const float* ar = a + r * lda;
      for (Index j = 0; j < n; ++j) {
        const float* xj = x + j * ldx;
        Packet s = Ops::set1(0.0f);
        Index k = 0;
        for (; k + packet <= depth; k += packet) s = Ops::madd(Ops::loadu(ar + k), Ops::loadu(xj + k), s);
        float total = Ops::sum(s);
        for (; k < depth; ++k) total += ar[k] * xj[k];
        y[j * ldy + r] = total + (bias ? bias[r] : 0.0f);
      }
    }
  }
};
