// SPDX-License-Identifier: MIT
// Viterbi decoding of an Hmm: the most probable state path and its log-probability, in log space.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "elm/classic/hmm.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"

// A generic x86-64 build (no -mavx) gets SSE2's 2-double packets, which leave the Viterbi sweep
// arithmetic-bound; with GCC or Clang it can still use AVX2 when the processor has it, chosen at run time.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__AVX__)
#define ELM_HMM_RUNTIME_AVX2 1
#include <immintrin.h>
#endif

namespace elm::classic {

/// The most probable state path and log P(path, x) (natural log; -inf when x is impossible).
template <typename Scalar>
struct ViterbiResult {
  Sequence path;
  Scalar log_prob = 0;
};

}  // namespace elm::classic

namespace elm::classic::detail {

/// Viterbi for N > 32 states, on Eigen columns of run-time size: delta (N, T) keeps the whole lattice and the
/// arg-max is recomputed along the path while tracing back.
template <typename Scalar>
classic::ViterbiResult<Scalar> viterbi_columns(const classic::Hmm<Scalar>& hmm, const classic::Sequence& obs) {
  using Column = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
  const Index n = hmm.n_states();
  const Index length = to_index(obs.size());
  const Matrix<Scalar>& log_b = hmm.log_emissionprob();
  const Matrix<Scalar>& log_a = hmm.log_transmat();
  const Matrix<Scalar> log_a_t = log_a.transpose();
  Matrix<Scalar> delta(n, length);
  delta.col(0) = hmm.log_startprob() + log_b.col(obs[0]);
  Column best(n);
  for (Index t = 1; t < length; ++t) {
    const Scalar* prev = delta.col(t - 1).data();
    // best(j) = max_i delta_t-1(i) + log A_ij, accumulated row by row of A: unit stride, no reduction.
    best = log_a_t.col(0).array() + prev[0];
    for (Index i = 1; i < n; ++i) best = best.max(log_a_t.col(i).array() + prev[i]);
    delta.col(t) = best.matrix() + log_b.col(obs[static_cast<std::size_t>(t)]);
  }
  classic::ViterbiResult<Scalar> out;
  out.path.resize(obs.size());
  Index state = 0;  // the first maximum (numpy's argmax)
  for (Index j = 1; j < n; ++j)
    if (delta(j, length - 1) > delta(state, length - 1)) state = j;
  out.log_prob = delta(state, length - 1);
  out.path.back() = state;
  for (Index t = length - 2; t >= 0; --t) {
    best = delta.col(t).array() + log_a.col(state).array();
    const Scalar top = best.maxCoeff();
    Index arg = n - 1;  // the last maximum
    while (arg > 0 && best(arg) != top) --arg;
    state = arg;
    out.path[static_cast<std::size_t>(t)] = state;
  }
  return out;
}

/// Viterbi for N <= W states on whole SIMD packets: every column is padded to W (a multiple of the packet)
/// with -inf, so padded states never win a maximum, and each loop over a column is P = W / packet packet
/// operations unrolled at compile time. The lattice keeps, for each step, best_t(j) = max_i (delta_t-1(i) +
/// log A_ij) (column 0 keeps log pi), so delta_t = best_t + log B(., x_t) and, while tracing back, the maximum
/// that the arg-max must attain is already known: best_t+1(z_t+1). decode_pair runs two sequences in
/// lockstep, which gives the processor two independent dependency chains to overlap.
template <int W, typename Scalar>
class ViterbiKernel {
  using Packet = HmmPacket<Scalar>;
  static constexpr int packet = hmm_packet<Scalar>;
  static constexpr int P = W / packet;
  static_assert(W % packet == 0, "ViterbiKernel: W must be a multiple of the packet size");

 public:
  using Result = classic::ViterbiResult<Scalar>;

