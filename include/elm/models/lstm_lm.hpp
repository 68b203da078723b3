// SPDX-License-Identifier: MIT
// LstmLm: an Embedding -> LSTM -> Linear word or character language model, its losses, its configuration as
// file metadata, scoring and sampling (its training is elm::train::Trainer's, its file format io's).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/detail/config_metadata.hpp"
#include "elm/models/perplexity.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/lstm.hpp"

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
class LstmLm : public nn::Composite<LstmLm<Scalar>> {
 public:
  using scalar_type = Scalar;
  using State = nn::RecurrentState<Scalar>;
  struct Cache {
    typename nn::Embedding<Scalar>::Cache embedding;
    typename nn::Lstm<Scalar>::Cache lstm;
    typename nn::Linear<Scalar>::Cache head;
  };

  /// Zero-initialised (for loading). Throws InvalidArgument for a non-positive size.
  explicit LstmLm(const LstmLmConfig& config)
      : config_(checked(config)),
        embedding_(config.vocab_size, config.embedding_dim),
        lstm_(config.embedding_dim, config.hidden_size, config.num_layers),
        head_(config.hidden_size, config.vocab_size) {}

  /// Shorthand for the zero model then reset_parameters(rng). Throws InvalidArgument for a non-positive size.
  LstmLm(const LstmLmConfig& config, Rng& rng) : LstmLm(config) { reset_parameters(rng); }

  /// PyTorch's initialisation of the LSTM and the head, then the embedding's U(-0.1, 0.1) (PyTorch's
  /// word_language_model example), drawn in that order.
  void reset_parameters(Rng& rng) {
    lstm_.reset_parameters(rng);
    head_.reset_parameters(rng);
    rng.fill_uniform(embedding_.weight().value, -0.1, 0.1);
  }

  const LstmLmConfig& config() const { return config_; }
  nn::Embedding<Scalar>& embedding() { return embedding_; }
  nn::Lstm<Scalar>& lstm() { return lstm_; }
  nn::Linear<Scalar>& head() { return head_; }
  const nn::Lstm<Scalar>& lstm() const { return lstm_; }

  /// Logits of the next token at every position. ids: B T ids, batch-first (sequence b's tokens at
  /// b T .. b T + T - 1); lengths: B values in [0, T] -> logits: (V, B T) (padding columns hold the head's bias).
  /// initial/final: LSTM state (null: zeros / not wanted). context: training or inference (no layer of the model
  /// draws random numbers). Throws RangeError for an id outside [0, V) or a bad length, ShapeError for B T not a
  /// multiple of lengths.size().
  void forward(const std::vector<Index>& ids, const std::vector<Index>& lengths, Matrix<Scalar>& logits,
               const State* initial = nullptr, State* final_state = nullptr, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    Matrix<Scalar> x, h;
    embedding_.forward(ids, x, cache ? &cache->embedding : nullptr, context);                 // x: (E, B T)
    lstm_.forward(x, lengths, initial, h, final_state, cache ? &cache->lstm : nullptr, context);  // h: (H, B T)
    head_.forward(h, logits, cache ? &cache->head : nullptr, context);                         // logits: (V, B T)
  }

