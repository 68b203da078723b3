// SPDX-License-Identifier: MIT
// LstmLm: an Embedding -> LSTM -> Linear word or character language model, with training, scoring and sampling.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/clip.hpp"
#include "elm/nn/optim/schedule.hpp"

namespace elm::models {

/// Sizes of an LstmLm: V token ids, embedding width, LSTM width H and depth L.
struct LstmLmConfig {
  Index vocab_size = 0;
  Index embedding_dim = 64;
  Index hidden_size = 256;
  Index num_layers = 1;
};

/// An LSTM language model (Sundermeyer et al. 2012): x_t = E[w_t]; h_t = LSTM(x_t, h_{t-1});
/// p(w_{t+1} | w_<=t) = softmax(W h_t + b). Parameters: embedding.weight (V, E), lstm.weight_ih_l0 ...
/// (PyTorch's nn.LSTM names), head.weight (V, H), head.bias (V).
template <typename Scalar = float>
class LstmLm {
 public:
  using scalar_type = Scalar;
  using State = nn::RecurrentState<Scalar>;
  struct Cache {
    typename nn::Embedding<Scalar>::Cache embedding;
    typename nn::Lstm<Scalar>::Cache lstm;
    typename nn::Linear<Scalar>::Cache head;
  };

  /// Initialised as PyTorch initialises each layer, except the embedding: U(-0.1, 0.1) (as PyTorch's
  /// word_language_model example). Throws InvalidArgument for a non-positive size.
  LstmLm(const LstmLmConfig& config, Rng& rng)
      : config_(checked(config)),
        embedding_(config.vocab_size, config.embedding_dim),
        lstm_(config.embedding_dim, config.hidden_size, config.num_layers, rng),
        head_(config.hidden_size, config.vocab_size, rng) {
    rng.fill_uniform(embedding_.weight().value, -0.1, 0.1);
  }

  const LstmLmConfig& config() const { return config_; }
  nn::Embedding<Scalar>& embedding() { return embedding_; }
  nn::Lstm<Scalar>& lstm() { return lstm_; }
  nn::Linear<Scalar>& head() { return head_; }
  const nn::Lstm<Scalar>& lstm() const { return lstm_; }

  /// Logits of the next token at every position. ids: B T ids, batch-first (sequence b's tokens at
  /// b T .. b T + T - 1); lengths: B values in [0, T] -> logits: (V, B T) (padding columns hold the head's bias).
  /// initial/final: LSTM state (null: zeros / not wanted). Throws RangeError for an id outside [0, V) or a
  /// bad length, ShapeError for B T not a multiple of lengths.size().
  void forward(const std::vector<Index>& ids, const std::vector<Index>& lengths, Matrix<Scalar>& logits,
               const State* initial = nullptr, State* final_state = nullptr, Cache* cache = nullptr) const {
    Matrix<Scalar> x, h;
    embedding_.forward(ids, x, cache ? &cache->embedding : nullptr);
    lstm_.forward(x, lengths, initial, h, final_state, cache ? &cache->lstm : nullptr);
    head_.forward(h, logits, cache ? &cache->head : nullptr);
  }

  /// Adds every parameter gradient from d loss / d logits (V, B T) and, optionally, d loss / d final state.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits, const State* dfinal = nullptr) {
    Matrix<Scalar> dh, dx;
    head_.backward(cache.head, dlogits, dh);
    lstm_.backward(cache.lstm, dh, dfinal, dx);
    embedding_.backward(cache.embedding, dx);
  }

  /// Visits embedding.weight, lstm.*, head.weight, head.bias; the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_parameters(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_parameters(*this, prefix, f);
  }
  void zero_grad() {
    embedding_.zero_grad();
    lstm_.zero_grad();
    head_.zero_grad();
  }

  /// The configuration as checkpoint metadata (architecture, vocab_size, embedding_dim, hidden_size, num_layers).
  std::map<std::string, std::string> metadata() const {
    return {{"architecture", "elm-lstm-lm"},
            {"vocab_size", std::to_string(config_.vocab_size)},
            {"embedding_dim", std::to_string(config_.embedding_dim)},
            {"hidden_size", std::to_string(config_.hidden_size)},
            {"num_layers", std::to_string(config_.num_layers)}};
  }

 private:
  // The body of both for_each_parameter overloads: Self is LstmLm, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.embedding_.for_each_parameter(nn::join_name(prefix, "embedding"), f);
    self.lstm_.for_each_parameter(nn::join_name(prefix, "lstm"), f);
    self.head_.for_each_parameter(nn::join_name(prefix, "head"), f);
  }

  static const LstmLmConfig& checked(const LstmLmConfig& c) {
    ELM_EXPECT(c.vocab_size > 0 && c.embedding_dim > 0 && c.hidden_size > 0 && c.num_layers > 0, InvalidArgument,
               "elm::models::LstmLm: expected every size > 0, got vocab_size = ", c.vocab_size, ", embedding_dim = ",
               c.embedding_dim, ", hidden_size = ", c.hidden_size, ", num_layers = ", c.num_layers);
    return c;
  }

  LstmLmConfig config_;
  nn::Embedding<Scalar> embedding_;
  nn::Lstm<Scalar> lstm_;
  nn::Linear<Scalar> head_;
};