  /// log_a_t (W, N) holds row i of log A in column i, log_a (W, N) the columns of log A, log_b (W, V) the
  /// emission columns (the model's own table when N = W).
  explicit ViterbiKernel(const classic::Hmm<Scalar>& hmm) : n_(hmm.n_states()) {
    log_a_t_ = Matrix<Scalar>::Constant(W, n_, neg_inf);
    log_a_t_.topRows(n_) = hmm.log_transmat().transpose();
    log_a_ = Matrix<Scalar>::Constant(W, n_, neg_inf);
    log_a_.topRows(n_) = hmm.log_transmat();
    log_pi_ = Matrix<Scalar>::Constant(W, 1, neg_inf);
    log_pi_.topRows(n_) = hmm.log_startprob();
    if (n_ == W) {
      log_b_ = hmm.log_emissionprob().data();
    } else {
      padded_b_ = Matrix<Scalar>::Constant(W, hmm.n_symbols(), neg_inf);
      padded_b_.topRows(n_) = hmm.log_emissionprob();
      log_b_ = padded_b_.data();
    }
    index_ = Matrix<Scalar>::Zero(W, 1);  // padding rows 0: they never raise the arg-max
    for (Index i = 0; i < n_; ++i) index_(i) = static_cast<Scalar>(i);
  }

  /// Scalars of lattice workspace for a sequence of T steps.
  static Index lattice_size(std::size_t length) { return W * to_index(length); }

  /// Decodes obs into out; lattice points to lattice_size(T) scalars.
  void decode(const classic::Sequence& obs, Result& out, Scalar* lattice) const {
    Lane lane{obs, lattice, out, 0, {}};
    const Index length = begin(lane);
    for (Index t = 1; t < length; ++t) sweep(lane, t);
    finish(lane);
    for (Index t = length - 2; t >= 0; --t) trace(lane, t);
  }

  /// Decodes two sequences in lockstep (then the longer one's remaining steps alone); lattice points to
  /// lattice_size(T_a + T_b) scalars. Same results as two calls of decode.
  void decode_pair(const classic::Sequence& obs_a, Result& out_a, const classic::Sequence& obs_b, Result& out_b,
                   Scalar* lattice) const {
    Lane a{obs_a, lattice, out_a, 0, {}};
    Lane b{obs_b, lattice + lattice_size(obs_a.size()), out_b, 0, {}};
    const Index length_a = begin(a), length_b = begin(b);
    Index t = 1;
    for (; t < length_a && t < length_b; ++t) {
      sweep(a, t);
      sweep(b, t);
    }
    for (Index u = t; u < length_a; ++u) sweep(a, u);
    for (Index u = t; u < length_b; ++u) sweep(b, u);
    finish(a);
    finish(b);
    Index ta = length_a - 2, tb = length_b - 2;
    for (; ta >= 0 && tb >= 0; --ta, --tb) {
      trace(a, ta);
      trace(b, tb);
    }
    for (; ta >= 0; --ta) trace(a, ta);
    for (; tb >= 0; --tb) trace(b, tb);
  }

 protected:
  static constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();

  struct Lane {
    const classic::Sequence& obs;
    Scalar* lattice;  // (W, T): best_t
    Result& out;
    Index state;                  // while tracing back: z_t+1
    alignas(64) Scalar delta[W];  // delta_t of the last swept step
  };

  static Packet load(const Scalar* p) { return Eigen::internal::ploadu<Packet>(p); }
  const Scalar* emission(const Lane& lane, Index t) const {
    return log_b_ + W * lane.obs[static_cast<std::size_t>(t)];
  }

  Index begin(Lane& lane) const {
    lane.out.path.resize(lane.obs.size());
    const Scalar* e = emission(lane, 0);
    for (int k = 0; k < W; ++k) {
      lane.lattice[k] = log_pi_(k);
      lane.delta[k] = log_pi_(k) + e[k];
    }
    return to_index(lane.obs.size());
  }

  /// best_t(j) = max_i (delta_t-1(i) + log A_ij), accumulated column by column of log A^T: whole packets, no
  /// horizontal reduction, and P independent running maxima.
  EIGEN_ALWAYS_INLINE void sweep(Lane& lane, Index t) const {
    using namespace Eigen::internal;
    const Scalar* a = log_a_t_.data();
    const Scalar* prev = lane.delta;
    Packet acc[P];
    const Packet p0 = pset1<Packet>(prev[0]);
    for (int k = 0; k < P; ++k) acc[k] = padd(load(a + k * packet), p0);
    for (Index i = 1; i < n_; ++i) {
      const Packet pi = pset1<Packet>(prev[i]);
      const Scalar* ai = a + i * W;
      // max(new, acc) rather than max(acc, new): the same value (no NaN here), and x86 can then keep acc in
      // its register instead of copying the result back.
      for (int k = 0; k < P; ++k) acc[k] = pmax(padd(load(ai + k * packet), pi), acc[k]);
    }
    Scalar* best = lane.lattice + t * W;
    const Scalar* e = emission(lane, t);
    for (int k = 0; k < P; ++k) {
      const Packet m = acc[k];
      pstoreu(best + k * packet, m);
      pstoreu(lane.delta + k * packet, padd(m, load(e + k * packet)));
    }
  }

