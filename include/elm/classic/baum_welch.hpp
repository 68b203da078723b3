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