/// Settings of train_lstm_lm. Each step trains on batch_size windows of seq_len + 1 tokens drawn at random
/// positions of the token stream by an Rng seeded with (seed, step), so a run resumed at step s sees the same
/// batches as one that never stopped. Optimiser: AdamW with linear warmup and cosine decay to
/// min_lr_fraction lr, gradients clipped to clip_norm (0: no clipping).
struct LstmLmTrainOptions {
  Index batch_size = 32;
  Index seq_len = 35;
  std::int64_t steps = 1000;
  double lr = 3e-3;
  double weight_decay = 0.01;
  double clip_norm = 1.0;
  std::int64_t warmup = 50;
  double min_lr_fraction = 0.1;
  std::uint64_t seed = 1;
  /// > 0: stop after this many seconds; the schedule then follows elapsed time instead of steps (a run of a
  /// fixed duration; not reproducible across machines, unlike a run of fixed steps).
  double max_seconds = 0.0;
};

/// What the progress callback sees after each step.
struct LstmLmProgress {
  std::int64_t step = 0;       ///< steps done (1-based after the first)
  std::int64_t steps = 0;      ///< planned steps
  double loss = 0.0;           ///< this step's mean cross-entropy (nats per token)
  double lr = 0.0;             ///< the learning rate used
  double grad_norm = 0.0;      ///< before clipping
  std::int64_t tokens = 0;     ///< tokens trained on so far in this call
  double seconds = 0.0;        ///< wall time so far in this call
  double tokens_per_second = 0.0;
  double fraction = 0.0;       ///< of the run done, in [0, 1]
};

/// The losses of each step, and totals.
struct LstmLmTrainResult {
  std::vector<double> losses;
  std::int64_t steps_done = 0;  ///< the optimizer's step count at the end
  std::int64_t tokens = 0;
  double seconds = 0.0;
};

/// One training step on the batch of `step`: forward, loss, backward, clip, AdamW update. Returns the loss.
template <typename Scalar>
double lstm_lm_train_step(LstmLm<Scalar>& model, const std::vector<Index>& stream, const LstmLmTrainOptions& options,
                          nn::AdamW<Scalar>& optimizer, std::int64_t step, double lr, double* grad_norm = nullptr) {
  const Index b_size = options.batch_size, t_size = options.seq_len;
  const Index span = to_index(stream.size()) - t_size - 1;
  ELM_EXPECT(span >= 0, InvalidArgument, "elm::models::train_lstm_lm: the stream has ", stream.size(),
             " tokens, expected at least seq_len + 1 = ", t_size + 1);
  // 1) the batch of this step: B random windows, drawn from an rng that depends only on (seed, step)
  Rng rng(options.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(step));
  std::vector<Index> inputs(to_size(b_size * t_size)), targets(to_size(b_size * t_size));
  for (Index b = 0; b < b_size; ++b) {
    const Index start = static_cast<Index>(rng.below(static_cast<std::uint64_t>(span) + 1));
    for (Index t = 0; t < t_size; ++t) {
      inputs[to_size(b * t_size + t)] = stream[to_size(start + t)];
      targets[to_size(b * t_size + t)] = stream[to_size(start + t + 1)];
    }
  }
  // 2) forward, loss, backward
  const std::vector<Index> lengths(to_size(b_size), t_size);
  typename LstmLm<Scalar>::Cache cache;
  Matrix<Scalar> logits, dlogits;
  model.forward(inputs, lengths, logits, nullptr, nullptr, &cache);
  const Scalar loss = nn::cross_entropy<Scalar>(logits, targets, {}, &dlogits);
  model.zero_grad();
  model.backward(cache, dlogits);
  // 3) clip and update
  const double norm = options.clip_norm > 0.0 ? nn::clip_grad_norm(model, options.clip_norm) : nn::grad_norm(model);
  ELM_EXPECT(std::isfinite(static_cast<double>(loss)) && std::isfinite(norm), NumericalError,
             "elm::models::train_lstm_lm: step ", step, " gave loss ", loss, " and gradient norm ", norm,
             ", expected finite values (lower the learning rate)");
  if (grad_norm) *grad_norm = norm;
  optimizer.set_lr(lr);
  optimizer.step(model);
  return static_cast<double>(loss);
}