  /// Adds every parameter gradient from d loss / d logits (V, B T) and, optionally, d loss / d final state.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits, const State* dfinal = nullptr) {
    Matrix<Scalar> dh, dx;
    head_.backward(cache.head, dlogits, dh);
    lstm_.backward(cache.lstm, dh, dfinal, dx);
    embedding_.backward(cache.embedding, dx);
  }

  /// The cross-entropy of `targets` (B T next-token ids; -100, nn::cross_entropy's ignore_index, at padding)
  /// given ids and lengths as in forward, summed over the targets that count (a trainer divides by their number).
  double loss(const std::vector<Index>& ids, const std::vector<Index>& lengths,
              const std::vector<Index>& targets) const {
    Matrix<Scalar> logits;
    forward(ids, lengths, logits);
    return static_cast<double>(nn::cross_entropy<Scalar>(logits, targets, summed()));
  }

  /// loss(), and its gradient added into every parameter's gradient: a training step's forward and backward.
  double loss_and_backward(const std::vector<Index>& ids, const std::vector<Index>& lengths,
                           const std::vector<Index>& targets, const nn::ForwardContext& context = {}) {
    Cache cache;
    Matrix<Scalar> logits, dlogits;
    forward(ids, lengths, logits, nullptr, nullptr, &cache, context);
    const Scalar total = nn::cross_entropy<Scalar>(logits, targets, summed(), &dlogits);
    backward(cache, dlogits);
    return static_cast<double>(total);
  }

  // for_each_parameter (mutable and const) and zero_grad come from nn::Composite: embedding.weight, lstm.*,
  // head.weight, head.bias.

  /// The value of the "architecture" metadata key in a saved LstmLm.
  static constexpr const char* architecture = "elm-lstm-lm";

  /// The configuration as checkpoint metadata (architecture, vocab_size, embedding_dim, hidden_size, num_layers).
  std::map<std::string, std::string> metadata() const {
    return {{"architecture", architecture},
            {"vocab_size", std::to_string(config_.vocab_size)},
            {"embedding_dim", std::to_string(config_.embedding_dim)},
            {"hidden_size", std::to_string(config_.hidden_size)},
            {"num_layers", std::to_string(config_.num_layers)}};
  }

  /// The configuration that metadata() wrote into a safetensors file (io::save_parameters(path, model,
  /// model.metadata())), checked against the file's tensors before a model of those sizes is allocated (a corrupt
  /// size could otherwise ask for any amount of memory; the tensors' sizes are bounded by the file's). Then
  /// io::load_parameters(reader, model) reads the parameters. Throws FormatError naming the file when the
  /// architecture is another or a size is missing, not a positive integer, or disagrees with a tensor's shape.
  static LstmLmConfig config_from(const io::SafetensorsReader& reader) {
    const detail::ConfigMetadata meta(reader, "elm::models::LstmLm::config_from", architecture);
    const auto size = [&](const char* key) { return static_cast<Index>(meta.integer(key)); };
    const LstmLmConfig config{size("vocab_size"), size("embedding_dim"), size("hidden_size"), size("num_layers")};
    meta.expect_shape("embedding.weight", {config.vocab_size, config.embedding_dim});
    meta.expect_shape("head.weight", {config.vocab_size, config.hidden_size});
    meta.expect_shape("lstm.weight_hh_l" + std::to_string(config.num_layers - 1),
                      {4 * config.hidden_size, config.hidden_size});
    return config;
  }

 private:
  static nn::CrossEntropyOptions summed() {
    nn::CrossEntropyOptions options;
    options.reduction = nn::Reduction::sum;
    return options;
  }

  friend class nn::Composite<LstmLm>;
  // The parameters in order, for Composite's for_each_parameter: Self is LstmLm, const or not.
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
/// stopping after stop_id (-1: never), from softmax(logits / temperature) restricted to the top_k most likely
/// tokens (0: all; ties with the k-th kept, as Hugging Face's top-k filter). The same rng state gives the same
/// text. Throws InvalidArgument for an empty prompt, temperature <= 0 or top_k < 0, RangeError for a bad id.
template <typename Scalar>
std::vector<Index> lstm_lm_sample(const LstmLm<Scalar>& model, const std::vector<Index>& prompt, Index max_tokens,
                                  Index stop_id, double temperature, Rng& rng, Index top_k = 0) {
  constexpr const char* where = "elm::models::lstm_lm_sample";
  check_argument(!prompt.empty(), where, "expected a non-empty prompt");
  check_argument(temperature > 0.0, where, "expected temperature > 0, got ", temperature);
  check_argument(top_k >= 0, where, "expected top_k >= 0 (0: no limit), got ", top_k);
  typename LstmLm<Scalar>::State state;
  Matrix<Scalar> logits;
  model.forward(prompt, {to_index(prompt.size())}, logits, nullptr, &state);
  std::vector<Index> out;
  Vector<double> p(model.config().vocab_size);
  std::vector<double> sorted;
  for (Index n = 0; n < max_tokens; ++n) {
    // 1) logits of the last position at the given temperature; 2) below the k-th largest: probability 0;
    // 3) softmax and one inverse-CDF draw
    p = logits.col(logits.cols() - 1).template cast<double>() / temperature;
    double threshold = -std::numeric_limits<double>::infinity();
    if (top_k > 0 && top_k < p.size()) {
      sorted.assign(p.data(), p.data() + p.size());
      std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<double>());
      threshold = sorted[to_size(top_k - 1)];
    }
    const double max = p.maxCoeff();
    for (Index v = 0; v < p.size(); ++v) p(v) = p(v) < threshold ? 0.0 : std::exp(p(v) - max);
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

/// Held-out perplexity of an LstmLm: SentencePerplexity's conventions (each sentence from its start, every
/// token and the boundary after it predicted, <unk>'s share).
using LstmLmPerplexity = SentencePerplexity;

/// See LstmLmPerplexity. sentences: ids (no boundaries). Throws InvalidArgument for unk_types < 1, RangeError
/// for an id outside [0, V).
template <typename Scalar>
LstmLmPerplexity lstm_lm_perplexity(const LstmLm<Scalar>& model, const std::vector<std::vector<Index>>& sentences,
                                    Index boundary_id, Index unk_id, Index unk_types, Index batch_size = 64) {
  check_argument(unk_types >= 1, "elm::models::lstm_lm_perplexity", "expected unk_types >= 1, got ", unk_types);
  return sentence_perplexity(lstm_lm_sentence_log_probs(model, sentences, boundary_id, boundary_id, batch_size),
                             sentences, unk_id, unk_types, "elm::models::lstm_lm_perplexity");
}

}  // namespace elm::models
