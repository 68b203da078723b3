// SPDX-License-Identifier: MIT
// BaumWelch: expectation-maximization for an Hmm over many sequences, as hmmlearn's CategoricalHMM.fit does it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// Options of BaumWelch, with hmmlearn's CategoricalHMM defaults. A prior of 1 is plain maximum likelihood;
/// a prior p adds p - 1 pseudo-counts (Dirichlet MAP), clipped at zero.
struct BaumWelchOptions {
  Index n_iter = 10;     ///< at most this many EM iterations
  double tol = 1e-2;     ///< stop when the log-likelihood gains less than this (or decreases)
  bool update_startprob = true;
  bool update_transmat = true;
  bool update_emissionprob = true;
  double startprob_prior = 1.0;
  double transmat_prior = 1.0;
  double emissionprob_prior = 1.0;
};

/// What fit observed. history[k] is the total log-likelihood of the data under the tables *before* the
/// k-th M-step (hmmlearn's monitor_.history); EM guarantees it never decreases beyond rounding.
/// converged is true when the run stopped because the gain fell below tol (hmmlearn's monitor_.converged
/// is also true when the run merely reached n_iter).
struct ConvergenceMonitor {
  std::vector<double> history;
  Index iterations = 0;
  bool converged = false;
};

/// Expected sufficient statistics of an E-step: start (N) = sum of gamma_0, trans (N, N) = sum of xi_t,
/// emission (N, V) with emission(i, k) = sum of gamma_t(i) over steps where x_t = k.
template <typename Scalar>
struct HmmStatistics {
  Vector<Scalar> start;
  Matrix<Scalar> trans;
  Matrix<Scalar> emission;
  double log_likelihood = 0;
};

}  // namespace elm::classic

namespace elm::classic::detail {

/// The E-step for N <= W states with every vector padded to the compile-time width W (zeros in the padding),
/// so the per-step products are unrolled and run on SIMD packets. Rabiner's scaling: the forward pass stores
/// alpha_t / P(x_0..t) and the step probabilities s_t = P(x_t | x_0..t-1); the backward pass divides by the
/// same s_t, so alpha_t o beta_t is gamma_t and alpha_t (B(., x_t+1) o beta_t+1 / s_t+1)^T o A is xi_t.
/// Each sequence's pass (forward, backward, its xi sum as one (W, T-1) x (T-1, W) product) is independent, so
/// batches of sequences are shared among threads (parallel_for); their gamma columns, xi sums and
/// log-likelihoods are then added to the totals in sequence order, so the statistics are the same, to the
/// bit, with any number of threads. Throws NumericalError when a sequence is impossible.
template <int W, typename Scalar>
void expected_counts_padded(const classic::Hmm<Scalar>& hmm, const std::vector<classic::Sequence>& sequences,
                            classic::HmmStatistics<Scalar>& stats, const char* where) {
  using Column = Eigen::Matrix<Scalar, W, 1>;
  using Square = Eigen::Matrix<Scalar, W, W>;
  const Index n = hmm.n_states();
  const Index v = hmm.n_symbols();
  Square a = Square::Zero();
  a.topLeftCorner(n, n) = hmm.transmat();
  const Square a_t = a.transpose();
  Matrix<Scalar> b = Matrix<Scalar>::Zero(W, v);
  b.topRows(n) = hmm.emissionprob();
  Column pi = Column::Zero();
  pi.head(n) = hmm.startprob();

  // What one sequence contributes: gamma (W, T), sum_t alpha_t u_t+1^T, log P(x).
  struct SequenceCounts {
    Matrix<Scalar> gamma;
    Square pairs;
    double log_likelihood = 0;
  };
  auto count = [&](std::size_t s, SequenceCounts& out) {
    const classic::Sequence& x = sequences[s];
    const Index length = to_index(x.size());
    Matrix<Scalar> alpha(W, length), weighted(W, length);
    std::vector<Scalar> step(x.size());  // 1 / s_t
    out.gamma.resize(W, length);
    out.log_likelihood = 0;
    // 1) forward: alpha_t = (A^T alpha_t-1) o B(., x_t), normalized by s_t.
    Column cur = pi.cwiseProduct(b.col(x[0]));
    for (Index t = 0; t < length; ++t) {
      if (t > 0) {
        const auto prev = alpha.col(t - 1);
        Column predicted = a_t.col(0) * prev(0);
        for (Index i = 1; i < n; ++i) predicted += a_t.col(i) * prev(i);
        cur = predicted.cwiseProduct(b.col(x[static_cast<std::size_t>(t)]));
      }
      const Scalar sum = cur.sum();
      check_step_sum(sum, static_cast<std::size_t>(t), where);
      ELM_EXPECT(sum > Scalar(0), NumericalError, where, ": sequence ", s,
                 " has probability zero under the current tables");
      const Scalar inverse = Scalar(1) / sum;  // one division a step; the columns are multiplied by it
      alpha.col(t) = cur * inverse;
      step[static_cast<std::size_t>(t)] = inverse;
      out.log_likelihood += std::log(static_cast<double>(sum));
    }
    // 2) backward: gamma_t = alpha_t o beta_t and the weights u_t of xi_t-1.
    Column beta = Column::Ones();
    for (Index t = length - 1; t >= 0; --t) {
      out.gamma.col(t) = alpha.col(t).cwiseProduct(beta);
      if (t == 0) break;
      const Column u = b.col(x[static_cast<std::size_t>(t)]).cwiseProduct(beta) * step[static_cast<std::size_t>(t)];
      weighted.col(t - 1) = u;
      Column next = a.col(0) * u(0);
      for (Index j = 1; j < n; ++j) next += a.col(j) * u(j);
      beta = next;
    }
    // 3) sum_t alpha_t u_t+1^T.
    out.pairs.setZero();
    if (length > 1) out.pairs.noalias() = alpha.leftCols(length - 1) * weighted.leftCols(length - 1).transpose();
  };

  Column start = Column::Zero();
  Square pair_counts = Square::Zero();
  Matrix<Scalar> emission = Matrix<Scalar>::Zero(W, v);
  double log_likelihood = 0;
  // Batches of consecutive sequences of at most batch_steps observations (or one longer sequence) bound the
  // memory the gamma columns take while they wait for the ordered reduction.
  constexpr std::size_t batch_steps = std::size_t(1) << 18;
  std::vector<SequenceCounts> counts;
  for (std::size_t first = 0; first < sequences.size();) {
    std::size_t last = first + 1, steps = sequences[first].size();
    while (last < sequences.size() && steps + sequences[last].size() <= batch_steps) steps += sequences[last++].size();
    if (counts.size() < last - first) counts.resize(last - first);
    elm::detail::parallel_for(0, to_index(last - first), [&](Index k) {
      count(first + static_cast<std::size_t>(k), counts[static_cast<std::size_t>(k)]);
    });
    for (std::size_t s = first; s < last; ++s) {
      const SequenceCounts& c = counts[s - first];
      const classic::Sequence& x = sequences[s];
      for (Index t = to_index(x.size()) - 1; t >= 0; --t) emission.col(x[static_cast<std::size_t>(t)]) += c.gamma.col(t);
      start += c.gamma.col(0);
      pair_counts += c.pairs;
      log_likelihood += c.log_likelihood;
    }
    first = last;
  }
  stats.start = start.head(n);
  stats.trans = pair_counts.cwiseProduct(a).topLeftCorner(n, n);
  stats.emission = emission.topRows(n);
  stats.log_likelihood = log_likelihood;
}

}  // namespace elm::classic::detail

