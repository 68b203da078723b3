// SPDX-License-Identifier: MIT
// Forward and backward passes of an Hmm with per-step normalization, log-likelihoods and posteriors.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "elm/classic/hmm.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// Normalized forward lattice (Rabiner's scaling). Column t of alpha is P(z_t = . | x_0..t) and sums to one;
/// log_norm(t) = log P(x_t | x_0..t-1), so log P(x) = sum_t log_norm(t). Stored: alpha (N, T), log_norm (T).
/// When the sequence is impossible (probability exactly 0) log_likelihood is -inf and the columns from the
/// first impossible step on are zero.
template <typename Scalar>
struct ForwardLattice {
  Matrix<Scalar> alpha;
  Vector<Scalar> log_norm;
  Scalar log_likelihood = 0;
};

/// Normalized backward lattice. beta(., t) is proportional to P(x_t+1..T-1 | z_t = .) and sums to one;
/// norm(t) is the sum before normalization (norm(T-1) = N, from the unnormalized all-ones last column).
/// log P(x) = log(sum_i pi_i B(i, x_0) beta(i, 0)) + sum_t log norm(t), computed without the forward pass,
/// so the two directions check each other. Stored: beta (N, T), norm (T).
template <typename Scalar>
struct BackwardLattice {
  Matrix<Scalar> beta;
  Vector<Scalar> norm;
  Scalar log_likelihood = 0;
};

}  // namespace elm::classic

namespace elm::classic::detail {

/// Smallest per-step probability the normalized recursions accept: below it the terms being summed can be
/// subnormal and lose digits. hmmlearn's scaling implementation stops at 1e-300 for the same reason.
template <typename Scalar>
inline constexpr Scalar hmm_min_step = std::numeric_limits<Scalar>::min() / std::numeric_limits<Scalar>::epsilon();

template <typename Scalar>
void check_step_sum(Scalar sum, std::size_t t, const char* where) {
  ELM_EXPECT(sum == Scalar(0) || sum >= hmm_min_step<Scalar>, NumericalError, where, ": the probability of step ",
             t, " given the past is ", sum, ", below ", hmm_min_step<Scalar>,
             " where normalized recursions lose precision; expected tables without such tiny entries");
}

}  // namespace elm::classic::detail