  /// Last state: the first maximum of delta_T-1 (numpy's argmax).
  void finish(Lane& lane) const {
    Index state = 0;
    for (Index j = 1; j < n_; ++j)
      if (lane.delta[j] > lane.delta[state]) state = j;
    lane.out.log_prob = lane.delta[state];
    lane.out.path.back() = state;
    lane.state = state;
  }

  /// z_t = the last i attaining max_i (delta_t(i) + log A(i, z_t+1)); that maximum is best_t+1(z_t+1), made of
  /// the same sums in the same order as in the sweep, so an exact comparison finds it (hmmlearn keeps the
  /// highest index on ties). Without branches: the indices of the equal entries, as scalars, masked and
  /// reduced by a maximum.
  EIGEN_ALWAYS_INLINE void trace(Lane& lane, Index t) const {
    using namespace Eigen::internal;
    const Index next = lane.state;
    const Packet top = pset1<Packet>(lane.lattice[(t + 1) * W + next]);
    const Scalar* best = lane.lattice + t * W;
    const Scalar* e = emission(lane, t);
    const Scalar* a = log_a_.data() + next * W;
    Packet found = pset1<Packet>(Scalar(0));
    for (int k = 0; k < P; ++k) {
      const Packet score = padd(padd(load(best + k * packet), load(e + k * packet)), load(a + k * packet));
      found = pmax(pand(pcmp_eq(score, top), load(index_.data() + k * packet)), found);
    }
    lane.state = static_cast<Index>(predux_max(found));
    lane.out.path[static_cast<std::size_t>(t)] = lane.state;
  }

  Index n_;
  Matrix<Scalar> log_a_t_, log_a_, log_pi_, padded_b_, index_;
  const Scalar* log_b_ = nullptr;
};


#if defined(ELM_HMM_RUNTIME_AVX2)
/// Whether viterbi may use ViterbiKernelAvx2 on this processor (tests turn it off to exercise the other kernel).
inline bool& viterbi_runtime_avx2_allowed() {
  static bool allowed = __builtin_cpu_supports("avx2");
  return allowed;
}

/// ViterbiKernel<W, double> on 4-double AVX2 packets, for builds without -mavx running on a processor with
/// AVX2: the same tables, lattice and sums in the same order, so the same paths and log-probabilities to the
/// bit. N = 10 states take 3 packets instead of SSE2's 5, so a generic binary decodes about as fast as a
/// -march=native build (docs/benchmarks.md, HMM).
template <int W>
class ViterbiKernelAvx2 : public ViterbiKernel<W, double> {
  static_assert(W % 4 == 0, "ViterbiKernelAvx2: W must be a multiple of 4");
  using Base = ViterbiKernel<W, double>;
  using Lane = typename Base::Lane;
  static constexpr int P = W / 4;

 public:
  using Result = typename Base::Result;
  using Base::Base;

  // decode and decode_pair repeat Base's schedule: they must be target("avx2") functions themselves for the
  // AVX2 sweep and trace to be inlined into them, and the generic ones cannot call those.
  __attribute__((target("avx2"))) void decode(const classic::Sequence& obs, Result& out, double* lattice) const {
    Lane lane{obs, lattice, out, 0, {}};
    const Index length = this->begin(lane);
    for (Index t = 1; t < length; ++t) sweep(lane, t);
    this->finish(lane);
    for (Index t = length - 2; t >= 0; --t) trace(lane, t);
  }