/// Trains `model` on a stream of token ids (sentences joined, each followed by its end token) with `optimizer`,
/// from optimizer.steps() (0 for a fresh run, the restored count for a resumed one) up to options.steps.
/// progress (optional) is called after every step. Throws InvalidArgument for bad options or a stream shorter
/// than seq_len + 1, RangeError for an id outside [0, V), NumericalError when the loss diverges.
template <typename Scalar>
LstmLmTrainResult train_lstm_lm(LstmLm<Scalar>& model, const std::vector<Index>& stream,
                                const LstmLmTrainOptions& options, nn::AdamW<Scalar>& optimizer,
                                const std::function<void(const LstmLmProgress&)>& progress = {}) {
  constexpr const char* where = "elm::models::train_lstm_lm";
  check_argument(options.batch_size > 0 && options.seq_len > 0, where, "expected batch_size and seq_len > 0, got ",
                 options.batch_size, " and ", options.seq_len);
  check_argument(options.steps > options.warmup && options.warmup >= 0, where,
                 "expected 0 <= warmup < steps, got warmup = ", options.warmup, ", steps = ", options.steps);
  check_argument(options.lr > 0.0 && options.min_lr_fraction >= 0.0 && options.min_lr_fraction <= 1.0, where,
                 "expected lr > 0 and min_lr_fraction in [0, 1], got ", options.lr, " and ", options.min_lr_fraction);
  for (Index id : stream) check_id(id, model.config().vocab_size, where, "token id");
  const auto schedule =
      nn::LrSchedule::warmup_cosine(options.lr, options.warmup, options.steps, options.lr * options.min_lr_fraction);
  LstmLmTrainResult result;
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t tokens_per_step = options.batch_size * options.seq_len;
  for (std::int64_t step = optimizer.steps(); step < options.steps; ++step) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double fraction = static_cast<double>(step) / static_cast<double>(options.steps);
    double lr = schedule(step);
    if (options.max_seconds > 0.0) {
      const double by_time = elapsed / options.max_seconds;
      if (by_time >= 1.0) break;
      fraction = std::max(fraction, by_time);
      // the same warmup, then cosine over the time budget
      const double warm = static_cast<double>(step + 1) / static_cast<double>(std::max<std::int64_t>(options.warmup, 1));
      const double floor = options.lr * options.min_lr_fraction;
      lr = step < options.warmup ? options.lr * warm
                                 : floor + (options.lr - floor) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * fraction));
    }
    double norm = 0.0;
    const double loss = lstm_lm_train_step(model, stream, options, optimizer, step, lr, &norm);
    result.losses.push_back(loss);
    result.tokens += tokens_per_step;
    if (progress) {
      LstmLmProgress p;
      p.step = step + 1;
      p.steps = options.steps;
      p.loss = loss;
      p.lr = lr;
      p.grad_norm = norm;
      p.tokens = result.tokens;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.tokens_per_second = p.seconds > 0.0 ? static_cast<double>(p.tokens) / p.seconds : 0.0;
      p.fraction = std::max(fraction, static_cast<double>(step + 1) / static_cast<double>(options.steps));
      progress(p);
    }
  }
  result.steps_done = optimizer.steps();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

