// SPDX-License-Identifier: MIT
// Greedy decoding and beam search (Hugging Face's rules: length penalty, early stopping, n-best lists) for any
// sequence-to-sequence model that offers begin_decoding, decode_step and reorder.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::models {

/// When a source's beam search stops, Hugging Face's `early_stopping` (True, False, "never").
enum class EarlyStopping {
  /// True: as soon as num_beams hypotheses are finished.
  when_full,
  /// False (Hugging Face's default): once num_beams are finished and the best running hypothesis, scored at the
  /// current length, cannot beat the worst finished one. A heuristic: with length_penalty > 0 a longer
  /// continuation can still score higher, and it is not waited for.
  heuristic,
  /// "never": as `heuristic`, but with length_penalty > 0 the running hypothesis is scored at the longest length
  /// it could reach (max_length - 1 tokens), so the search stops only when no continuation can win (with
  /// length_penalty <= 0 the current length is already the most favourable one, and it is used).
  never,
};

/// Options of greedy() and beam_search(), Hugging Face GenerationConfig's names and defaults.
struct BeamSearchConfig {
  Index num_beams = 1;              ///< hypotheses kept per source (>= 1)
  double length_penalty = 1.0;      ///< a finished hypothesis scores sum_logprobs / length ** length_penalty
  EarlyStopping early_stopping = EarlyStopping::heuristic;
  Index num_return_sequences = 1;   ///< n-best list size per source, in [1, num_beams]
  Index max_length = 20;            ///< the target's length counting the start token: at most max_length - 1 tokens
  /// Hugging Face's min_length (MinLengthLogitsProcessor): while the target, counting the start token, is shorter
  /// than min_length, the end token's log-probability is -inf, so no hypothesis ends before min_length - 1 tokens.
  /// 0 (the default) or 1: no constraint; min_length >= max_length: the end token never comes.
  Index min_length = 0;
  int bos_id = -1;                  ///< the decoder's start token; -1: the model's bos_id()
  int eos_id = -1;                  ///< the end token; -1: the model's eos_id()
};

/// One decoded hypothesis: its tokens after the start token (the end token last when it was produced; a
/// hypothesis cut at max_length has none), the sum of their log-probabilities, and its score:
/// sum_logprobs / tokens.size() ** length_penalty.
struct Hypothesis {
  std::vector<int> tokens;
  double sum_logprobs = 0.0;
  double score = 0.0;
};