  __attribute__((target("avx2"))) void decode_pair(const classic::Sequence& obs_a, Result& out_a,
                                                   const classic::Sequence& obs_b, Result& out_b,
                                                   double* lattice) const {
    Lane a{obs_a, lattice, out_a, 0, {}};
    Lane b{obs_b, lattice + Base::lattice_size(obs_a.size()), out_b, 0, {}};
    const Index length_a = this->begin(a), length_b = this->begin(b);
    Index t = 1;
    for (; t < length_a && t < length_b; ++t) {
      sweep(a, t);
      sweep(b, t);
    }
    for (Index u = t; u < length_a; ++u) sweep(a, u);
    for (Index u = t; u < length_b; ++u) sweep(b, u);
    this->finish(a);
    this->finish(b);
    Index ta = length_a - 2, tb = length_b - 2;
    for (; ta >= 0 && tb >= 0; --ta, --tb) {
      trace(a, ta);
      trace(b, tb);
    }
    for (; ta >= 0; --ta) trace(a, ta);
    for (; tb >= 0; --tb) trace(b, tb);
  }

 private:
  /// Base::sweep on __m256d.
  __attribute__((target("avx2"), always_inline)) inline void sweep(Lane& lane, Index t) const {
    const double* a = this->log_a_t_.data();
    const double* prev = lane.delta;
    __m256d acc[P];
    const __m256d p0 = _mm256_set1_pd(prev[0]);
    for (int k = 0; k < P; ++k) acc[k] = _mm256_add_pd(_mm256_loadu_pd(a + 4 * k), p0);
    for (Index i = 1; i < this->n_; ++i) {
      const __m256d pi = _mm256_set1_pd(prev[i]);
      const double* ai = a + i * W;
      for (int k = 0; k < P; ++k) acc[k] = _mm256_max_pd(_mm256_add_pd(_mm256_loadu_pd(ai + 4 * k), pi), acc[k]);
    }
    double* best = lane.lattice + t * W;
    const double* e = this->emission(lane, t);
    for (int k = 0; k < P; ++k) {
      _mm256_storeu_pd(best + 4 * k, acc[k]);
      _mm256_storeu_pd(lane.delta + 4 * k, _mm256_add_pd(acc[k], _mm256_loadu_pd(e + 4 * k)));
    }
  }

  /// Base::trace on __m256d.
  __attribute__((target("avx2"), always_inline)) inline void trace(Lane& lane, Index t) const {
    const Index next = lane.state;
    const __m256d top = _mm256_set1_pd(lane.lattice[(t + 1) * W + next]);
    const double* best = lane.lattice + t * W;
    const double* e = this->emission(lane, t);
    const double* a = this->log_a_.data() + next * W;
    const double* index = this->index_.data();
    __m256d found = _mm256_setzero_pd();
    for (int k = 0; k < P; ++k) {
      const __m256d score = _mm256_add_pd(_mm256_add_pd(_mm256_loadu_pd(best + 4 * k), _mm256_loadu_pd(e + 4 * k)),
                                          _mm256_loadu_pd(a + 4 * k));
      found = _mm256_max_pd(_mm256_and_pd(_mm256_cmp_pd(score, top, _CMP_EQ_OQ), _mm256_loadu_pd(index + 4 * k)),
                            found);
    }
    const __m128d half = _mm_max_pd(_mm256_castpd256_pd128(found), _mm256_extractf128_pd(found, 1));
    lane.state = static_cast<Index>(_mm_cvtsd_f64(_mm_max_sd(half, _mm_unpackhi_pd(half, half))));
    lane.out.path[static_cast<std::size_t>(t)] = lane.state;
  }
};
#endif

/// Calls run(kernel) with the fastest Viterbi kernel for hmm's N on this build and processor, or
/// run(nullptr) for N > 32 (Eigen columns of run-time size).
template <typename Scalar, typename Run>
decltype(auto) with_viterbi_kernel(const classic::Hmm<Scalar>& hmm, Run&& run) {
#if defined(ELM_HMM_RUNTIME_AVX2)
  if constexpr (std::is_same_v<Scalar, double>) {
    if (hmm.n_states() <= 32 && viterbi_runtime_avx2_allowed())
      return hmm_dispatch_width<4, 4>(hmm.n_states(), [&](auto width) {
        constexpr int W = decltype(width)::value;
        if constexpr (W == 0) {  // not reached: N <= 32 has a compile-time width
          return run(static_cast<const ViterbiKernelAvx2<4>*>(nullptr));
        } else {
          const ViterbiKernelAvx2<W> kernel(hmm);
          return run(&kernel);
        }
      });
  }
#endif
  constexpr int packet = hmm_packet<Scalar>;
  return hmm_dispatch_width<packet, packet>(hmm.n_states(), [&](auto width) {
    constexpr int W = decltype(width)::value;
    if constexpr (W == 0) {
      return run(static_cast<const ViterbiKernel<hmm_packet<Scalar>, Scalar>*>(nullptr));
    } else {
      const ViterbiKernel<W, Scalar> kernel(hmm);
      return run(&kernel);
    }
  });
}

}  // namespace elm::classic::detail