/// Natural-log probability of every token of every sentence, each scored on its own from a zero state:
/// the input is bos_id then the sentence, the targets the sentence then eos_id (so a sentence of k tokens gives
/// k + 1 values; pass the same id for both when one boundary token serves). Sentences are run batch_size at a
/// time with their lengths (padding masked). Throws RangeError for an id outside [0, V).
template <typename Scalar>
std::vector<std::vector<double>> lstm_lm_sentence_log_probs(const LstmLm<Scalar>& model,
                                                            const std::vector<std::vector<Index>>& sentences,
                                                            Index bos_id, Index eos_id, Index batch_size = 64) {
  constexpr const char* where = "elm::models::lstm_lm_sentence_log_probs";
  check_argument(batch_size > 0, where, "expected batch_size > 0, got ", batch_size);
  check_id(bos_id, model.config().vocab_size, where, "bos_id");
  check_id(eos_id, model.config().vocab_size, where, "eos_id");
  std::vector<std::vector<double>> out(sentences.size());
  // Batches of sentences of similar lengths (longest first), so little of each batch is padding.
  std::vector<std::size_t> order(sentences.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sentences[a].size() > sentences[b].size(); });
  for (std::size_t first = 0; first < order.size(); first += to_size(batch_size)) {
    const std::size_t last = std::min(order.size(), first + to_size(batch_size));
    const Index b_size = to_index(last - first);
    const Index t_size = to_index(sentences[order[first]].size()) + 1;
    std::vector<Index> ids(to_size(b_size * t_size), eos_id), lengths(to_size(b_size));
    for (Index b = 0; b < b_size; ++b) {
      const auto& sentence = sentences[order[first + to_size(b)]];
      lengths[to_size(b)] = to_index(sentence.size()) + 1;
      ids[to_size(b * t_size)] = bos_id;
      for (std::size_t k = 0; k < sentence.size(); ++k) ids[to_size(b * t_size) + k + 1] = sentence[k];
    }
    Matrix<Scalar> logits;
    model.forward(ids, lengths, logits);
    for (Index b = 0; b < b_size; ++b) {
      const auto& sentence = sentences[order[first + to_size(b)]];
      auto& scores = out[order[first + to_size(b)]];
      scores.resize(sentence.size() + 1);
      for (std::size_t k = 0; k <= sentence.size(); ++k) {
        const Index col = b * t_size + to_index(k);
        const Index target = k < sentence.size() ? sentence[k] : eos_id;
        check_id(target, model.config().vocab_size, where, "token id");
        scores[k] = static_cast<double>(logits(target, col)) - static_cast<double>(log_sum_exp(logits.col(col)));
      }
    }
  }
  return out;
}

/// Draws up to max_tokens tokens after `prompt` (which starts with the boundary token for a new sentence),
/// stopping after stop_id (-1: never), from softmax(logits / temperature). The same rng state gives the same
/// text. Throws InvalidArgument for an empty prompt or temperature <= 0, RangeError for a bad id.
template <typename Scalar>
std::vector<Index> lstm_lm_sample(const LstmLm<Scalar>& model, const std::vector<Index>& prompt, Index max_tokens,
                                  Index stop_id, double temperature, Rng& rng) {
  constexpr const char* where = "elm::models::lstm_lm_sample";
  check_argument(!prompt.empty(), where, "expected a non-empty prompt");
  check_argument(temperature > 0.0, where, "expected temperature > 0, got ", temperature);
  typename LstmLm<Scalar>::State state;
  Matrix<Scalar> logits;
  model.forward(prompt, {to_index(prompt.size())}, logits, nullptr, &state);
  std::vector<Index> out;
  Vector<double> p(model.config().vocab_size);
  for (Index n = 0; n < max_tokens; ++n) {
    // softmax of the last column at the given temperature, then one inverse-CDF draw
    const auto last = logits.col(logits.cols() - 1);
    p = last.template cast<double>() / temperature;
    p = (p.array() - p.maxCoeff()).exp().matrix();
    const double u = rng.uniform() * p.sum();
    Index next = p.size() - 1;
    double acc = 0.0;
    for (Index v = 0; v < p.size(); ++v) {
      acc += p(v);
      if (u < acc) {
        next = v;
        break;
      }
    }
    out.push_back(next);
    if (next == stop_id) break;
    typename LstmLm<Scalar>::State in = state;
    model.forward({next}, {1}, logits, &in, &state);
  }
  return out;
}

