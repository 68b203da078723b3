// SPDX-License-Identifier: MIT
// Text generation from a decoder with a KV cache (models::Gpt2): greedy or sampled decoding through Hugging Face's
// logits processors, several sequences per prompt, batches of prompts of different lengths, stop tokens and stop
// strings, and a callback that streams each token as it is produced.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/attention.hpp"

namespace elm::models {

/// What generation does with a prompt that leaves no room in the context for max_new_tokens more tokens.
enum class PromptOverflow {
  refuse,         ///< throw RangeError (the default)
  truncate_left,  ///< keep the prompt's last (context - max_new_tokens) tokens
  /// generate past the context, as nanoGPT's sampler does: each token is predicted from the sequence's last
  /// `context` tokens (of a longer prompt too), at positions counted from 0; once the sequence fills the
  /// context, every further token costs a forward of the whole window instead of one step of the KV cache
  slide,
};

/// Why a generated sequence ended.
enum class FinishReason {
  length,       ///< max_new_tokens were produced
  eos,          ///< an end-of-sequence token was produced (it is the sequence's last id)
  stop_string,  ///< the decoded new text came to contain a stop string (the token completing it is the last id)
  callback,     ///< the token callback returned false (the token it was shown is the last id)
};

/// The options of generation, Hugging Face GenerationConfig's names and defaults except top_k (0 here: off).
struct GenerationConfig {
  Index max_new_tokens = 20;        ///< at most this many new tokens per sequence
  bool do_sample = false;           ///< false: greedy (the most likely token); true: draw from the processed logits
  double temperature = 1.0;         ///< sampling only: logits / temperature (> 0)
  Index top_k = 0;                  ///< sampling only: keep the k highest logits (ties with the k-th kept); 0: off
  double top_p = 1.0;               ///< sampling only: keep the smallest set of most likely tokens of mass >= top_p
  double repetition_penalty = 1.0;  ///< > 0; a token already in the sequence: logit / penalty (logit * penalty if < 0)
  Index num_return_sequences = 1;   ///< R sequences per prompt (sampling; greedy gives one)
  std::vector<Index> eos_token_ids; ///< a sequence ends after producing any of these
  std::vector<std::string> stop_strings;  ///< a sequence ends once its decoded new text contains one of these
  std::uint64_t seed = 0;           ///< return sequence r of every prompt draws from stream r of Rng(seed)
  PromptOverflow prompt_overflow = PromptOverflow::refuse;

  /// Throws InvalidArgument naming the first option out of its domain, RangeError for an eos id outside [0, V).
  void check(std::string_view where, Index vocab_size) const {
    ELM_EXPECT(max_new_tokens >= 0, InvalidArgument, where, ": max_new_tokens = ", max_new_tokens, ", expected >= 0");
    ELM_EXPECT(top_k >= 0, InvalidArgument, where, ": top_k = ", top_k, ", expected >= 0 (0: off)");
    ELM_EXPECT(top_p > 0.0 && top_p <= 1.0, InvalidArgument, where, ": top_p = ", top_p,
               ", expected 0 < top_p <= 1 (1: off)");
    ELM_EXPECT(std::isfinite(repetition_penalty) && repetition_penalty > 0.0, InvalidArgument, where,
               ": repetition_penalty = ", repetition_penalty, ", expected > 0 (1: off)");
    ELM_EXPECT(!do_sample || (std::isfinite(temperature) && temperature > 0.0), InvalidArgument, where,
               ": temperature = ", temperature, ", expected > 0 when sampling (greedy decoding: do_sample = false)");
    ELM_EXPECT(num_return_sequences >= 1, InvalidArgument, where, ": num_return_sequences = ", num_return_sequences,
               ", expected >= 1");
    ELM_EXPECT(do_sample || num_return_sequences == 1, InvalidArgument, where, ": num_return_sequences = ",
               num_return_sequences, " with greedy decoding, which gives one sequence per prompt: expected 1, or "
               "do_sample = true");
    for (Index id : eos_token_ids) check_id(id, vocab_size, where, "eos token id");
    for (const std::string& s : stop_strings)
      ELM_EXPECT(!s.empty(), InvalidArgument, where, ": an empty stop string, expected at least one character");
  }
};

/// Hugging Face's logits processors on one row of V scores, in the order generate applies them:
/// RepetitionPenaltyLogitsProcessor, then when sampling TemperatureLogitsWarper, TopKLogitsWarper and
/// TopPLogitsWarper (min_tokens_to_keep = 1). A removed token's score becomes -inf. Then next_token picks the
/// argmax (greedy) or draws from softmax(scores). Keeps its scratch between calls: one per generation, not shared
/// between threads. Complexity per row O(V) (top-p: O(V) per doubling of the kept set, O(k log k) to order it).
template <typename Scalar = float>
class LogitsProcessor {
  static_assert(std::is_floating_point_v<Scalar>, "LogitsProcessor needs a floating-point Scalar");

