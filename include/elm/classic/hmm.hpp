// SPDX-License-Identifier: MIT
// Hmm: a hidden Markov model with categorical emissions (start, transition and emission tables), checked.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// A sequence of symbol ids (or state ids), each in [0, V) (or [0, N)).
using Sequence = std::vector<Index>;

/// A row of a named table: (name, probability) pairs, e.g. {{"A", 0.5}, {"B", 0.5}}. Absent names are 0.
using NamedRow = std::vector<std::pair<std::string, double>>;
/// A named table: (row name, row) pairs, e.g. {{"A", {{"A", 0.5}, {"B", 0.5}}}, {"B", {...}}}.
using NamedTable = std::vector<std::pair<std::string, NamedRow>>;

/// How far a row of probabilities may be from summing to one: 1e-6 in double (hmmlearn's np.allclose
/// allows about 1e-5), 1e-4 in float, where a 1,000-entry row already carries rounding near 1e-5.
template <typename Scalar>
inline constexpr Scalar hmm_sum_tolerance = std::is_same_v<Scalar, float> ? Scalar(1e-4) : Scalar(1e-6);

/// A draw from an Hmm: the hidden states and the symbols they emitted, both of length T.
struct HmmSample {
  Sequence states;
  Sequence symbols;
};

/// Hidden Markov model with N states and V categorical symbols, in hmmlearn's CategoricalHMM layout:
///   startprob (N):        pi_i = P(z_0 = i)
///   transmat (N, N):      A_ij = P(z_t+1 = j | z_t = i), each row sums to one
///   emissionprob (N, V):  B_ik = P(x_t = k | z_t = i), each row sums to one
/// The column B.col(k) (all states' probability of symbol k) is contiguous, which is what the
/// recursions read at each step. The natural logs of the tables are cached for Viterbi decoding.
/// States and symbols may carry names (then `state_id`/`symbol_id`/`encode` map names to ids).
/// A constructed Hmm is immutable except through set_tables (which checks again), so it can be
/// queried from several threads at once.
template <typename Scalar = double>
class Hmm {
  static_assert(std::is_floating_point_v<Scalar>, "Hmm needs a floating-point Scalar");

 public:
  /// Checks and stores the tables. Throws ShapeError when the sizes disagree (N or V zero, transmat not
  /// N x N, emissionprob not N rows), InvalidArgument when an entry is negative or not finite or a row
  /// does not sum to one within `tolerance`.
  Hmm(Vector<Scalar> startprob, Matrix<Scalar> transmat, Matrix<Scalar> emissionprob,
      Scalar tolerance = hmm_sum_tolerance<Scalar>)
      : tolerance_(tolerance) {
    set_tables(std::move(startprob), std::move(transmat), std::move(emissionprob));
  }