namespace elm::classic {

/// Viterbi decoding in log space (no underflow at any length):
///   delta_0(j) = log pi_j + log B(j, x_0)
///   delta_t(j) = max_i (delta_t-1(i) + log A_ij) + log B(j, x_t)
///   z_T-1 = argmax_j delta_T-1(j),  z_t = argmax_i (delta_t(i) + log A(i, z_t+1)).
/// Ties are broken as hmmlearn does: the lowest index for the last state, the highest while tracing back,
/// so paths agree with CategoricalHMM.decode even on symmetric models. The forward sweep keeps only the
/// maxima (a vectorizable loop); the arg-max is found along the path only, O(T N) instead of O(T N^2).
/// For N <= 32 the state dimension is padded with -inf to a compile-time multiple of the SIMD packet, so that
/// both loops run on whole packets (ViterbiKernel); larger N runs on Eigen columns of run-time size.
/// obs: T ids in [0, V) -> path of T state ids. O(T N^2) time, O(T N) memory.
/// Throws InvalidArgument (empty obs) and RangeError (id >= V).
template <typename Scalar>
ViterbiResult<Scalar> viterbi(const Hmm<Scalar>& hmm, const Sequence& obs) {
  hmm.check_sequence(obs, "elm::classic::viterbi");
  return detail::with_viterbi_kernel(hmm, [&](const auto* kernel) {
    if (kernel == nullptr) return detail::viterbi_columns(hmm, obs);
    Vector<Scalar> lattice(kernel->lattice_size(obs.size()));
    ViterbiResult<Scalar> out;
    kernel->decode(obs, out, lattice.data());
    return out;
  });
}

/// Viterbi decoding of many independent sequences: one result per sequence (hmmlearn's decode with
/// lengths returns their concatenation and the sum of the log-probabilities). Sequences are decoded two at a
/// time in lockstep, and the pairs are shared among OpenMP threads when elm is built with them; the results
/// do not depend on the thread count. Throws as viterbi, naming the sequence.
template <typename Scalar>
std::vector<ViterbiResult<Scalar>> viterbi(const Hmm<Scalar>& hmm, const std::vector<Sequence>& sequences) {
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const std::string where = elm::detail::concat("elm::classic::viterbi (sequence ", s, ")");
    hmm.check_sequence(sequences[s], where.c_str());
  }
  std::vector<ViterbiResult<Scalar>> out(sequences.size());
  detail::with_viterbi_kernel(hmm, [&](const auto* kernel) {
    if (kernel == nullptr) {
      elm::detail::parallel_for(0, to_index(sequences.size()), [&](Index s) {
        out[static_cast<std::size_t>(s)] = detail::viterbi_columns(hmm, sequences[static_cast<std::size_t>(s)]);
      });
      return;
    }
    // Pairs (2p, 2p + 1) in contiguous blocks, each with one lattice workspace reused by its pairs.
    const std::size_t pairs = (sequences.size() + 1) / 2;
    const std::size_t blocks = std::min<std::size_t>(pairs, 64);
    elm::detail::parallel_for(0, to_index(blocks), [&](Index block) {
      const std::size_t first = pairs * static_cast<std::size_t>(block) / blocks;
      const std::size_t last = pairs * static_cast<std::size_t>(block + 1) / blocks;
      Vector<Scalar> lattice;
      for (std::size_t p = first; p < last; ++p) {
        const std::size_t a = 2 * p, b = a + 1;
        const std::size_t length = sequences[a].size() + (b < sequences.size() ? sequences[b].size() : 0);
        if (lattice.size() < kernel->lattice_size(length)) lattice.resize(kernel->lattice_size(length));
        if (b < sequences.size())
          kernel->decode_pair(sequences[a], out[a], sequences[b], out[b], lattice.data());
        else
          kernel->decode(sequences[a], out[a], lattice.data());
      }
    });
  });
  return out;
}

}  // namespace elm::classic