 public:
  /// Throws as GenerationConfig::check; InvalidArgument unless V > 0.
  LogitsProcessor(const GenerationConfig& config, Index vocab_size)
      : vocab_size_(vocab_size),
        do_sample_(config.do_sample),
        temperature_(config.temperature),
        top_k_(config.top_k),
        top_p_(config.top_p),
        penalty_(config.repetition_penalty) {
    constexpr std::string_view where = "elm::models::LogitsProcessor";
    ELM_EXPECT(vocab_size > 0, InvalidArgument, where, ": vocab_size = ", vocab_size, ", expected > 0");
    config.check(where, vocab_size);
  }

  Index vocab_size() const noexcept { return vocab_size_; }

  /// Every processor that applies, in Hugging Face's order. scores: V entries; past_ids: the sequence so far (the
  /// prompt and the tokens generated), the repetition penalty's input.
  void process(Eigen::Ref<Vector<Scalar>> scores, const std::vector<Index>& past_ids) {
    check_shape(scores, vocab_size_, 1, "elm::models::LogitsProcessor::process", "scores");
    repetition_penalty(scores, past_ids);
    if (!do_sample_) return;
    temperature(scores);
    top_k(scores);
    top_p(scores);
  }

  /// RepetitionPenaltyLogitsProcessor: each distinct id of past_ids once, s < 0 ? s * penalty : s / penalty.
  /// Throws RangeError for an id outside [0, V). O(|past_ids|).
  void repetition_penalty(Eigen::Ref<Vector<Scalar>> scores, const std::vector<Index>& past_ids) {
    if (penalty_ == 1.0) return;
    const auto penalty = static_cast<Scalar>(penalty_);
    if (seen_.size() != static_cast<std::size_t>(vocab_size_)) seen_.assign(static_cast<std::size_t>(vocab_size_), 0);
    if (++stamp_ == 0) {  // the stamps wrapped around: start them again
      std::fill(seen_.begin(), seen_.end(), 0u);
      stamp_ = 1;
    }
    for (Index id : past_ids) {
      check_id(id, vocab_size_, "elm::models::LogitsProcessor::repetition_penalty", "past id");
      auto& mark = seen_[static_cast<std::size_t>(id)];
      if (mark == stamp_) continue;
      mark = stamp_;
      Scalar& s = scores[id];
      s = s < Scalar(0) ? s * penalty : s / penalty;
    }
  }

  /// TemperatureLogitsWarper: s / temperature.
  void temperature(Eigen::Ref<Vector<Scalar>> scores) const {
    if (temperature_ != 1.0) scores /= static_cast<Scalar>(temperature_);
  }

  /// TopKLogitsWarper: scores below the k-th highest become -inf (ties with it stay). O(V).
  void top_k(Eigen::Ref<Vector<Scalar>> scores) {
    const Index V = scores.size();
    if (top_k_ <= 0 || top_k_ >= V) return;
    values_.assign(scores.data(), scores.data() + V);
    const auto kth = values_.begin() + (top_k_ - 1);
    std::nth_element(values_.begin(), kth, values_.end(), std::greater<Scalar>());
    const Scalar threshold = *kth;
    for (Index i = 0; i < V; ++i)
      if (scores[i] < threshold) scores[i] = neg_inf;
  }