  /// Builds a model from named tables, as Python's nested dicts of state and symbol names write them:
  ///   start = {{"A", 0.6}, {"B", 0.4}}, transition = {{"A", {{"A", 0.5}, {"B", 0.5}}}, ...},
  ///   emission = {{"A", {{"hello", 0.7}, {"world", 0.3}}}, ...}.
  /// States are numbered in the order of `transition`'s rows, symbols in order of first appearance in
  /// `emission`. Names absent from a row have probability 0. Throws InvalidArgument on a duplicate or
  /// unknown state name, a missing emission row, or any table check of the main constructor.
  static Hmm from_named(const NamedRow& start, const NamedTable& transition, const NamedTable& emission,
                        Scalar tolerance = hmm_sum_tolerance<Scalar>) {
    constexpr const char* where = "elm::classic::Hmm::from_named";
    std::vector<std::string> states;
    std::unordered_map<std::string, Index> state_ids;
    for (const auto& row : transition) {
      ELM_EXPECT(state_ids.emplace(row.first, to_index(states.size())).second, InvalidArgument, where,
                 ": state \"", row.first, "\" has two transition rows, expected one");
      states.push_back(row.first);
    }
    ELM_EXPECT(!states.empty(), ShapeError, where, ": the transition table has no rows, expected at least one state");
    std::vector<std::string> symbols;
    std::unordered_map<std::string, Index> symbol_ids;
    for (const auto& row : emission)
      for (const auto& entry : row.second)
        if (symbol_ids.emplace(entry.first, to_index(symbols.size())).second) symbols.push_back(entry.first);
    const Index n = to_index(states.size());
    const Index v = to_index(symbols.size());
    ELM_EXPECT(v > 0, ShapeError, where, ": the emission table names no symbol, expected at least one");

    auto state_of = [&](const std::string& name, const char* table) {
      const auto it = state_ids.find(name);
      ELM_EXPECT(it != state_ids.end(), InvalidArgument, where, ": ", table, " names state \"", name,
                 "\", which has no transition row");
      return it->second;
    };
    auto fill_row = [&](const NamedRow& row, const std::unordered_map<std::string, Index>& ids, auto&& set,
                        const char* table, const std::string& row_name, const char* kind) {
      std::vector<bool> seen(ids.size(), false);
      for (const auto& entry : row) {
        const auto it = ids.find(entry.first);
        ELM_EXPECT(it != ids.end(), InvalidArgument, where, ": ", table, " row \"", row_name, "\" names \"",
                   entry.first, "\", which is not a ", kind);
        const auto id = static_cast<std::size_t>(it->second);
        ELM_EXPECT(!seen[id], InvalidArgument, where, ": ", table, " row \"", row_name, "\" gives \"", entry.first,
                   "\" twice");
        seen[id] = true;
        set(it->second, static_cast<Scalar>(entry.second));
      }
    };
    Vector<Scalar> pi = Vector<Scalar>::Zero(n);
    fill_row(start, state_ids, [&](Index j, Scalar p) { pi(j) = p; }, "start", "start", "state");
    Matrix<Scalar> a = Matrix<Scalar>::Zero(n, n);
    for (const auto& row : transition) {
      const Index i = state_of(row.first, "transition");
      fill_row(row.second, state_ids, [&](Index j, Scalar p) { a(i, j) = p; }, "transition", row.first, "state");
    }
    Matrix<Scalar> b = Matrix<Scalar>::Zero(n, v);
    std::vector<bool> has_row(states.size(), false);
    for (const auto& row : emission) {
      const Index i = state_of(row.first, "emission");
      ELM_EXPECT(!has_row[static_cast<std::size_t>(i)], InvalidArgument, where, ": state \"", row.first,
                 "\" has two emission rows, expected one");
      has_row[static_cast<std::size_t>(i)] = true;
      fill_row(row.second, symbol_ids, [&](Index k, Scalar p) { b(i, k) = p; }, "emission", row.first, "symbol");
    }
    for (Index i = 0; i < n; ++i)
      ELM_EXPECT(has_row[static_cast<std::size_t>(i)], InvalidArgument, where, ": state \"",
                 states[static_cast<std::size_t>(i)], "\" has no emission row");
    Hmm model(std::move(pi), std::move(a), std::move(b), tolerance);
    model.set_names(std::move(states), std::move(symbols));
    return model;
  }

  Index n_states() const { return transmat_.rows(); }
  Index n_symbols() const { return emissionprob_.cols(); }

  const Vector<Scalar>& startprob() const { return startprob_; }
  const Matrix<Scalar>& transmat() const { return transmat_; }
  const Matrix<Scalar>& emissionprob() const { return emissionprob_; }
  /// Natural logs of the tables (log 0 = -inf), cached for decoding.
  const Vector<Scalar>& log_startprob() const { return log_startprob_; }
  const Matrix<Scalar>& log_transmat() const { return log_transmat_; }
  const Matrix<Scalar>& log_emissionprob() const { return log_emissionprob_; }
  Scalar tolerance() const { return tolerance_; }

  /// Replaces the tables after the same checks as the constructor (strong guarantee: unchanged on throw).
  /// The sizes may change only if the model has no names.
  void set_tables(Vector<Scalar> startprob, Matrix<Scalar> transmat, Matrix<Scalar> emissionprob) {
    check_tables(startprob, transmat, emissionprob, tolerance_, "elm::classic::Hmm");
    ELM_EXPECT(state_names_.empty() || to_index(state_names_.size()) == transmat.rows(), ShapeError,
               "elm::classic::Hmm::set_tables: the model names ", state_names_.size(), " states, got tables for ",
               transmat.rows());
    ELM_EXPECT(symbol_names_.empty() || to_index(symbol_names_.size()) == emissionprob.cols(), ShapeError,
               "elm::classic::Hmm::set_tables: the model names ", symbol_names_.size(), " symbols, got tables for ",
               emissionprob.cols());
    startprob_ = std::move(startprob);
    transmat_ = std::move(transmat);
    emissionprob_ = std::move(emissionprob);
    log_startprob_ = startprob_.array().log().matrix();
    log_transmat_ = transmat_.array().log().matrix();
    log_emissionprob_ = emissionprob_.array().log().matrix();
  }