namespace detail {

template <typename T, typename = void>
struct has_bos_eos : std::false_type {};
template <typename T>
struct has_bos_eos<T, std::void_t<decltype(std::declval<const T&>().bos_id()),
                                  decltype(std::declval<const T&>().eos_id())>> : std::true_type {};

/// The start and end ids: the config's, else the model's. Throws InvalidArgument when neither gives one.
template <typename Model>
std::pair<int, int> decoding_ids(const Model& model, const BeamSearchConfig& config, std::string_view where) {
  int bos = config.bos_id, eos = config.eos_id;
  if constexpr (has_bos_eos<Model>::value) {
    if (bos < 0) bos = static_cast<int>(model.bos_id());
    if (eos < 0) eos = static_cast<int>(model.eos_id());
  }
  ELM_EXPECT(bos >= 0 && eos >= 0, InvalidArgument, where, ": bos_id = ", bos, " and eos_id = ", eos,
             ", expected ids >= 0 (set them in the config when the model has no bos_id() / eos_id())");
  (void)model;
  return {bos, eos};
}

/// The checks both searches make before decoding.
inline void check_decoding_input(const std::vector<std::vector<int>>& sources, const BeamSearchConfig& config,
                                 std::string_view where) {
  ELM_EXPECT(config.max_length >= 2, InvalidArgument, where, ": max_length = ", config.max_length,
             ", expected >= 2 (the start token and at least one generated token)");
  ELM_EXPECT(config.min_length >= 0, InvalidArgument, where, ": min_length = ", config.min_length,
             ", expected >= 0");
  ELM_EXPECT(std::isfinite(config.length_penalty), InvalidArgument, where, ": length_penalty = ",
             config.length_penalty, ", expected a finite number");
  for (std::size_t s = 0; s < sources.size(); ++s)
    ELM_EXPECT(!sources[s].empty(), InvalidArgument, where, ": source ", s,
               " is empty, expected at least one token (an empty line has nothing to translate)");
}

/// A column's log-softmax, log p(v) = (x_v - max) - log_sum in double (the large max leaves first, as in
/// core/math.hpp): the column's max and log sum exp(x - max). The exponentials and their sum are computed in the
/// logits' own Scalar (float32 for a float model, as Hugging Face computes its log-softmax) by Eigen's vectorised
/// exp: every step runs it over each live hypothesis's V logits.
struct LogSoftmaxShift {
  double max = 0.0;
  double log_sum = 0.0;
  double operator()(double x) const { return (x - max) - log_sum; }
};

template <typename Derived>
LogSoftmaxShift log_softmax_shift(const Eigen::MatrixBase<Derived>& logits) {
  const auto max = logits.maxCoeff();
  LogSoftmaxShift shift;
  shift.max = static_cast<double>(max);
  shift.log_sum = std::log(static_cast<double>((logits.array() - max).exp().sum()));
  return shift;
}

/// Log-softmax of one column of logits, in double: the scores are sums over many steps.
template <typename Derived>
void log_softmax_column(const Eigen::MatrixBase<Derived>& logits, std::vector<double>& out) {
  const LogSoftmaxShift shift = log_softmax_shift(logits);
  out.resize(to_size(logits.size()));
  for (Index v = 0; v < logits.size(); ++v) out[to_size(v)] = shift(static_cast<double>(logits(v)));
}

/// The `count` tokens of one hypothesis with the highest log-probabilities (log_softmax_column's), best first and
/// the lower id first among equal ones, as (log p, token); `banned` (the end token before min_length, or -1) at
/// -inf. A hypothesis's candidates rank as its log-probabilities do, so only these can be among a source's 2
/// num_beams best: beam search ranks k count candidates instead of k V.
template <typename Derived>
void best_tokens(const Eigen::MatrixBase<Derived>& logits, Index count, int banned,
                 std::vector<std::pair<double, Index>>& out) {
  const LogSoftmaxShift shift = log_softmax_shift(logits);
  out.clear();
  // log p is non-decreasing in the logit: once `count` are kept, a logit below the last one's cannot enter (unless
  // the last one is the banned token, whose log p is -inf whatever its logit). This test is all most logits get.
  using Scalar = typename Derived::Scalar;
  Scalar threshold = -std::numeric_limits<Scalar>::infinity();
  bool full = false;
  for (Index v = 0; v < logits.size(); ++v) {
    const Scalar x = logits(v);
    if (full && !(x >= threshold)) continue;
    const double log_p = v == banned ? -std::numeric_limits<double>::infinity() : shift(static_cast<double>(x));
    if (full) {
      if (!(log_p > out.back().first)) continue;  // an equal one has a higher id: it ranks after
      out.pop_back();
    }
    const auto at = std::upper_bound(out.begin(), out.end(), log_p,
                                     [](double a, const std::pair<double, Index>& e) { return a > e.first; });
    out.insert(at, {log_p, v});
    full = static_cast<Index>(out.size()) == count;
    if (full && out.back().second != banned) threshold = logits(out.back().second);
  }
}

/// Hugging Face's MinLengthLogitsProcessor on one hypothesis's log-probabilities: the end token's becomes -inf
/// while the target's length, counting the start token (before this step's token: `length`), is below min_length.
/// Applied after the log-softmax, as transformers applies logits processors to the scores of beam search (the
/// other tokens' log-probabilities are not renormalised).
inline void ban_end_before_min_length(std::vector<double>& log_p, int eos, Index length, Index min_length) {
  if (length < min_length) log_p[static_cast<std::size_t>(eos)] = -std::numeric_limits<double>::infinity();
}

/// Checks what decode_step returned: (V, rows), V above both ids.
template <typename Scalar>
void check_step_logits(const Matrix<Scalar>& logits, Index rows, int bos, int eos, std::string_view where) {
  ELM_EXPECT(logits.cols() == rows && logits.rows() > 0, ShapeError, where, ": decode_step gave logits ",
             logits.rows(), "x", logits.cols(), ", expected V x ", rows, " (one column per live hypothesis)");
  check_id(bos, logits.rows(), where, "bos_id");
  check_id(eos, logits.rows(), where, "eos_id");
}

}  // namespace detail