  /// TopPLogitsWarper: a token stays when the probability of the tokens more likely than it is below top_p (so
  /// the most likely always stays): the smallest nucleus of mass >= top_p. The most likely tokens are ordered a
  /// chunk at a time (64, then 4 times more), so the work is O(V) per chunk plus the ordering of the nucleus.
  void top_p(Eigen::Ref<Vector<Scalar>> scores) {
    if (!(top_p_ < 1.0)) return;
    const Index V = scores.size();
    // 1) unnormalised probabilities of the tokens still in the running
    const Scalar m = scores.maxCoeff();
    if (!(m > neg_inf)) return;
    probs_.resize(V);
    probs_ = (scores.array() - m).exp().matrix();
    order_.clear();
    double total = 0.0;
    for (Index i = 0; i < V; ++i) {
      if (scores[i] == neg_inf) continue;
      order_.push_back(i);
      total += double(probs_[i]);
    }
    // 2) walk the tokens from the most likely down, a sorted chunk at a time, until the mass above reaches top_p
    const auto before = [&](Index a, Index b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
    const std::size_t n = order_.size();
    const double threshold = top_p_ * total;
    std::size_t done = 0, chunk = 64, cut = n;
    double above = 0.0;
    while (done < n && cut == n) {
      const std::size_t end = std::min(n, done + chunk);
      const auto first = order_.begin() + static_cast<std::ptrdiff_t>(done);
      const auto last = order_.begin() + static_cast<std::ptrdiff_t>(end);
      if (end < n) std::nth_element(first, last - 1, order_.end(), before);
      std::sort(first, last, before);
      for (std::size_t i = done; i < end; ++i) {
        if (above >= threshold) {
          cut = i;
          break;
        }
        above += double(probs_[order_[i]]);
      }
      done = end;
      chunk *= 4;
    }
    // 3) the rest goes
    for (std::size_t i = cut; i < n; ++i) scores[order_[i]] = neg_inf;
  }

  /// The next token from processed scores: the first highest (greedy), or a draw from softmax(scores) with rng
  /// (sampling). Throws NumericalError when the scores hold NaN or hide every token. O(V).
  Index next_token(const Eigen::Ref<const Vector<Scalar>>& scores, Rng& rng) {
    constexpr std::string_view where = "elm::models::LogitsProcessor::next_token";
    check_shape(scores, vocab_size_, 1, where, "scores");
    ELM_EXPECT(!scores.hasNaN(), NumericalError, where, ": the logits hold NaN");
    Index best = 0;
    const Scalar m = scores.maxCoeff(&best);
    ELM_EXPECT(m > neg_inf, NumericalError, where, ": every token's score is -inf, expected at least one finite");
    if (!do_sample_) return best;
    ELM_EXPECT(m < std::numeric_limits<Scalar>::infinity(), NumericalError, where, ": a score is +inf");
    // inverse transform: the first token whose cumulative probability passes u; hidden tokens weigh exactly 0
    probs_.resize(scores.size());
    probs_ = (scores.array() - m).exp().matrix();
    double total = 0.0;
    for (Index i = 0; i < scores.size(); ++i) {
      if (scores[i] == neg_inf) probs_[i] = Scalar(0);
      total += double(probs_[i]);
    }
    const double u = rng.uniform() * total;
    double cumulative = 0.0;
    for (Index i = 0; i < scores.size(); ++i) {
      if (probs_[i] == Scalar(0)) continue;
      cumulative += double(probs_[i]);
      best = i;
      if (u < cumulative) break;
    }
    return best;
  }

 private:
  static constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();

  Index vocab_size_;
  bool do_sample_;
  double temperature_;
  Index top_k_;
  double top_p_, penalty_;
  std::vector<std::uint32_t> seen_;  // seen_[id] == stamp_: id already penalised in this call
  std::uint32_t stamp_ = 0;
  std::vector<Scalar> values_;       // top-k's copy of the scores
  Vector<Scalar> probs_;             // top-p's and sampling's unnormalised probabilities
  std::vector<Index> order_;         // top-p's candidates, most likely first
};

namespace detail {

/// Looks for stop strings in the decoded text of each sequence's last tokens only, not in its whole text each step.
/// The window of a sequence's tokens decoded each step starts as far back as it must for its text before the
/// newest token to keep the last (longest stop string - 1) bytes of the sequence's text intact, so a stop string
/// split over tokens is found at the token that completes it. For a decode that is the concatenation of its
/// tokens' bytes (byte-level BPE, characters) that window's text is a suffix of the whole text, and what is found
/// is what searching the whole text would find first. 15 bytes more are kept for a decode that shows a character
/// split across tokens as U+FFFD until all its bytes are there: a window starting inside a character may show
/// its first 3 bytes as 9, and a last token ending inside one its last 3 as 9. Costs about three decodes of that
/// many bytes a step, where decoding the whole text costs O(tokens so far).
class StopStringSearch {
 public:
  StopStringSearch(const std::vector<std::string>& stop_strings,
                   const std::function<std::string(const std::vector<Index>&)>& decode, Index sequences)
      : stop_strings_(stop_strings), decode_(decode), start_(static_cast<std::size_t>(sequences), 0) {
    std::size_t longest = 0;
    for (const std::string& s : stop_strings) longest = std::max(longest, s.size());
    keep_ = longest == 0 ? 0 : longest - 1 + 15;
  }