namespace elm::classic {

/// Forward pass: alpha_0 = pi o B(., x_0), alpha_t = (A^T alpha_t-1) o B(., x_t), each column normalized
/// (o is the element-wise product). obs: T ids in [0, V) -> alpha (N, T). O(T N^2) time, O(T N) memory.
/// Throws InvalidArgument (empty obs), RangeError (id >= V), NumericalError (a step probability underflows).
template <typename Scalar>
ForwardLattice<Scalar> forward(const Hmm<Scalar>& hmm, const Sequence& obs) {
  constexpr const char* where = "elm::classic::forward";
  hmm.check_sequence(obs, where);
  const Index n = hmm.n_states();
  const Index length = to_index(obs.size());
  const Matrix<Scalar>& a = hmm.transmat();
  const Matrix<Scalar>& b = hmm.emissionprob();
  ForwardLattice<Scalar> out;
  out.alpha = Matrix<Scalar>::Zero(n, length);
  out.log_norm = Vector<Scalar>::Zero(length);
  Vector<Scalar> predicted(n);
  double log_likelihood = 0;  // a double sum even for float tables: T may be 10^6 steps
  for (Index t = 0; t < length; ++t) {
    const Index x = obs[static_cast<std::size_t>(t)];
    // 1) predict z_t from z_t-1 (or from pi), 2) weight by the emission of x_t, 3) normalize.
    if (t == 0) {
      out.alpha.col(0) = hmm.startprob().cwiseProduct(b.col(x));
    } else {
      predicted.noalias() = a.transpose() * out.alpha.col(t - 1);
      out.alpha.col(t) = predicted.cwiseProduct(b.col(x));
    }
    const Scalar sum = out.alpha.col(t).sum();
    detail::check_step_sum(sum, static_cast<std::size_t>(t), where);
    if (sum == Scalar(0)) {
      out.log_norm(t) = -std::numeric_limits<Scalar>::infinity();
      out.log_likelihood = -std::numeric_limits<Scalar>::infinity();
      return out;
    }
    out.alpha.col(t) /= sum;
    out.log_norm(t) = std::log(sum);
    log_likelihood += static_cast<double>(out.log_norm(t));
  }
  out.log_likelihood = static_cast<Scalar>(log_likelihood);
  return out;
}

/// Backward pass: beta_T-1 = 1, beta_t = A (B(., x_t+1) o beta_t+1), each column normalized.
/// obs: T ids -> beta (N, T). Same cost and exceptions as forward.
template <typename Scalar>
BackwardLattice<Scalar> backward(const Hmm<Scalar>& hmm, const Sequence& obs) {
  constexpr const char* where = "elm::classic::backward";
  hmm.check_sequence(obs, where);
  const Index n = hmm.n_states();
  const Index length = to_index(obs.size());
  const Matrix<Scalar>& a = hmm.transmat();
  const Matrix<Scalar>& b = hmm.emissionprob();
  BackwardLattice<Scalar> out;
  out.beta = Matrix<Scalar>::Zero(n, length);
  out.norm = Vector<Scalar>::Zero(length);
  out.norm(length - 1) = static_cast<Scalar>(n);
  out.beta.col(length - 1).setConstant(Scalar(1) / static_cast<Scalar>(n));
  double log_likelihood = std::log(static_cast<double>(n));
  Vector<Scalar> weighted(n);
  constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
  for (Index t = length - 2; t >= 0; --t) {
    weighted = b.col(obs[static_cast<std::size_t>(t + 1)]).cwiseProduct(out.beta.col(t + 1));
    out.beta.col(t).noalias() = a * weighted;
    const Scalar sum = out.beta.col(t).sum();
    detail::check_step_sum(sum, static_cast<std::size_t>(t), where);
    out.norm(t) = sum;
    if (sum == Scalar(0)) {
      out.log_likelihood = neg_inf;
      return out;
    }
    out.beta.col(t) /= sum;
    log_likelihood += std::log(static_cast<double>(sum));
  }
  const Scalar first =
      (hmm.startprob().cwiseProduct(b.col(obs[0]))).dot(out.beta.col(0));
  out.log_likelihood = first > Scalar(0) ? static_cast<Scalar>(log_likelihood + std::log(static_cast<double>(first)))
                                         : neg_inf;
  return out;
}

/// log P(x) of one sequence, natural log, by the forward recursion in O(N) memory (so a 10^6-step sequence
/// needs no lattice). -inf when the sequence is impossible. Matches hmmlearn's CategoricalHMM.score.
template <typename Scalar>
Scalar log_likelihood(const Hmm<Scalar>& hmm, const Sequence& obs) {
  constexpr const char* where = "elm::classic::log_likelihood";
  hmm.check_sequence(obs, where);
  const Matrix<Scalar>& a = hmm.transmat();
  const Matrix<Scalar>& b = hmm.emissionprob();
  Vector<Scalar> alpha = hmm.startprob().cwiseProduct(b.col(obs[0]));
  Vector<Scalar> predicted(hmm.n_states());
  double total = 0;
  for (std::size_t t = 0; t < obs.size(); ++t) {
    if (t > 0) {
      predicted.noalias() = a.transpose() * alpha;
      alpha = predicted.cwiseProduct(b.col(obs[t]));
    }
    const Scalar sum = alpha.sum();
    detail::check_step_sum(sum, t, where);
    if (sum == Scalar(0)) return -std::numeric_limits<Scalar>::infinity();
    alpha /= sum;
    total += std::log(static_cast<double>(sum));
  }
  return static_cast<Scalar>(total);
}

/// Sum of log P(x) over independent sequences (hmmlearn's score with lengths). The sequences are shared among
/// threads (parallel_for) and their log-likelihoods added in sequence order, so the sum does not depend on
/// the thread count.
template <typename Scalar>
Scalar log_likelihood(const Hmm<Scalar>& hmm, const std::vector<Sequence>& sequences) {
  std::vector<double> each(sequences.size());
  elm::detail::parallel_for(0, to_index(sequences.size()), [&](Index s) {
    each[static_cast<std::size_t>(s)] = static_cast<double>(log_likelihood(hmm, sequences[static_cast<std::size_t>(s)]));
  });
  double total = 0;
  for (const double value : each) total += value;
  return static_cast<Scalar>(total);
}

}  // namespace elm::classic

namespace elm::classic::detail {
template <typename Scalar>
void check_lattices(const classic::ForwardLattice<Scalar>& fwd, const classic::BackwardLattice<Scalar>& bwd, const char* where) {
  ELM_EXPECT(fwd.alpha.rows() == bwd.beta.rows() && fwd.alpha.cols() == bwd.beta.cols(), ShapeError, where,
             ": alpha is ", fwd.alpha.rows(), "x", fwd.alpha.cols(), ", beta is ", bwd.beta.rows(), "x",
             bwd.beta.cols(), ", expected the same N x T");
  ELM_EXPECT(std::isfinite(fwd.log_likelihood) && std::isfinite(bwd.log_likelihood), NumericalError, where,
             ": the sequence has probability zero under the model, so its posteriors are undefined");
}
}  // namespace elm::classic::detail