  /// Names the states (N names) and the symbols (V names); empty vectors remove the names. Throws
  /// ShapeError on a count mismatch, InvalidArgument on a duplicate name.
  void set_names(std::vector<std::string> state_names, std::vector<std::string> symbol_names) {
    constexpr const char* where = "elm::classic::Hmm::set_names";
    ELM_EXPECT(state_names.empty() || to_index(state_names.size()) == n_states(), ShapeError, where, ": got ",
               state_names.size(), " state names, expected N = ", n_states());
    ELM_EXPECT(symbol_names.empty() || to_index(symbol_names.size()) == n_symbols(), ShapeError, where, ": got ",
               symbol_names.size(), " symbol names, expected V = ", n_symbols());
    std::unordered_map<std::string, Index> state_ids, symbol_ids;
    for (std::size_t i = 0; i < state_names.size(); ++i)
      ELM_EXPECT(state_ids.emplace(state_names[i], to_index(i)).second, InvalidArgument, where, ": state name \"",
                 state_names[i], "\" appears twice");
    for (std::size_t k = 0; k < symbol_names.size(); ++k)
      ELM_EXPECT(symbol_ids.emplace(symbol_names[k], to_index(k)).second, InvalidArgument, where,
                 ": symbol name \"", symbol_names[k], "\" appears twice");
    state_names_ = std::move(state_names);
    symbol_names_ = std::move(symbol_names);
    state_ids_ = std::move(state_ids);
    symbol_ids_ = std::move(symbol_ids);
  }

  const std::vector<std::string>& state_names() const { return state_names_; }
  const std::vector<std::string>& symbol_names() const { return symbol_names_; }

  /// Id of a named state; throws InvalidArgument when the name is unknown.
  Index state_id(const std::string& name) const {
    const auto it = state_ids_.find(name);
    ELM_EXPECT(it != state_ids_.end(), InvalidArgument, "elm::classic::Hmm::state_id: unknown state \"", name, "\"");
    return it->second;
  }
  /// Id of a named symbol; throws InvalidArgument when the name is unknown.
  Index symbol_id(const std::string& name) const {
    const auto it = symbol_ids_.find(name);
    ELM_EXPECT(it != symbol_ids_.end(), InvalidArgument, "elm::classic::Hmm::symbol_id: unknown symbol \"", name,
               "\"");
    return it->second;
  }
  /// Maps symbol names to ids.
  Sequence encode(const std::vector<std::string>& symbols) const {
    Sequence ids;
    ids.reserve(symbols.size());
    for (const auto& s : symbols) ids.push_back(symbol_id(s));
    return ids;
  }
  /// Maps state ids to names (the model must be named).
  std::vector<std::string> state_names_of(const Sequence& states) const {
    ELM_EXPECT(!state_names_.empty(), InvalidArgument, "elm::classic::Hmm::state_names_of: the states have no names");
    std::vector<std::string> names;
    names.reserve(states.size());
    for (Index s : states) {
      check_id(s, n_states(), "elm::classic::Hmm::state_names_of", "state id");
      names.push_back(state_names_[static_cast<std::size_t>(s)]);
    }
    return names;
  }

  /// Throws unless obs is a usable observation sequence: InvalidArgument when empty, RangeError naming the
  /// position when a symbol id is outside [0, V). `where` names the caller.
  void check_sequence(const Sequence& obs, const char* where) const {
    ELM_EXPECT(!obs.empty(), InvalidArgument, where, ": the observation sequence is empty, expected T >= 1");
    const Index v = n_symbols();
    for (std::size_t t = 0; t < obs.size(); ++t)
      ELM_EXPECT(obs[t] >= 0 && obs[t] < v, RangeError, where, ": symbol id ", obs[t], " at position ", t,
                 " is out of range, expected 0 <= id < V = ", v);
  }

  /// Draws T steps: z_0 ~ pi, z_t+1 ~ A(z_t, .), x_t ~ B(z_t, .), by inversion of uniform draws.
  HmmSample sample(Index length, Rng& rng) const {
    ELM_EXPECT(length >= 0, InvalidArgument, "elm::classic::Hmm::sample: length ", length, " is negative");
    HmmSample out;
    out.states.resize(to_size(length));
    out.symbols.resize(to_size(length));
    Index z = 0;
    for (Index t = 0; t < length; ++t) {
      z = t == 0 ? draw(startprob_, rng) : draw(transmat_.row(z), rng);
      out.states[static_cast<std::size_t>(t)] = z;
      out.symbols[static_cast<std::size_t>(t)] = draw(emissionprob_.row(z), rng);
    }
    return out;
  }

