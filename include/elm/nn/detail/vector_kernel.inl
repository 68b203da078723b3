// SPDX-License-Identifier: MIT
// Element-wise kernels (the tanh and exact GELUs, LayerNorm, the LSTM cell and a softmax's exponentials, over one column) in
// float, written once over the vector operations Simd<float> of the namespace it is included in: vector_kernels.hpp
// includes this file once per instruction set compiled apart from the program's flags (avx2, avx512), each time
// inside that instruction set's namespace and target region. The program's own instruction set keeps Eigen's
// expressions (generic). No include guard and no includes of its own, on purpose.

/// The kernels, as static members so that the instruction set's namespace can be passed as a type.
struct VectorKernels {
  using Ops = Simd<float>;
  using Packet = typename Ops::Packet;

  /// exp(x) per lane: 2^n e^r with n = round(x log2 e) and r = x - n ln 2 (ln 2 in two parts, so that r is
  /// exact to float rounding), e^r from its Taylor series to degree 7 (|r| <= ln 2 / 2: truncation below
  /// 5e-9 relative). x is clamped to [-87.3, 88.3], where 2^n stays a normal float.
  static EIGEN_ALWAYS_INLINE Packet vector_exp(Packet x) {
    x = Ops::min(Ops::max(x, Ops::set1(-87.3f)), Ops::set1(88.3f));
    const auto n = Ops::round(Ops::mul(x, Ops::set1(1.44269504088896341f)));
    auto r = Ops::madd(n, Ops::set1(-0.693359375f), x);  // ln 2's first 10 bits: n times it is exact
    r = Ops::madd(n, Ops::set1(2.12194440e-4f), r);      // ln 2 - 0.693359375
    auto p = Ops::set1(1.0f / 5040);
    for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = Ops::madd(p, r, Ops::set1(c));
    return Ops::scale2(p, n);
  }

  /// tanh(x) per lane as 1 - 2 / (e^(2x) + 1): exact at 0 and at the saturated ends, absolute error about 1e-7
  /// (relative error grows near 0, where callers such as GELU add it to 1).
  static EIGEN_ALWAYS_INLINE Packet vector_tanh(Packet x) {
    const auto e = vector_exp(Ops::add(x, x));
    return Ops::sub(Ops::set1(1.0f), Ops::div(Ops::set1(2.0f), Ops::add(e, Ops::set1(1.0f))));
  }

  /// The logistic function per lane, 1 / (1 + e^-x) (exact to a few ulps; 0 and 1 at the far ends).
  static EIGEN_ALWAYS_INLINE Packet vector_sigmoid(Packet x) {
    const auto one = Ops::set1(1.0f);
    return Ops::div(one, Ops::add(one, vector_exp(Ops::sub(Ops::set1(0.0f), x))));
  }

  /// erf(x) per lane: Eigen 3.4's rational approximation of float erf (generic_fast_erf_float: x clamped to
  /// [-4, 4], an odd polynomial of degree 13 over an even one of degree 8), the same operations as the Eigen
  /// expression of the program's own instruction set, on wider vectors.
  static EIGEN_ALWAYS_INLINE Packet vector_erf(Packet a) {
    const auto x = Ops::min(Ops::max(a, Ops::set1(-4.0f)), Ops::set1(4.0f));
    const auto x2 = Ops::mul(x, x);
    auto p = Ops::madd(x2, Ops::set1(-2.72614225801306e-10f), Ops::set1(2.77068142495902e-08f));
    for (float c : {-2.10102402082508e-06f, -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                    -1.60960333262415e-02f})
      p = Ops::madd(x2, p, Ops::set1(c));
    p = Ops::mul(x, p);
    auto q = Ops::madd(x2, Ops::set1(-1.45660718464996e-05f), Ops::set1(-2.13374055278905e-04f));
    for (float c : {-1.68282697438203e-03f, -7.37332916720468e-03f, -1.42647390514189e-02f})
      q = Ops::madd(x2, q, Ops::set1(c));
    return Ops::div(p, q);
  }

  /// Calls f(packet offset) over the whole packets of [0, n) and f_tail(i) over the rest.
  template <typename F, typename FTail>
  static EIGEN_ALWAYS_INLINE void for_each_packet(Index n, F&& f, FTail&& f_tail) {
    constexpr Index size = Simd<float>::size;
    Index i = 0;
    for (; i + size <= n; i += size) f(i);
    for (; i < n; ++i) f_tail(i);
  }

  /// y = x (1 + tanh(k (x + c x^3))) / 2 over n floats (GPT-2's GELU).
  static void gelu_tanh_forward(const float* x, float* y, Index n, float k, float c) {
    for_each_packet(
        n,
        [&](Index i) {
          const auto a = Ops::loadu(x + i);
          const auto u = Ops::mul(Ops::set1(k), Ops::madd(Ops::mul(Ops::set1(c), a), Ops::mul(a, a), a));
          const auto half_a = Ops::mul(Ops::set1(0.5f), a);
          Ops::storeu(y + i, Ops::madd(half_a, vector_tanh(u), half_a));
        },
        [&](Index i) { y[i] = 0.5f * x[i] * (1.0f + std::tanh(k * (x[i] + c * x[i] * x[i] * x[i]))); });
  }