namespace elm::classic {

/// State posteriors gamma_t(i) = P(z_t = i | x) = alpha_t(i) beta_t(i) / sum_j alpha_t(j) beta_t(j).
/// -> (N, T); each column sums to one (hmmlearn's predict_proba, transposed). Throws NumericalError when
/// the sequence is impossible.
template <typename Scalar>
Matrix<Scalar> posteriors(const ForwardLattice<Scalar>& fwd, const BackwardLattice<Scalar>& bwd) {
  detail::check_lattices(fwd, bwd, "elm::classic::posteriors");
  Matrix<Scalar> gamma = fwd.alpha.cwiseProduct(bwd.beta);
  for (Index t = 0; t < gamma.cols(); ++t) gamma.col(t) /= gamma.col(t).sum();
  return gamma;
}

/// State posteriors of one sequence: (N, T). See posteriors(fwd, bwd).
template <typename Scalar>
Matrix<Scalar> posteriors(const Hmm<Scalar>& hmm, const Sequence& obs) {
  return posteriors(forward(hmm, obs), backward(hmm, obs));
}

/// Calls f(t, xi_t) for t = 0..T-2 with the pairwise posterior xi_t(i, j) = P(z_t = i, z_t+1 = j | x)
///   = alpha_t(i) A_ij B(j, x_t+1) beta_t+1(j) / (norm(t) alpha_t . beta_t)
/// where the denominator is sum_ij of the numerator, since A (B(., x_t+1) o beta_t+1) = norm(t) beta_t.
template <typename Scalar, typename F>
void for_each_pair_posterior(const Hmm<Scalar>& hmm, const Sequence& obs, const ForwardLattice<Scalar>& fwd,
                             const BackwardLattice<Scalar>& bwd, F&& f) {
  constexpr const char* where = "elm::classic::pair_posteriors";
  detail::check_lattices(fwd, bwd, where);
  ELM_EXPECT(to_index(obs.size()) == fwd.alpha.cols(), ShapeError, where, ": obs has ", obs.size(),
             " steps, the lattices have ", fwd.alpha.cols());
  const Index n = hmm.n_states();
  Matrix<Scalar> xi(n, n);
  Vector<Scalar> weighted(n);
  for (Index t = 0; t + 1 < fwd.alpha.cols(); ++t) {
    const Scalar z = bwd.norm(t) * fwd.alpha.col(t).dot(bwd.beta.col(t));
    weighted = hmm.emissionprob().col(obs[static_cast<std::size_t>(t + 1)]).cwiseProduct(bwd.beta.col(t + 1)) / z;
    xi.noalias() = fwd.alpha.col(t) * weighted.transpose();
    xi = xi.cwiseProduct(hmm.transmat());
    f(t, static_cast<const Matrix<Scalar>&>(xi));
  }
}

/// Pairwise posteriors of one sequence: T-1 matrices (N, N), xi_t(i, j) = P(z_t = i, z_t+1 = j | x).
template <typename Scalar>
std::vector<Matrix<Scalar>> pair_posteriors(const Hmm<Scalar>& hmm, const Sequence& obs) {
  const auto fwd = forward(hmm, obs);
  const auto bwd = backward(hmm, obs);
  std::vector<Matrix<Scalar>> out;
  out.reserve(obs.size() - 1);
  for_each_pair_posterior(hmm, obs, fwd, bwd, [&](Index, const Matrix<Scalar>& xi) { out.push_back(xi); });
  return out;
}

/// Expected transition counts sum_t xi_t: (N, N), computed as A o (alpha_0..T-2 W^T) with W's column t the
/// weighted backward vector of step t+1: one (N, T-1) x (T-1, N) product instead of T-1 outer products.
template <typename Scalar>
Matrix<Scalar> xi_sum(const Hmm<Scalar>& hmm, const Sequence& obs, const ForwardLattice<Scalar>& fwd,
                      const BackwardLattice<Scalar>& bwd) {
  constexpr const char* where = "elm::classic::xi_sum";
  detail::check_lattices(fwd, bwd, where);
  ELM_EXPECT(to_index(obs.size()) == fwd.alpha.cols(), ShapeError, where, ": obs has ", obs.size(),
             " steps, the lattices have ", fwd.alpha.cols());
  const Index n = hmm.n_states();
  const Index length = fwd.alpha.cols();
  if (length < 2) return Matrix<Scalar>::Zero(n, n);
  Matrix<Scalar> w(n, length - 1);
  for (Index t = 0; t + 1 < length; ++t) {
    const Scalar z = bwd.norm(t) * fwd.alpha.col(t).dot(bwd.beta.col(t));
    w.col(t) = hmm.emissionprob().col(obs[static_cast<std::size_t>(t + 1)]).cwiseProduct(bwd.beta.col(t + 1)) / z;
  }
  Matrix<Scalar> counts(n, n);
  counts.noalias() = fwd.alpha.leftCols(length - 1) * w.transpose();
  return counts.cwiseProduct(hmm.transmat());
}

}  // namespace elm::classic