  /// Checks tables without building a model (same rules and messages as the constructor).
  static void check_tables(const Vector<Scalar>& startprob, const Matrix<Scalar>& transmat,
                           const Matrix<Scalar>& emissionprob, Scalar tolerance, const char* where) {
    const Index n = transmat.rows();
    ELM_EXPECT(n > 0, ShapeError, where, ": transmat has 0 rows, expected N >= 1 states");
    check_shape(transmat, n, n, where, "transmat");
    check_shape(startprob, n, 1, where, "startprob");
    ELM_EXPECT(emissionprob.rows() == n && emissionprob.cols() > 0, ShapeError, where, ": emissionprob is ",
               emissionprob.rows(), "x", emissionprob.cols(), ", expected ", n, "xV with V >= 1");
    check_row(startprob.transpose(), tolerance, where, "startprob", -1);
    for (Index i = 0; i < n; ++i) check_row(transmat.row(i), tolerance, where, "transmat", i);
    for (Index i = 0; i < n; ++i) check_row(emissionprob.row(i), tolerance, where, "emissionprob", i);
  }

 private:
  template <typename Row>
  static void check_row(const Row& row, Scalar tolerance, const char* where, const char* name, Index i) {
    Scalar sum = 0;
    for (Index j = 0; j < row.size(); ++j) {
      const Scalar p = row(j);
      ELM_EXPECT(std::isfinite(p) && p >= 0, InvalidArgument, where, ": ", name,
                 i < 0 ? std::string() : elm::detail::concat("[", i, "]"), "[", j, "] = ", p,
                 ", expected a finite probability >= 0");
      sum += p;
    }
    ELM_EXPECT(std::abs(sum - Scalar(1)) <= tolerance, InvalidArgument, where, ": ", name,
               i < 0 ? std::string() : elm::detail::concat(" row ", i), " sums to ", sum, ", expected 1 within ",
               tolerance);
  }

  template <typename Row>
  static Index draw(const Row& p, Rng& rng) {
    const double u = rng.uniform();
    double cumulative = 0;
    Index last_positive = 0;
    for (Index j = 0; j < p.size(); ++j) {
      if (p(j) <= 0) continue;
      cumulative += static_cast<double>(p(j));
      last_positive = j;
      if (u < cumulative) return j;
    }
    return last_positive;  // u fell in the rounding gap between the row sum and 1
  }

  Vector<Scalar> startprob_, log_startprob_;
  Matrix<Scalar> transmat_, log_transmat_;
  Matrix<Scalar> emissionprob_, log_emissionprob_;
  Scalar tolerance_;
  std::vector<std::string> state_names_, symbol_names_;
  std::unordered_map<std::string, Index> state_ids_, symbol_ids_;
};

}  // namespace elm::classic

namespace elm::classic::detail {

/// The SIMD packet of the HMM recursions: Eigen's packet for Scalar, but at most 32 bytes (2 doubles with SSE2,
/// 4 with AVX and AVX-512). A 64-byte AVX-512 packet would pad N = 10 states to 16 instead of 12, and some
/// cores run it as two 32-byte halves anyway.
template <typename Scalar, bool Halve = (Eigen::internal::packet_traits<Scalar>::size * sizeof(Scalar) > 32)>
struct HmmPacketOf {
  using type = typename Eigen::internal::packet_traits<Scalar>::type;
  static constexpr bool type_is_half = false;
};
template <typename Scalar>
struct HmmPacketOf<Scalar, true> {
  using type = typename Eigen::internal::packet_traits<Scalar>::half;
  static constexpr bool type_is_half = true;
};
template <typename Scalar>
using HmmPacket = typename HmmPacketOf<Scalar>::type;

/// Scalars in an HmmPacket.
template <typename Scalar>
inline constexpr int hmm_packet =
    Eigen::internal::packet_traits<Scalar>::size / (HmmPacketOf<Scalar>::type_is_half ? 2 : 1);

/// Calls run(std::integral_constant<int, W>) with W the smallest multiple of Step (from W) that holds n states,
/// up to 16, then 32, then W = 0 (a run-time width) for larger n. The recursions pad the state dimension to W
/// so that their loops run on whole SIMD packets: N = 10 doubles take 5 SSE2 packets, 3 AVX packets.
template <int W, int Step, typename Run>
decltype(auto) hmm_dispatch_width(Index n, Run&& run) {
  if constexpr (W > 16) {
    if (n <= 32) return run(std::integral_constant<int, 32>{});
    return run(std::integral_constant<int, 0>{});
  } else {
    if (n <= W) return run(std::integral_constant<int, W>{});
    return hmm_dispatch_width<W + Step, Step>(n, std::forward<Run>(run));
  }
}

}  // namespace elm::classic::detail