namespace elm::classic {

/// Baum-Welch (EM) training of an Hmm. Holds only options, so one trainer can fit many models.
template <typename Scalar = double>
class BaumWelch {
 public:
  /// Called after each iteration with (iteration, log-likelihood before that iteration's M-step).
  using Progress = std::function<void(Index, double)>;

  explicit BaumWelch(BaumWelchOptions options = {}) : options_(options) {
    constexpr const char* where = "elm::classic::BaumWelch";
    ELM_EXPECT(options_.n_iter >= 1, InvalidArgument, where, ": n_iter = ", options_.n_iter, ", expected >= 1");
    ELM_EXPECT(!std::isnan(options_.tol), InvalidArgument, where, ": tol is NaN, expected a number");
    ELM_EXPECT(std::isfinite(options_.startprob_prior) && std::isfinite(options_.transmat_prior) &&
                   std::isfinite(options_.emissionprob_prior),
               InvalidArgument, where, ": the priors must be finite");
  }

  const BaumWelchOptions& options() const { return options_; }

  /// E-step: posteriors of every sequence under hmm, summed. Throws InvalidArgument when there are no
  /// sequences or one is empty, RangeError on a symbol id >= V, NumericalError when a sequence is impossible.
  HmmStatistics<Scalar> expected_counts(const Hmm<Scalar>& hmm, const std::vector<Sequence>& sequences) const {
    constexpr const char* where = "elm::classic::BaumWelch::expected_counts";
    ELM_EXPECT(!sequences.empty(), InvalidArgument, where, ": no sequences, expected at least one");
    const Index n = hmm.n_states();
    HmmStatistics<Scalar> stats;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      ELM_EXPECT(!sequences[s].empty(), InvalidArgument, where, ": sequence ", s, " is empty, expected T >= 1");
      hmm.check_sequence(sequences[s], where);
    }
    constexpr int packet = detail::hmm_packet<Scalar>;
    const bool padded = detail::hmm_dispatch_width<packet, packet>(n, [&](auto width) {
      constexpr int W = decltype(width)::value;
      if constexpr (W > 0 && W <= 16) {
        detail::expected_counts_padded<W>(hmm, sequences, stats, where);
        return true;
      } else {
        return false;
      }
    });
    if (padded) return stats;
    // Larger N: the lattices of forward_backward.hpp, whose products are already efficient at that size.
    stats.start = Vector<Scalar>::Zero(n);
    stats.trans = Matrix<Scalar>::Zero(n, n);
    stats.emission = Matrix<Scalar>::Zero(n, hmm.n_symbols());
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      const Sequence& obs = sequences[s];
      ELM_EXPECT(!obs.empty(), InvalidArgument, where, ": sequence ", s, " is empty, expected T >= 1");
      const auto fwd = forward(hmm, obs);
      const auto bwd = backward(hmm, obs);
      ELM_EXPECT(std::isfinite(fwd.log_likelihood), NumericalError, where, ": sequence ", s,
                 " has probability zero under the current tables");
      stats.log_likelihood += static_cast<double>(fwd.log_likelihood);
      // gamma_t = alpha_t o beta_t / (alpha_t . beta_t): add to the start and emission counts.
      for (Index t = 0; t < fwd.alpha.cols(); ++t) {
        const Scalar z = fwd.alpha.col(t).dot(bwd.beta.col(t));
        if (t == 0) stats.start += fwd.alpha.col(0).cwiseProduct(bwd.beta.col(0)) / z;
        stats.emission.col(obs[static_cast<std::size_t>(t)]) += fwd.alpha.col(t).cwiseProduct(bwd.beta.col(t)) / z;
      }
      if (obs.size() > 1) stats.trans += xi_sum(hmm, obs, fwd, bwd);
    }
    return stats;
  }

  /// Runs up to n_iter EM iterations from hmm's current tables and leaves the re-estimated tables in hmm.
  /// Each iteration is an E-step (its log-likelihood goes to history), then an M-step; the run stops after
  /// n_iter iterations or once history[-1] - history[-2] < tol, exactly as hmmlearn's fit.
  /// M-step: p = max(prior - 1 + counts, 0), normalized per row; start and transition entries that are
  /// exactly zero stay zero (so a left-right structure survives). A row whose counts are all zero (a state
  /// never visited) keeps its previous values, where hmmlearn would leave zeros and an invalid table.
  /// Complexity per iteration: O(total T N^2 + N V).
  ConvergenceMonitor fit(Hmm<Scalar>& hmm, const std::vector<Sequence>& sequences, const Progress& progress = {}) const {
    ConvergenceMonitor monitor;
    for (Index iteration = 0; iteration < options_.n_iter; ++iteration) {
      const HmmStatistics<Scalar> stats = expected_counts(hmm, sequences);
      maximize(hmm, stats);
      monitor.history.push_back(stats.log_likelihood);
      monitor.iterations = iteration + 1;
      if (progress) progress(iteration, stats.log_likelihood);
      const std::size_t k = monitor.history.size();
      if (k >= 2 && monitor.history[k - 1] - monitor.history[k - 2] < options_.tol) {
        monitor.converged = true;
        break;
      }
    }
    return monitor;
  }

  /// M-step alone: re-estimates hmm's tables from stats (see fit).
  void maximize(Hmm<Scalar>& hmm, const HmmStatistics<Scalar>& stats) const {
    constexpr const char* where = "elm::classic::BaumWelch::maximize";
    const Index n = hmm.n_states();
    check_shape(stats.start, n, 1, where, "stats.start");
    check_shape(stats.trans, n, n, where, "stats.trans");
    check_shape(stats.emission, n, hmm.n_symbols(), where, "stats.emission");
    Vector<Scalar> start = hmm.startprob();
    Matrix<Scalar> trans = hmm.transmat();
    Matrix<Scalar> emission = hmm.emissionprob();
    if (options_.update_startprob) {
      Matrix<Scalar> row = start.transpose();
      update_row(row, stats.start.transpose(), options_.startprob_prior, true);
      start = row.transpose();
    }
    if (options_.update_transmat)
      for (Index i = 0; i < n; ++i) {
        Matrix<Scalar> row = trans.row(i);
        update_row(row, stats.trans.row(i), options_.transmat_prior, true);
        trans.row(i) = row;
      }
    if (options_.update_emissionprob)
      for (Index i = 0; i < n; ++i) {
        Matrix<Scalar> row = emission.row(i);
        update_row(row, stats.emission.row(i), options_.emissionprob_prior, false);
        emission.row(i) = row;
      }
    hmm.set_tables(std::move(start), std::move(trans), std::move(emission));
  }

 private:
  template <typename Counts>
  static void update_row(Matrix<Scalar>& row, const Counts& counts, double prior, bool keep_zeros) {
    Matrix<Scalar> updated(1, row.cols());
    for (Index j = 0; j < row.cols(); ++j) {
      const Scalar value = std::max(static_cast<Scalar>(prior - 1.0) + counts(j), Scalar(0));
      updated(0, j) = keep_zeros && row(0, j) == Scalar(0) ? Scalar(0) : value;
    }
    const Scalar sum = updated.sum();
    if (sum > Scalar(0)) row = updated / sum;
  }

  BaumWelchOptions options_;
};

}  // namespace elm::classic