/// The tokens of one line: words (split at spaces) or characters (bytes; the bundled corpora are ASCII after
/// lower-casing, and a space is a token of its own).
inline std::vector<std::string> lstm_lm_tokens(std::string_view line, bool chars) {
  std::vector<std::string> out;
  if (chars) {
    for (char ch : line) out.emplace_back(1, ch);
    return out;
  }
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

/// A corpus prepared for an LstmLm: the vocabulary (id 0 "<unk>", id 1 "</s>", then the training tokens seen
/// at least min_count times, most frequent first), the training stream "</s> s_1 </s> s_2 </s> ...", and the
/// held-out sentences as ids. Tokens below min_count map to <unk>, so the model learns <unk> from them.
struct LstmLmCorpus {
  static constexpr Index unk_id = 0;
  static constexpr Index boundary_id = 1;  ///< </s>: ends a sentence, and is the input before its first token
  bool chars = false;
  std::vector<std::string> tokens;
  std::unordered_map<std::string, Index> ids;
  std::vector<Index> train_stream;
  std::vector<std::vector<Index>> test_sentences;
  /// Training token types mapped to <unk>, plus one for types never seen: how many types share <unk>'s mass.
  Index unk_types = 1;

  Index vocab_size() const { return to_index(tokens.size()); }
  /// Ids of a line's tokens (unknown ones as <unk>).
  std::vector<Index> encode(std::string_view line) const {
    std::vector<Index> out;
    for (const auto& token : lstm_lm_tokens(line, chars)) {
      const auto it = ids.find(token);
      out.push_back(it == ids.end() ? unk_id : it->second);
    }
    return out;
  }
  /// Text of ids: words joined by spaces, characters concatenated; </s> ends the text.
  std::string decode(const std::vector<Index>& sequence) const {
    std::string out;
    for (Index id : sequence) {
      if (id == boundary_id) break;
      if (!chars && !out.empty()) out += ' ';
      out += tokens.at(to_size(id));
    }
    return out;
  }
};

/// Builds an LstmLmCorpus from lines of training and held-out text. Throws InvalidArgument for min_count < 1 or
/// an empty training set.
inline LstmLmCorpus make_lstm_lm_corpus(const std::vector<std::string>& train, const std::vector<std::string>& test,
                                        bool chars, Index min_count = 2) {
  constexpr const char* where = "elm::models::make_lstm_lm_corpus";
  check_argument(min_count >= 1, where, "expected min_count >= 1, got ", min_count);
  check_argument(!train.empty(), where, "expected training lines, got none");
  LstmLmCorpus c;
  c.chars = chars;
  std::unordered_map<std::string, std::int64_t> counts;
  for (const auto& line : train)
    for (auto& token : lstm_lm_tokens(line, chars)) ++counts[token];
  std::vector<std::pair<std::string, std::int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  c.tokens = {"<unk>", "</s>"};
  for (const auto& [token, count] : sorted) {
    if (count >= min_count && token != "<unk>" && token != "</s>")
      c.tokens.push_back(token);
    else
      ++c.unk_types;
  }
  for (std::size_t i = 0; i < c.tokens.size(); ++i) c.ids.emplace(c.tokens[i], to_index(i));
  c.train_stream.push_back(LstmLmCorpus::boundary_id);
  for (const auto& line : train) {
    for (Index id : c.encode(line)) c.train_stream.push_back(id);
    c.train_stream.push_back(LstmLmCorpus::boundary_id);
  }
  for (const auto& line : test) c.test_sentences.push_back(c.encode(line));
  return c;
}

/// Held-out perplexity of an LstmLm, with the conventions of NgramModel::perplexity: every token and the </s>
/// of every sentence is predicted, each sentence from its start. A token outside the model's vocabulary is
/// scored as p(<unk>) / unk_types (<unk>'s mass shared evenly by the types it stands for), so the number is
/// comparable with a model whose vocabulary holds every training type.
struct LstmLmPerplexity {
  double log_prob = 0.0;  ///< natural log, summed
  Index tokens = 0;
  Index unk_tokens = 0;
  double perplexity() const { return std::exp(-log_prob / static_cast<double>(tokens)); }
};

template <typename Scalar>
LstmLmPerplexity lstm_lm_perplexity(const LstmLm<Scalar>& model, const LstmLmCorpus& corpus, Index batch_size = 64) {
  const auto scores = lstm_lm_sentence_log_probs(model, corpus.test_sentences, LstmLmCorpus::boundary_id,
                                                 LstmLmCorpus::boundary_id, batch_size);
  LstmLmPerplexity result;
  const double unk_share = std::log(static_cast<double>(corpus.unk_types));
  for (std::size_t s = 0; s < scores.size(); ++s)
    for (std::size_t k = 0; k < scores[s].size(); ++k) {
      result.log_prob += scores[s][k];
      ++result.tokens;
      if (k < corpus.test_sentences[s].size() && corpus.test_sentences[s][k] == LstmLmCorpus::unk_id) {
        result.log_prob -= unk_share;
        ++result.unk_tokens;
      }
    }
  return result;
}

}  // namespace elm::models
