// SPDX-License-Identifier: MIT
// Viterbi decoding of an Hmm: the most probable state path and its log-probability, in log space.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "elm/classic/hmm.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// The most probable state path and log P(path, x) (natural log; -inf when x is impossible).
template <typename Scalar>
struct ViterbiResult {
  Sequence path;
  Scalar log_prob = 0;
};

}  // namespace elm::classic

namespace elm::detail {

/// Viterbi with the state dimension padded to W (W = 0: the run-time `width`, for large N).
/// delta (W, T), log_a_t (W, N) with column i = row i of log A, log_a_pad (W, N) = log A padded, all with
/// -inf in the padding rows, so padded states never win a maximum.
template <int W, typename Scalar>
classic::ViterbiResult<Scalar> viterbi_padded(const classic::Hmm<Scalar>& hmm, const classic::Sequence& obs,
                                              Index width) {
  constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
  constexpr int Rows = W > 0 ? W : Eigen::Dynamic;
  using Column = Eigen::Array<Scalar, Rows, 1>;
  const Index w = W > 0 ? Index(W) : width;
  const Index n = hmm.n_states();
  const Index length = to_index(obs.size());
  const Matrix<Scalar>& log_b = hmm.log_emissionprob();
  Matrix<Scalar> log_a_t = Matrix<Scalar>::Constant(w, n, neg_inf);
  log_a_t.topRows(n) = hmm.log_transmat().transpose();
  Matrix<Scalar> log_a_pad = Matrix<Scalar>::Constant(w, n, neg_inf);
  log_a_pad.topRows(n) = hmm.log_transmat();
  Matrix<Scalar> delta(w, length);
  delta.col(0).setConstant(neg_inf);
  delta.col(0).head(n) = hmm.log_startprob() + log_b.col(obs[0]);
  Column best(w);
  for (Index t = 1; t < length; ++t) {
    const Scalar* prev = delta.col(t - 1).data();
    // 1) best(j) = max_i delta_t-1(i) + log A_ij, accumulated row by row of A: unit stride, no reduction.
    best.setConstant(neg_inf);
    for (Index i = 0; i < n; ++i) best = best.max(Eigen::Map<const Column>(log_a_t.col(i).data(), w) + prev[i]);
    // 2) add the emission of x_t (padding stays -inf).
    Eigen::Map<Column> cur(delta.col(t).data(), w);
    cur = best;
    cur.head(n) += log_b.col(obs[static_cast<std::size_t>(t)]).array();
  }
  classic::ViterbiResult<Scalar> out;
  out.path.resize(obs.size());
  // 3) last state: the first maximum (std::max_element semantics).
  Index state = 0;
  for (Index j = 1; j < n; ++j)
    if (delta(j, length - 1) > delta(state, length - 1)) state = j;
  out.log_prob = delta(state, length - 1);
  out.path.back() = state;
  // 4) trace back: the last i that attains max_i delta_t(i) + log A(i, z_t+1). The maximum is a SIMD
  // reduction; the scan from the end stops at the first equal entry (one exists: the maximum itself).
  for (Index t = length - 2; t >= 0; --t) {
    best = Eigen::Map<const Column>(delta.col(t).data(), w) + Eigen::Map<const Column>(log_a_pad.col(state).data(), w);
    const Scalar top = best.maxCoeff();
    // The largest index attaining the maximum, without a data-dependent branch: select then reduce.
    Index arg = n - 1;
    while (arg > 0 && best(arg) != top) --arg;
    state = arg;
    out.path[static_cast<std::size_t>(t)] = state;
  }
  return out;
}

}  // namespace elm::detail

namespace elm::classic {

/// Viterbi decoding in log space (no underflow at any length):
///   delta_0(j) = log pi_j + log B(j, x_0)
///   delta_t(j) = max_i (delta_t-1(i) + log A_ij) + log B(j, x_t)
///   z_T-1 = argmax_j delta_T-1(j),  z_t = argmax_i (delta_t(i) + log A(i, z_t+1)).
/// Ties are broken as hmmlearn does: the lowest index for the last state, the highest while tracing back,
/// so paths agree with CategoricalHMM.decode even on symmetric models. The forward sweep keeps only the
/// maxima (a vectorizable loop); the arg-max is recomputed along the path only, O(T N) instead of O(T N^2).
/// The state dimension is padded with -inf to a compile-time width (2, 4, 8, 12, 16 or 32) so that both
/// loops are unrolled and run on SIMD packets; larger N uses the same code with a run-time width.
/// obs: T ids in [0, V) -> path of T state ids. O(T N^2) time, O(T N) memory.
/// Throws InvalidArgument (empty obs) and RangeError (id >= V).
template <typename Scalar>
ViterbiResult<Scalar> viterbi(const Hmm<Scalar>& hmm, const Sequence& obs) {
  hmm.check_sequence(obs, "elm::classic::viterbi");
  const Index n = hmm.n_states();
  if (n <= 2) return detail::viterbi_padded<2>(hmm, obs, 2);
  if (n <= 4) return detail::viterbi_padded<4>(hmm, obs, 4);
  if (n <= 8) return detail::viterbi_padded<8>(hmm, obs, 8);
  if (n <= 12) return detail::viterbi_padded<12>(hmm, obs, 12);
  if (n <= 16) return detail::viterbi_padded<16>(hmm, obs, 16);
  if (n <= 32) return detail::viterbi_padded<32>(hmm, obs, 32);
  return detail::viterbi_padded<0>(hmm, obs, n);
}

/// Viterbi decoding of many independent sequences: one result per sequence (hmmlearn's decode with
/// lengths returns their concatenation and the sum of the log-probabilities). Throws as viterbi, naming
/// the sequence.
template <typename Scalar>
std::vector<ViterbiResult<Scalar>> viterbi(const Hmm<Scalar>& hmm, const std::vector<Sequence>& sequences) {
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const std::string where = detail::concat("elm::classic::viterbi (sequence ", s, ")");
    hmm.check_sequence(sequences[s], where.c_str());
  }
  std::vector<ViterbiResult<Scalar>> out;
  out.reserve(sequences.size());
  for (const auto& obs : sequences) out.push_back(viterbi(hmm, obs));
  return out;
}

}  // namespace elm::classic
