// SPDX-License-Identifier: MIT
// Supervised maximum-likelihood estimation of an Hmm from sequences whose states are known, with add-k.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "elm/classic/hmm.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// Options of estimate_supervised. Each k is added to every count of its table (add-k / Lidstone; k = 1 is
/// Laplace, k = 0 plain maximum likelihood).
struct SupervisedOptions {
  double start_k = 0.0;
  double transition_k = 0.0;
  double emission_k = 0.0;
  /// Append an unknown symbol with id V (the model then has V + 1 symbols). Its count in state i is the
  /// number of state-i tokens whose symbol occurs once in all the data (Good and Turing's estimate of
  /// the mass of unseen events), plus emission_k. Map out-of-vocabulary input to id V before decoding.
  bool unknown_symbol = false;
};

/// Counts starts, transitions and emissions in fully observed sequences and normalizes them:
///   pi_i = (c(z_0 = i) + k_s) / (S + N k_s),  A_ij = (c(i -> j) + k_t) / (c(i ->) + N k_t),
///   B_ik = (c(i emits k) + k_e) / (c(i) + V' k_e),  V' = V (+ 1 with the unknown symbol).
/// states[s] and symbols[s] are the same length; states in [0, N), symbols in [0, V).
/// Throws ShapeError when the two lists or a pair of sequences differ in length, InvalidArgument on an
/// empty sequence, a negative or non-finite k, or a state with no outgoing transition or no emission when
/// its k is zero (the row would be 0/0), RangeError on an id out of range.
template <typename Scalar = double>
Hmm<Scalar> estimate_supervised(const std::vector<Sequence>& states, const std::vector<Sequence>& symbols,
                                Index n_states, Index n_symbols, const SupervisedOptions& options = {}) {
  constexpr const char* where = "elm::classic::estimate_supervised";
  ELM_EXPECT(n_states >= 1 && n_symbols >= 1, ShapeError, where, ": N = ", n_states, ", V = ", n_symbols,
             ", expected both >= 1");
  ELM_EXPECT(states.size() == symbols.size(), ShapeError, where, ": ", states.size(), " state sequences and ",
             symbols.size(), " symbol sequences, expected as many");
  ELM_EXPECT(!states.empty(), InvalidArgument, where, ": no sequences, expected at least one");
  for (double k : {options.start_k, options.transition_k, options.emission_k})
    ELM_EXPECT(std::isfinite(k) && k >= 0.0, InvalidArgument, where, ": add-k constant ", k,
               ", expected a finite k >= 0");
  const Index v_out = n_symbols + (options.unknown_symbol ? 1 : 0);
  using Counts = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic>;
  Counts start = Counts::Zero(n_states, 1);
  Counts trans = Counts::Zero(n_states, n_states);
  Counts emit = Counts::Zero(n_states, v_out);
  std::vector<std::int64_t> symbol_total(static_cast<std::size_t>(n_symbols), 0);
  for (std::size_t s = 0; s < states.size(); ++s) {
    const Sequence& z = states[s];
    const Sequence& x = symbols[s];
    ELM_EXPECT(z.size() == x.size(), ShapeError, where, ": sequence ", s, " has ", z.size(), " states and ",
               x.size(), " symbols, expected as many");
    ELM_EXPECT(!z.empty(), InvalidArgument, where, ": sequence ", s, " is empty, expected T >= 1");
    for (std::size_t t = 0; t < z.size(); ++t) {
      ELM_EXPECT(z[t] >= 0 && z[t] < n_states, RangeError, where, ": state id ", z[t], " in sequence ", s,
                 " at position ", t, " is out of range, expected 0 <= id < N = ", n_states);
      ELM_EXPECT(x[t] >= 0 && x[t] < n_symbols, RangeError, where, ": symbol id ", x[t], " in sequence ", s,
                 " at position ", t, " is out of range, expected 0 <= id < V = ", n_symbols);
      if (t == 0) ++start(z[0], 0);
      else ++trans(z[t - 1], z[t]);
      ++emit(z[t], x[t]);
      ++symbol_total[static_cast<std::size_t>(x[t])];
    }
  }
  if (options.unknown_symbol)
    for (std::size_t s = 0; s < states.size(); ++s)
      for (std::size_t t = 0; t < states[s].size(); ++t)
        if (symbol_total[static_cast<std::size_t>(symbols[s][t])] == 1) ++emit(states[s][t], n_symbols);

  auto normalize = [&](const auto& counts, double k, const char* table) {
    Matrix<Scalar> p(counts.rows(), counts.cols());
    for (Index i = 0; i < counts.rows(); ++i) {
      const double total = static_cast<double>(counts.row(i).sum()) + k * static_cast<double>(counts.cols());
      ELM_EXPECT(total > 0.0, InvalidArgument, where, ": ", table, " row ", i,
                 " has no counts; state ", i, " never occurs there, so use an add-k constant > 0");
      for (Index j = 0; j < counts.cols(); ++j)
        p(i, j) = static_cast<Scalar>((static_cast<double>(counts(i, j)) + k) / total);
    }
    return p;
  };
  Matrix<Scalar> start_row = normalize(Counts(start.transpose()), options.start_k, "start");
  return Hmm<Scalar>(Vector<Scalar>(start_row.transpose()), normalize(trans, options.transition_k, "transition"),
                     normalize(emit, options.emission_k, "emission"));
}

}  // namespace elm::classic
