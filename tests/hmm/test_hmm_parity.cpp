// SPDX-License-Identifier: MIT
// Parity with hmmlearn 0.3.3's CategoricalHMM on the cases of tests/data/hmm/categorical_hmm.json.
#include <catch2/catch.hpp>

#include <cmath>

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/viterbi.hpp"
#include "hmm_fixture.hpp"

using namespace elm::classic;
using elm::Index;

// Tolerances: the 1e-9 relative for score, posteriors and Viterbi log-probabilities. Both sides
// are double; hmmlearn works in log space and we normalize per step, so they differ by rounding only
// (observed below 1e-13). Posteriors are compared with an absolute floor of 1e-12, since an entry
// of 1e-17 carries no relative precision in either implementation.

TEST_CASE("score, predict_proba and Viterbi decode match hmmlearn", "[hmm][parity]") {
  const auto doc = elm_test::load_hmm_fixture();
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"].get<std::string>();
    INFO("case " << name);
    const Hmm<double> hmm = elm_test::model_of(c);
    const auto sequences = elm_test::sequences_of(c);
    double worst_score = 0, worst_gamma = 0, worst_viterbi = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      INFO("sequence " << s);
      const double expected = c["score"][s].get<double>();
      const double got = log_likelihood(hmm, sequences[s]);
      const double score_err = std::abs(got - expected) / std::abs(expected);
      CHECK(score_err < 1e-9);
      CHECK(std::abs(forward(hmm, sequences[s]).log_likelihood - expected) / std::abs(expected) < 1e-9);
      CHECK(std::abs(backward(hmm, sequences[s]).log_likelihood - expected) / std::abs(expected) < 1e-9);

      const elm::Matrix<double> gamma = posteriors(hmm, sequences[s]);  // (N, T)
      const elm::Matrix<double> reference = elm_test::matrix_of(c["predict_proba"][s]).transpose();
      const auto err = elm_test::max_rel_error(gamma, reference, 1e-12 / 1e-9);
      INFO("posterior max rel error " << err.value << " at state " << err.row << ", step " << err.col);
      CHECK(err.value < 1e-9);

      const auto decoded = viterbi(hmm, sequences[s]);
      CHECK(decoded.path == c["viterbi_path"][s].get<Sequence>());
      const double expected_vit = c["viterbi_log_prob"][s].get<double>();
      const double vit_err = std::abs(decoded.log_prob - expected_vit) / std::abs(expected_vit);
      CHECK(vit_err < 1e-9);
      worst_score = std::max(worst_score, score_err);
      worst_gamma = std::max(worst_gamma, err.value);
      worst_viterbi = std::max(worst_viterbi, vit_err);
    }
    const auto all = viterbi(hmm, sequences);
    REQUIRE(all.size() == sequences.size());
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      CHECK(all[s].path == c["viterbi_path"][s].get<Sequence>());
      CHECK(all[s].log_prob == viterbi(hmm, sequences[s]).log_prob);
    }
    const double total = log_likelihood(hmm, sequences);
    CHECK(std::abs(total - c["score_total"].get<double>()) / std::abs(c["score_total"].get<double>()) < 1e-9);
    WARN(name << ": max rel error score " << worst_score << ", posteriors " << worst_gamma << ", Viterbi "
              << worst_viterbi);
  }
}

TEST_CASE("Baum-Welch from the same initial tables matches hmmlearn's fit", "[hmm][parity][baum_welch]") {
  const auto doc = elm_test::load_hmm_fixture();
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"].get<std::string>();
    const auto sequences = elm_test::sequences_of(c);
    for (const auto& fit : c["fits"]) {
      INFO("case " << name << ", n_iter " << fit["n_iter"].get<int>());
      Hmm<double> hmm = elm_test::model_of(c["init"]);
      BaumWelchOptions options;
      options.n_iter = fit["n_iter"].get<Index>();
      options.tol = fit["tol"].is_null() ? -std::numeric_limits<double>::infinity() : fit["tol"].get<double>();
      const ConvergenceMonitor monitor = BaumWelch<double>(options).fit(hmm, sequences);
      // Tables: 1e-6 absolute (the bound); the history: 1e-9 relative.
      const double start_err = (hmm.startprob() - elm_test::vector_of(fit["startprob"])).cwiseAbs().maxCoeff();
      const double trans_err = (hmm.transmat() - elm_test::matrix_of(fit["transmat"])).cwiseAbs().maxCoeff();
      const double emit_err = (hmm.emissionprob() - elm_test::matrix_of(fit["emissionprob"])).cwiseAbs().maxCoeff();
      CHECK(start_err < 1e-6);
      CHECK(trans_err < 1e-6);
      CHECK(emit_err < 1e-6);
      const auto history = fit["history"].get<std::vector<double>>();
      REQUIRE(monitor.history.size() == history.size());
      CHECK(monitor.iterations == fit["iterations"].get<Index>());
      double history_err = 0;
      for (std::size_t k = 0; k < history.size(); ++k)
        history_err = std::max(history_err, std::abs(monitor.history[k] - history[k]) / std::abs(history[k]));
      CHECK(history_err < 1e-9);
      WARN(name << " fit(" << history.size() << " iterations): max abs error start " << start_err << ", trans "
                << trans_err << ", emission " << emit_err << "; history max rel error " << history_err);
    }
  }
}