/// Greedy decoding: every source decoded once, each step taking the most likely token (the lowest id among equal
/// ones) until the end token or max_length - 1 tokens. The model offers
///   auto begin_decoding(const std::vector<std::vector<int>>& sources, Index hypotheses_per_source,
///                       Index max_steps) const;      // the encoder run once per source
///   void decode_step(State&, const std::vector<int>& last_tokens, Matrix<scalar_type>& logits) const;  // (V, rows)
///   void reorder(State&, const std::vector<Index>& parents) const;  // row i continues row parents[i]
/// and scalar_type; config's bos_id / eos_id or the model's bos_id() / eos_id(). A source that has produced its end
/// token leaves the batch (reorder with the others' rows), so the remaining steps cost only the live sources.
/// begin_decoding receives max_steps = max_length - 1, the most decode_step calls that follow (a model with a KV
/// cache sizes it from this).
/// Returns one Hypothesis per source; its score is sum_logprobs / length ** length_penalty as beam_search scores.
/// Throws InvalidArgument for an empty source, max_length < 2, min_length < 0 or missing ids, RangeError for ids
/// outside [0, V), ShapeError when decode_step's logits are not (V, live rows); the model's own errors propagate.
template <typename Model>
std::vector<Hypothesis> greedy(const Model& model, const std::vector<std::vector<int>>& sources,
                               const BeamSearchConfig& config = {}) {
  using Scalar = typename Model::scalar_type;
  constexpr std::string_view where = "elm::models::greedy";
  detail::check_decoding_input(sources, config, where);
  const auto [bos, eos] = detail::decoding_ids(model, config, where);
  std::vector<Hypothesis> out(sources.size());
  if (sources.empty()) return out;
  auto state = model.begin_decoding(sources, 1, config.max_length - 1);
  std::vector<Index> live(sources.size());  // row -> source
  for (std::size_t s = 0; s < sources.size(); ++s) live[s] = to_index(s);
  std::vector<int> last(sources.size(), bos);
  Matrix<Scalar> logits;
  std::vector<double> log_p;
  for (Index step = 0; step + 1 < config.max_length && !live.empty(); ++step) {
    model.decode_step(state, last, logits);
    detail::check_step_logits(logits, to_index(live.size()), bos, eos, where);
    std::vector<Index> parents;
    std::vector<Index> still;
    std::vector<int> next;
    for (std::size_t r = 0; r < live.size(); ++r) {
      detail::log_softmax_column(logits.col(to_index(r)), log_p);
      detail::ban_end_before_min_length(log_p, eos, step + 1, config.min_length);
      const auto best = std::max_element(log_p.begin(), log_p.end()) - log_p.begin();
      Hypothesis& h = out[to_size(live[r])];
      h.tokens.push_back(static_cast<int>(best));
      h.sum_logprobs += log_p[static_cast<std::size_t>(best)];
      if (best != eos) {
        parents.push_back(to_index(r));
        still.push_back(live[r]);
        next.push_back(static_cast<int>(best));
      }
    }
    live.swap(still);
    last.swap(next);
    if (!live.empty() && step + 2 < config.max_length) model.reorder(state, parents);
  }
  for (Hypothesis& h : out)
    h.score = h.sum_logprobs / std::pow(static_cast<double>(h.tokens.size()), config.length_penalty);
  return out;
}