  /// dx = dy ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2), t = tanh(k (x + c x^3)), over n floats.
  static void gelu_tanh_backward(const float* x, const float* dy, float* dx, Index n, float k, float c) {
    const auto scalar = [&](Index i) {
      const float a = x[i], t = std::tanh(k * (a + c * a * a * a));
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * a * (1.0f - t * t) * k * (1.0f + 3.0f * c * a * a));
    };
    for_each_packet(
        n,
        [&](Index i) {
          const auto a = Ops::loadu(x + i);
          const auto a2 = Ops::mul(a, a);
          const auto t = vector_tanh(Ops::mul(Ops::set1(k), Ops::madd(Ops::mul(Ops::set1(c), a), a2, a)));
          const auto half = Ops::set1(0.5f), one = Ops::set1(1.0f);
          const auto dt = Ops::sub(one, Ops::mul(t, t));                          // 1 - t^2
          const auto du = Ops::mul(Ops::set1(k), Ops::madd(Ops::set1(3.0f * c), a2, one));  // k (1 + 3 c x^2)
          const auto d = Ops::madd(Ops::mul(half, a), Ops::mul(dt, du), Ops::mul(half, Ops::add(one, t)));
          Ops::storeu(dx + i, Ops::mul(Ops::loadu(dy + i), d));
        },
        scalar);
  }

  /// y = x (1 + erf(x / sqrt 2)) / 2 over n floats (BERT's exact GELU); the tail through scalar(i).
  template <typename Tail>
  static void gelu_erf_forward(const float* x, float* y, Index n, Tail&& scalar) {
    for_each_packet(
        n,
        [&](Index i) {
          const auto a = Ops::loadu(x + i);
          const auto half_a = Ops::mul(Ops::set1(0.5f), a);
          Ops::storeu(y + i, Ops::madd(half_a, vector_erf(Ops::mul(a, Ops::set1(0.70710678118654752f))), half_a));
        },
        scalar);
  }

  /// dx = dy (Phi(x) + x phi(x)) over n floats, Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = e^(-x^2 / 2) /
  /// sqrt(2 pi); the tail through scalar(i).
  template <typename Tail>
  static void gelu_erf_backward(const float* x, const float* dy, float* dx, Index n, Tail&& scalar) {
    for_each_packet(
        n,
        [&](Index i) {
          const auto a = Ops::loadu(x + i);
          const auto half = Ops::set1(0.5f);
          const auto cdf = Ops::madd(half, vector_erf(Ops::mul(a, Ops::set1(0.70710678118654752f))), half);
          const auto pdf =
              Ops::mul(Ops::set1(0.39894228040143268f), vector_exp(Ops::mul(Ops::set1(-0.5f), Ops::mul(a, a))));
          Ops::storeu(dx + i, Ops::mul(Ops::loadu(dy + i), Ops::madd(a, pdf, cdf)));
        },
        scalar);
  }

  /// y = exp(x - shift) over n floats, and returns their sum (a softmax column's numerators and denominator).
  /// Every x must be finite or +inf: vector_exp clamps its argument, so a -inf score would not give 0.
  static float exp_shifted(const float* x, float* y, Index n, float shift) {
    const auto m = Ops::set1(shift);
    auto acc = Ops::set1(0.0f);
    float tail = 0.0f;
    for_each_packet(
        n,
        [&](Index i) {
          const auto e = vector_exp(Ops::sub(Ops::loadu(x + i), m));
          Ops::storeu(y + i, e);
          acc = Ops::add(acc, e);
        },
        [&](Index i) {
          y[i] = std::exp(x[i] - shift);
          tail += y[i];
        });
    return Ops::sum(acc) + tail;
  }

  /// The sum of n floats, in packets (lane-wise partial sums, then the lanes, then the tail).
  static float vector_sum(const float* x, Index n) {
    auto acc = Ops::set1(0.0f);
    float tail = 0.0f;
    for_each_packet(n, [&](Index i) { acc = Ops::add(acc, Ops::loadu(x + i)); }, [&](Index i) { tail += x[i]; });
    return Ops::sum(acc) + tail;
  }

  /// One column of LayerNorm: hat = (x - mean) rstd, y = gamma hat + beta over C floats; returns rstd =
  /// 1 / sqrt(var + eps) (biased variance, taken about the mean in a second pass: stable for large means).
  static float layer_norm_forward_column(const float* x, const float* gamma, const float* beta, float* hat, float* y,
                                         Index c, float eps) {
    const float inv_c = 1.0f / static_cast<float>(c);
    const float mean = vector_sum(x, c) * inv_c;
    const auto m = Ops::set1(mean);
    auto acc = Ops::set1(0.0f);
    float tail = 0.0f;
    for_each_packet(
        c,
        [&](Index i) {
          const auto d = Ops::sub(Ops::loadu(x + i), m);
          acc = Ops::madd(d, d, acc);
        },
        [&](Index i) { tail += (x[i] - mean) * (x[i] - mean); });
    const float rstd = 1.0f / std::sqrt((Ops::sum(acc) + tail) * inv_c + eps);
    const auto r = Ops::set1(rstd);
    for_each_packet(
        c,
        [&](Index i) {
          const auto h = Ops::mul(Ops::sub(Ops::loadu(x + i), m), r);
          Ops::storeu(hat + i, h);
          Ops::storeu(y + i, Ops::madd(h, Ops::loadu(gamma + i), Ops::loadu(beta + i)));
        },
        [&](Index i) {
          hat[i] = (x[i] - mean) * rstd;
          y[i] = hat[i] * gamma[i] + beta[i];
        });
    return rstd;
  }

  /// One column of LayerNorm's backward: dx = rstd (g - mean(g) - hat mean(g hat)) with g = gamma dy; adds
  /// dy hat into dgamma and dy into dbeta (C floats each).
  static void layer_norm_backward_column(const float* hat, const float* dy, const float* gamma, float rstd, float* dx,
                                         float* dgamma, float* dbeta, Index c) {
    const float inv_c = 1.0f / static_cast<float>(c);
    auto sum_g = Ops::set1(0.0f), sum_gh = Ops::set1(0.0f);
    float tail_g = 0.0f, tail_gh = 0.0f;
    // 1) g into dx, its sums, and the parameter gradients
    for_each_packet(
        c,
        [&](Index i) {
          const auto d = Ops::loadu(dy + i), h = Ops::loadu(hat + i);
          Ops::storeu(dgamma + i, Ops::madd(d, h, Ops::loadu(dgamma + i)));
          Ops::storeu(dbeta + i, Ops::add(Ops::loadu(dbeta + i), d));
          const auto g = Ops::mul(d, Ops::loadu(gamma + i));
          Ops::storeu(dx + i, g);
          sum_g = Ops::add(sum_g, g);
          sum_gh = Ops::madd(g, h, sum_gh);
        },
        [&](Index i) {
          dgamma[i] += dy[i] * hat[i];
          dbeta[i] += dy[i];
          dx[i] = dy[i] * gamma[i];
          tail_g += dx[i];
          tail_gh += dx[i] * hat[i];
        });
    const float mean_g = (Ops::sum(sum_g) + tail_g) * inv_c, mean_gh = (Ops::sum(sum_gh) + tail_gh) * inv_c;
    // 2) dx = rstd (g - mean_g - hat mean_gh)
    const auto mg = Ops::set1(mean_g), mgh = Ops::set1(mean_gh), r = Ops::set1(rstd);
    for_each_packet(
        c,
        [&](Index i) {
          const auto centred = Ops::sub(Ops::sub(Ops::loadu(dx + i), mg), Ops::mul(Ops::loadu(hat + i), mgh));
          Ops::storeu(dx + i, Ops::mul(centred, r));
        },
        [&](Index i) { dx[i] = (dx[i] - mean_g - hat[i] * mean_gh) * rstd; });
  }

  /// One sequence's column of an LSTM step, fused: the gate pre-activations (i, f, g, o: 4 H floats) are
  /// activated in place (sigmoid, sigmoid, tanh, sigmoid), c = f c_prev + i g and h = o tanh(c). c may be
  /// c_prev (each lane is read before it is written).
  static void lstm_cell_column(float* gates, const float* c_prev, float* c, float* h, Index hidden) {
    float* const in = gates;
    float* const forget = gates + hidden;
    float* const cand = gates + 2 * hidden;
    float* const out = gates + 3 * hidden;
    for_each_packet(
        hidden,
        [&](Index k) {
          const auto i = vector_sigmoid(Ops::loadu(in + k)), f = vector_sigmoid(Ops::loadu(forget + k));
          const auto g = vector_tanh(Ops::loadu(cand + k)), o = vector_sigmoid(Ops::loadu(out + k));
          Ops::storeu(in + k, i);
          Ops::storeu(forget + k, f);
          Ops::storeu(cand + k, g);
          Ops::storeu(out + k, o);
          const auto cn = Ops::madd(f, Ops::loadu(c_prev + k), Ops::mul(i, g));
          Ops::storeu(c + k, cn);
          Ops::storeu(h + k, Ops::mul(o, vector_tanh(cn)));
        },
        [&](Index k) {
          const auto sigmoid = [](float x) { return 1.0f / (1.0f + std::exp(-x)); };
          in[k] = sigmoid(in[k]);
          forget[k] = sigmoid(forget[k]);
          cand[k] = std::tanh(cand[k]);
          out[k] = sigmoid(out[k]);
          c[k] = forget[k] * c_prev[k] + in[k] * cand[k];
          h[k] = out[k] * std::tanh(c[k]);
        });
  }
};