  /// Whether the text of sequence b's new tokens (ids, its newest last) has come to contain a stop string.
  bool found(Index b, const std::vector<Index>& ids) {
    std::size_t& start = start_[static_cast<std::size_t>(b)];
    const std::string text = decode_from(ids, start);
    for (const std::string& s : stop_strings_)
      if (text.find(s) != std::string::npos) return true;
    // drop the window's first tokens while the rest still holds `keep_` bytes: the window of the next step
    while (start + 1 < ids.size() && decode_from(ids, start + 1).size() >= keep_) ++start;
    return false;
  }

 private:
  std::string decode_from(const std::vector<Index>& ids, std::size_t first) const {
    return decode_(std::vector<Index>(ids.begin() + std::ptrdiff_t(first), ids.end()));
  }

  const std::vector<std::string>& stop_strings_;
  const std::function<std::string(const std::vector<Index>&)>& decode_;
  std::vector<std::size_t> start_;  // each sequence's first token of the window
  std::size_t keep_ = 0;
};

}  // namespace detail

/// The token callback and the text decoding that generation may use.
struct GenerationCallbacks {
  /// Called with (sequence, token) as each new token is produced, sequences in order at each step, every token
  /// of the result included; returning false ends that sequence (FinishReason::callback).
  std::function<bool(Index sequence, Index token)> on_token;
  /// Text of token ids, needed for stop strings (the tokenizer's decode). Stop strings are looked for in the text
  /// of a sequence's last tokens only (detail::StopStringSearch), which finds what searching the whole text would
  /// when the text of ids is its tokens' bytes one after another, as byte-level BPE and characters decode.
  std::function<std::string(const std::vector<Index>&)> decode;
};

/// One generated sequence: the prompt it continues, its new tokens and why it ended.
struct GeneratedSequence {
  Index prompt = 0;        ///< index of the prompt in the batch
  std::vector<Index> ids;  ///< the new tokens only
  FinishReason finish = FinishReason::length;
};

/// Generates continuations of a batch of prompts (token ids in [0, V), of any lengths >= 1) with a decoder
/// that has make_kv_caches(B, max_length), forward_incremental(ids, positions, mask, kv, logits, LogitPositions),
/// vocab_size() and max_positions() (models::Gpt2). Returns num_return_sequences sequences per prompt, prompt by
/// prompt (sequence s continues prompt s / R). Prompts of different lengths are left-padded and decoded together
/// as Hugging Face's generate does with an attention mask: the padding hidden from attention, each row's
/// positions counted from its first real token; the result equals generating each prompt on its own (with
/// sampling too: return sequence r of any prompt draws from its own stream r of Rng(seed)). Each prompt is run
/// through the model once, however many sequences continue it (its keys, values and logits copied to each), then
/// one token per step through the KV caches.
/// With PromptOverflow::slide there is no limit from the context: once a row fills it, the batch is run again
/// from each row's last `context` tokens (left-padded as above) before every further step.
/// Throws InvalidArgument for an empty batch or prompt, a bad option (GenerationConfig::check), stop strings
/// without a decode callback; RangeError for an id out of range or a prompt that leaves no room for
/// max_new_tokens in the context (unless PromptOverflow::truncate_left or slide).
template <typename Model>
std::vector<GeneratedSequence> generate_batch(const Model& model, const std::vector<std::vector<Index>>& prompts,
                                              const GenerationConfig& config,
                                              const GenerationCallbacks& callbacks = {}) {
  using Scalar = typename Model::scalar_type;
  constexpr std::string_view where = "elm::models::generate";
  const Index V = model.vocab_size(), context = model.max_positions(), new_tokens = config.max_new_tokens;
  LogitsProcessor<Scalar> processor(config, V);
  ELM_EXPECT(!prompts.empty(), InvalidArgument, where, ": no prompt, expected at least one");
  ELM_EXPECT(config.stop_strings.empty() || callbacks.decode, InvalidArgument, where,
             ": stop strings without a decode callback (GenerationCallbacks::decode), which they are matched through");
  const bool slide = config.prompt_overflow == PromptOverflow::slide;
  ELM_EXPECT(slide || new_tokens < context, RangeError, where, ": max_new_tokens = ", new_tokens,
             " leaves no room for a prompt in the context of ", context, " positions, expected < ", context,
             " (or PromptOverflow::slide)");

  // 1) the prompts, checked and (when asked) truncated from the left to leave room for the new tokens
  const Index R = config.num_return_sequences, P_count = to_index(prompts.size()), B = P_count * R;
  std::vector<std::vector<Index>> rows(static_cast<std::size_t>(B));  // each row's tokens: prompt, then new ones
  Index longest = 0;
  for (Index p = 0; p < P_count; ++p) {
    const std::vector<Index>& prompt = prompts[static_cast<std::size_t>(p)];
    ELM_EXPECT(!prompt.empty(), InvalidArgument, where, ": prompt ", p, " is empty, expected at least one token");
    for (std::size_t t = 0; t < prompt.size(); ++t)
      ELM_EXPECT(prompt[t] >= 0 && prompt[t] < V, RangeError, where, ": prompt ", p, " has token id ", prompt[t],
                 " at position ", t, ", expected 0 <= id < V = ", V);
    const Index room = context - new_tokens;
    Index keep = to_index(prompt.size());
    if (!slide && keep > room) {  // sliding keeps the whole prompt: its windows are taken in step 3
      ELM_EXPECT(config.prompt_overflow != PromptOverflow::refuse, RangeError, where, ": prompt ", p,
                 " has ", keep, " tokens; with max_new_tokens = ", new_tokens, " it needs ", keep + new_tokens,
                 " positions, but the context holds ", context, ": expected at most ", room,
                 " prompt tokens (shorten the prompt, lower max_new_tokens, or truncate from the left)");
      keep = room;
    }
    longest = std::max(longest, keep);
    for (Index r = 0; r < R; ++r) {
      std::vector<Index>& row = rows[static_cast<std::size_t>(p * R + r)];
      row.reserve(static_cast<std::size_t>(keep + new_tokens));
      row.assign(prompt.end() - keep, prompt.end());
    }
  }
  std::vector<GeneratedSequence> out(static_cast<std::size_t>(B));
  for (Index b = 0; b < B; ++b) {
    out[static_cast<std::size_t>(b)].prompt = b / R;
    out[static_cast<std::size_t>(b)].ids.reserve(static_cast<std::size_t>(new_tokens));
  }
  if (new_tokens == 0) return out;

  // 2) left padding: row b's first pad[b] positions hold a token the mask hides; its positions count from its first
  // real token (Hugging Face: position_ids = cumsum(attention_mask) - 1, padding at 0). T: the positions cached.
  Index T = 0;
  std::vector<Index> pad(static_cast<std::size_t>(B)), ids, positions;
  bool padded = false;
  const Index filler = config.eos_token_ids.empty() ? 0 : config.eos_token_ids.front();
  nn::AttentionMask<Scalar> mask;
  // The hidden keys get the lowest finite score, as Hugging Face's masks do: a padding query, whose keys are all
  // padding, stays finite (and is never attended to), where -inf would make it NaN and spread through the values.
  const auto pad_mask = [&](Index keys) {
    mask.key_padding_additive.setZero(keys, B);
    for (Index b = 0; b < B; ++b)
      mask.key_padding_additive.col(b).head(pad[static_cast<std::size_t>(b)])
          .setConstant(std::numeric_limits<Scalar>::lowest());
  };

  // 3) the rows (each its last `window` tokens) through the model at once into emptied caches, filling them;
  // logits of each row's last position. Once at the start, and before each step past the context when sliding.
  auto kv = model.make_kv_caches(B, slide ? context : longest + new_tokens);
  Matrix<Scalar> logits;
  // Every `stride`-th row (n of them: all B, or one of each prompt's R identical rows) through the model into
  // caches, left-padded to T as pad says.
  const auto run_rows = [&](Index n, Index stride, std::vector<nn::KvCache<Scalar>>& caches,
                            Matrix<Scalar>& last_logits) {
    ids.assign(static_cast<std::size_t>(n * T), filler);
    positions.clear();
    nn::AttentionMask<Scalar> rows_mask;
    if (padded) {
      positions.resize(ids.size());
      rows_mask.key_padding_additive.setZero(T, n);
    }
    for (Index i = 0; i < n; ++i) {
      const std::vector<Index>& row = rows[static_cast<std::size_t>(i * stride)];
      const Index pb = pad[static_cast<std::size_t>(i * stride)];
      std::copy(row.end() - (T - pb), row.end(), ids.begin() + std::ptrdiff_t(i * T + pb));
      if (!padded) continue;
      for (Index t = 0; t < T; ++t) positions[static_cast<std::size_t>(i * T + t)] = t < pb ? 0 : t - pb;
      rows_mask.key_padding_additive.col(i).head(pb).setConstant(std::numeric_limits<Scalar>::lowest());
    }
    for (auto& cache : caches) cache.reset();
    model.forward_incremental(ids, positions, rows_mask, caches, last_logits, LogitPositions::last);
  };
  const auto prefill = [&](Index window, bool rows_repeat) {
    T = 0;
    for (const auto& row : rows) T = std::max(T, std::min(window, to_index(row.size())));
    padded = false;
    for (Index b = 0; b < B; ++b) {
      pad[static_cast<std::size_t>(b)] = T - std::min(window, to_index(rows[static_cast<std::size_t>(b)].size()));
      padded = padded || pad[static_cast<std::size_t>(b)] > 0;
    }
    mask = nn::AttentionMask<Scalar>{};  // the steps' mask (pad_mask before each step when padded)
    if (!rows_repeat || R == 1) {
      run_rows(B, 1, kv, logits);
      return;
    }
    // each prompt's R rows are the same tokens: the prompt runs once, its keys, values and logits copied R times
    auto once = model.make_kv_caches(P_count, T);
    Matrix<Scalar> prompt_logits;
    run_rows(P_count, R, once, prompt_logits);
    for (std::size_t l = 0; l < kv.size(); ++l) kv[l].assign_repeated(once[l], R);
    logits.resize(prompt_logits.rows(), B);
    for (Index b = 0; b < B; ++b) logits.col(b) = prompt_logits.col(b / R);
  };
  prefill(context, /*rows_repeat=*/true);

  // 4) one token per step: process, choose, report, check the ends; then the chosen tokens through the caches
  std::vector<Rng> streams;
  {
    Rng base(config.seed);
    std::vector<Rng> per_r;
    for (Index r = 0; r < R; ++r) per_r.push_back(base.split());
    for (Index b = 0; b < B; ++b) streams.push_back(per_r[static_cast<std::size_t>(b % R)]);
  }
  detail::StopStringSearch stops(config.stop_strings, callbacks.decode, B);
  std::vector<char> finished(static_cast<std::size_t>(B), 0);
  Index running = B;
  for (Index step = 0; step < new_tokens; ++step) {
    ids.resize(static_cast<std::size_t>(B));
    for (Index b = 0; b < B; ++b) {
      const auto ub = static_cast<std::size_t>(b);
      std::vector<Index>& row = rows[ub];
      GeneratedSequence& seq = out[ub];
      if (finished[ub]) {
        ids[ub] = row.back();  // a finished row still takes a place in the batch; its logits are not read
        continue;
      }
      auto scores = logits.col(b);
      processor.process(scores, row);
      const Index token = processor.next_token(scores, streams[ub]);
      row.push_back(token);
      seq.ids.push_back(token);
      ids[ub] = token;
      bool done = false;
      if (callbacks.on_token && !callbacks.on_token(b, token)) {
        seq.finish = FinishReason::callback;
        done = true;
      } else if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
                 config.eos_token_ids.end()) {
        seq.finish = FinishReason::eos;
        done = true;
      } else if (!config.stop_strings.empty() && stops.found(b, seq.ids)) {
        seq.finish = FinishReason::stop_string;
        done = true;
      }
      if (!done && to_index(seq.ids.size()) == new_tokens) {
        seq.finish = FinishReason::length;
        done = true;
      }
      if (done) {
        finished[ub] = 1;
        --running;
      }
    }
    if (running == 0) break;
    if (T == context) {  // only when sliding: the caches are full
      prefill(context, /*rows_repeat=*/false);
      continue;
    }
    if (padded) {
      positions.resize(static_cast<std::size_t>(B));
      for (Index b = 0; b < B; ++b) positions[static_cast<std::size_t>(b)] = T - pad[static_cast<std::size_t>(b)];
      pad_mask(T + 1);
    }
    model.forward_incremental(ids, positions, mask, kv, logits, LogitPositions::last);
    ++T;
  }
  return out;
}

/// generate_batch for one prompt: its num_return_sequences continuations.
template <typename Model>
std::vector<GeneratedSequence> generate(const Model& model, const std::vector<Index>& prompt,
                                        const GenerationConfig& config, const GenerationCallbacks& callbacks = {}) {
  return generate_batch(model, std::vector<std::vector<Index>>{prompt}, config, callbacks);
}

}  // namespace elm::models