/// Beam search by Hugging Face's rules (transformers' GenerationMixin._beam_search, the successor of
/// BeamSearchScorer), for every source of a batch at once. Per source and step:
///  1) every running hypothesis h (num_beams of them; at the start one holds the start token with score 0 and the
///     others -1e9, so that the first step expands one) and every token v give a candidate of score
///     sum_logprobs(h) + log p(v | h) (log p(eos | h) = -inf while the target is shorter than min_length); the
///     2 num_beams best are kept (higher score first, then lower h V + v), so that num_beams of them continue even
///     if num_beams end;
///  2) a candidate that ends (v = eos, or the target reaching max_length) and ranks among the first num_beams is
///     finished, scored sum_logprobs / length ** length_penalty, length = its tokens after the start token, the end
///     token included (the same number Hugging Face's cur_len + 1 - decoder_prompt_len counts); the finished list
///     keeps the num_beams best. An ending candidate ranked below num_beams is dropped: it lost to num_beams others;
///  3) the num_beams best candidates that do not end are the next running hypotheses (reorder gives each its
///     parent's state);
///  4) the source is done when num_beams are finished and either early_stopping is when_full, or the best running
///     hypothesis scored at the current length (never with length_penalty > 0: at max_length - 1) is no better
///     than the worst finished one. A done source leaves the batch: its finished list can no longer change.
/// The search ends when every source is done or the target reaches max_length; each source's num_return_sequences
/// best finished hypotheses are returned, best first. Scores are accumulated in double from the model's logits
/// (Hugging Face: float32), so near-equal candidates may order otherwise than transformers orders them.
///
/// Why these rules: they are the ones transformers 5 applies, so an n-best list here is the one
/// `generate(num_beams=..., length_penalty=..., early_stopping=...)` returns for the same model (the tests'
/// reference, tools/make_lstm_seq2seq_fixtures.py, runs transformers' own helpers and checks against generate). Its predecessor, transformers 4's BeamSearchScorer, scored and kept hypotheses the same way but
/// differed in two corners: its done test (BeamHypotheses.is_done) bounded the running hypotheses by the step's best
/// candidate, an ending one included, where transformers 5 (and this) take the best running hypothesis; and at
/// max_length its finalize added the num_beams best candidates that did not end, whatever their rank, where
/// transformers 5 (and this) finish the num_beams best-ranked candidates. Outputs differ only where those apply.
/// The length is counted without the start token and with the end token, which is both libraries' count for an
/// encoder-decoder whose decoder prompt is the one start token. No pad id is needed: the results are ragged
/// vectors, and a finished source leaves the batch instead of being fed padding.
///
/// Width 1 runs the same rules (Hugging Face's generate switches to greedy search instead): with
/// early_stopping = when_full, or length_penalty = 0, that is exactly greedy(); with the heuristic and
/// length_penalty > 0 it may continue past greedy's end token and return a longer hypothesis of a better score.
///
/// The model's calls are greedy()'s, with num_beams hypotheses per source, source-major. Returns per source its
/// n-best list. Throws InvalidArgument for num_beams < 1, num_return_sequences outside [1, num_beams], an empty
/// source, max_length < 2, min_length < 0, a non-finite length_penalty or missing ids; RangeError for ids outside
/// [0, V); ShapeError when decode_step's logits are not (V, live rows). Cost per step O(B num_beams V) on top of
/// the model.
template <typename Model>
std::vector<std::vector<Hypothesis>> beam_search(const Model& model, const std::vector<std::vector<int>>& sources,
                                                 const BeamSearchConfig& config) {
  using Scalar = typename Model::scalar_type;
  constexpr std::string_view where = "elm::models::beam_search";
  const Index k = config.num_beams;
  ELM_EXPECT(k >= 1, InvalidArgument, where, ": num_beams = ", k, ", expected >= 1");
  ELM_EXPECT(config.num_return_sequences >= 1 && config.num_return_sequences <= k, InvalidArgument, where,
             ": num_return_sequences = ", config.num_return_sequences, ", expected 1 <= num_return_sequences <= ",
             "num_beams = ", k);
  detail::check_decoding_input(sources, config, where);
  const auto [bos, eos] = detail::decoding_ids(model, config, where);
  std::vector<std::vector<Hypothesis>> out(sources.size());
  if (sources.empty()) return out;

  constexpr double masked = -1.0e9;  // Hugging Face's score of a hypothesis that must not be chosen
  const double lp = config.length_penalty;
  const auto penalised = [lp](double sum, Index length) { return sum / std::pow(static_cast<double>(length), lp); };
  struct Running {
    std::vector<int> tokens;
    double sum = 0.0;
  };
  struct Source {
    Index id = 0;
    std::vector<Running> running;    // k, in rank order
    std::vector<Hypothesis> finished;  // at most k, best first
  };
  struct Candidate {
    double sum;
    Index flat;  // beam * V + token
  };
  std::vector<Source> live(sources.size());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    live[s].id = to_index(s);
    live[s].running.resize(to_size(k));
    for (Index b = 1; b < k; ++b) live[s].running[to_size(b)].sum = masked;
  }
  auto state = model.begin_decoding(sources, k, config.max_length - 1);
  std::vector<int> last(sources.size() * to_size(k), bos);
  Matrix<Scalar> logits;
  std::vector<std::pair<double, Index>> best;
  std::vector<Candidate> candidates;
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.sum > b.sum || (a.sum == b.sum && a.flat < b.flat);
  };
  for (Index length = 1; !live.empty(); ++length) {  // length: tokens generated once this step is taken
    model.decode_step(state, last, logits);
    const Index v_size = logits.rows();
    detail::check_step_logits(logits, to_index(live.size()) * k, bos, eos, where);
    const bool at_max = length + 1 >= config.max_length;
    std::vector<Source> still;
    std::vector<Index> parents;
    std::vector<int> next;
    for (std::size_t si = 0; si < live.size(); ++si) {
      Source& src = live[si];
      const Index row0 = to_index(si) * k;
      // 1) the 2k best candidates over the k running hypotheses, from each one's 2k best tokens
      candidates.clear();
      for (Index b = 0; b < k; ++b) {
        detail::best_tokens(logits.col(row0 + b), 2 * k, length < config.min_length ? eos : -1, best);
        const double base = src.running[to_size(b)].sum;
        for (const auto& [log_p, v] : best) candidates.push_back({base + log_p, b * v_size + v});
      }
      const Index kept = std::min(2 * k, to_index(candidates.size()));
      std::partial_sort(candidates.begin(), candidates.begin() + kept, candidates.end(), better);
      // 2) finished candidates among the first k; 3) the first k that go on
      std::vector<Running> running;
      std::vector<Index> from;
      for (Index r = 0; r < kept; ++r) {
        const Candidate& c = candidates[to_size(r)];
        const Index beam = c.flat / v_size;
        const int token = static_cast<int>(c.flat % v_size);
        const bool ends = token == eos || at_max;
        if (ends && r < k) {
          Hypothesis h;
          h.tokens = src.running[to_size(beam)].tokens;
          h.tokens.push_back(token);
          h.sum_logprobs = c.sum;
          h.score = penalised(c.sum, length);
          // insert keeping the best k, best first; an equal score goes after the ones already there
          const auto at = std::upper_bound(src.finished.begin(), src.finished.end(), h.score,
                                           [](double s, const Hypothesis& x) { return s > x.score; });
          if (at - src.finished.begin() < k) {
            src.finished.insert(at, std::move(h));
            if (to_index(src.finished.size()) > k) src.finished.pop_back();
          }
        } else if (!ends && to_index(running.size()) < k) {
          Running next_h;
          next_h.tokens = src.running[to_size(beam)].tokens;
          next_h.tokens.push_back(token);
          next_h.sum = c.sum;
          running.push_back(std::move(next_h));
          from.push_back(row0 + beam);
        }
      }
      // 4) done: k finished and (when_full, or the best running one cannot beat the worst finished one)
      // (fewer than k candidates go on only when V = 1: nothing is left to search)
      bool done = at_max || to_index(running.size()) < k;
      if (!done && to_index(src.finished.size()) == k) {
        if (config.early_stopping == EarlyStopping::when_full) {
          done = true;
        } else {
          const Index best_length =
              config.early_stopping == EarlyStopping::never && lp > 0.0 ? config.max_length - 1 : length;
          done = !(penalised(running.front().sum, best_length) > src.finished.back().score);
        }
      }
      if (done) {
        const Index n = std::min(config.num_return_sequences, to_index(src.finished.size()));
        out[to_size(src.id)].assign(src.finished.begin(), src.finished.begin() + n);
        continue;
      }
      src.running = std::move(running);
      for (std::size_t b = 0; b < from.size(); ++b) {
        parents.push_back(from[b]);
        next.push_back(src.running[b].tokens.back());
      }
      still.push_back(std::move(src));
    }
    live.swap(still);
    last.swap(next);
    if (!live.empty()) model.reorder(state, parents);
  }
  return out;
}

}  // namespace elm::models
