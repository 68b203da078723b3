// SPDX-License-Identifier: MIT
// Viterbi decoding of an Hmm: the most probable state path and its log-probability, in log space.
#pragma once

#include <cstddef>
#include <limits>
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

/// Viterbi decoding in log space (no underflow at any length):
///   delta_0(j) = log pi_j + log B(j, x_0)
///   delta_t(j) = max_i (delta_t-1(i) + log A_ij) + log B(j, x_t)
///   z_T-1 = argmax_j delta_T-1(j),  z_t = argmax_i (delta_t(i) + log A(i, z_t+1)).
/// Ties are broken as hmmlearn does: the lowest index for the last state, the highest while tracing back,
/// so paths agree with CategoricalHMM.decode even on symmetric models. The forward sweep keeps only the
/// maxima (a vectorizable loop); the arg-max is recomputed along the path only, O(T N) instead of O(T N^2).
/// obs: T ids in [0, V) -> path of T state ids. O(T N^2) time, O(T N) memory.
/// Throws InvalidArgument (empty obs) and RangeError (id >= V).
template <typename Scalar>
ViterbiResult<Scalar> viterbi(const Hmm<Scalar>& hmm, const Sequence& obs) {
  hmm.check_sequence(obs, "elm::classic::viterbi");
  const Index n = hmm.n_states();
  const Index length = to_index(obs.size());
  const auto nn = static_cast<std::size_t>(n);
  // Row i of log A as a contiguous column, so the inner loop below runs over unit-stride memory.
  const Matrix<Scalar> log_a_t = hmm.log_transmat().transpose();
  const Matrix<Scalar>& log_a = hmm.log_transmat();
  const Matrix<Scalar>& log_b = hmm.log_emissionprob();
  Matrix<Scalar> delta(n, length);
  delta.col(0) = hmm.log_startprob() + log_b.col(obs[0]);
  std::vector<Scalar> best(nn);
  for (Index t = 1; t < length; ++t) {
    const Scalar* prev = delta.col(t - 1).data();
    for (std::size_t j = 0; j < nn; ++j) best[j] = -std::numeric_limits<Scalar>::infinity();
    // 1) best[j] = max_i delta_t-1(i) + log A_ij, accumulated row by row of A.
    for (Index i = 0; i < n; ++i) {
      const Scalar d = prev[i];
      const Scalar* row = log_a_t.col(i).data();
      for (std::size_t j = 0; j < nn; ++j) {
        const Scalar candidate = d + row[j];
        best[j] = candidate > best[j] ? candidate : best[j];
      }
    }
    // 2) add the emission of x_t.
    const Scalar* emit = log_b.col(obs[static_cast<std::size_t>(t)]).data();
    Scalar* cur = delta.col(t).data();
    for (std::size_t j = 0; j < nn; ++j) cur[j] = best[j] + emit[j];
  }
  ViterbiResult<Scalar> out;
  out.path.resize(obs.size());
  // 3) last state: first maximum (std::max_element semantics).
  Index state = 0;
  for (Index j = 1; j < n; ++j)
    if (delta(j, length - 1) > delta(state, length - 1)) state = j;
  out.log_prob = delta(state, length - 1);
  out.path.back() = state;
  // 4) trace back: last maximum of delta_t(i) + log A(i, z_t+1).
  for (Index t = length - 2; t >= 0; --t) {
    Index arg = 0;
    Scalar value = delta(0, t) + log_a(0, state);
    for (Index i = 1; i < n; ++i) {
      const Scalar candidate = delta(i, t) + log_a(i, state);
      if (candidate >= value) {
        value = candidate;
        arg = i;
      }
    }
    state = arg;
    out.path[static_cast<std::size_t>(t)] = state;
  }
  return out;
}

}  // namespace elm::classic
