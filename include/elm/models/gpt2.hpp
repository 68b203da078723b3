// SPDX-License-Identifier: MIT
// Gpt2: GPT-2 (Radford et al. 2019) composed from the library's blocks, with Hugging Face's parameter names, its
// forward, backward, next-token loss and KV-cached decoding, and held-out scoring in sliding windows
// (io/gpt2_hf.hpp reads and writes Hugging Face's model directories).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/perplexity.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "elm/nn/transformer_block.hpp"

namespace elm::models {

/// GPT-2's sizes and options, Hugging Face GPT2Config's names. n_inner = 0 means 4 n_embd.
struct Gpt2Config {
  Index vocab_size = 50257;
  Index n_positions = 1024;  ///< the context: the longest sequence
  Index n_embd = 768;        ///< C
  Index n_layer = 12;
  Index n_head = 12;         ///< H, must divide C
  Index n_inner = 0;         ///< F; 0: 4 C
  double layer_norm_epsilon = 1e-5;
  double resid_pdrop = 0.1;  ///< on each block's attention and MLP outputs
  double embd_pdrop = 0.1;   ///< on the summed token and position embeddings
  double attn_pdrop = 0.1;   ///< on the attention weights
  double initializer_range = 0.02;
  nn::ActivationKind activation = nn::ActivationKind::gelu_tanh;  ///< activation_function "gelu_new"
  /// The special tokens' ids (GPT2Config's defaults: <|endoftext|>, 50256, for both); empty when config.json
  /// has null. Not checked against vocab_size, as Hugging Face does not (a small model keeps the defaults).
  std::optional<Index> bos_token_id = 50256;
  std::optional<Index> eos_token_id = 50256;
  std::optional<Index> pad_token_id;

  /// The blocks' configuration: TransformerConfig::gpt2 with these sizes and dropouts.
  nn::TransformerConfig blocks() const {
    nn::TransformerConfig t = nn::TransformerConfig::gpt2(n_embd, n_layer, n_head, n_positions);
    t.intermediate = n_inner > 0 ? n_inner : 4 * n_embd;
    t.dropout = resid_pdrop;
    t.attention_dropout = attn_pdrop;
    t.feed_forward_dropout = 0.0;
    t.layer_norm_eps = layer_norm_epsilon;
    t.activation = activation;
    return t;
  }

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(vocab_size > 0 && vocab_size <= nn::max_transformer_dimension, InvalidArgument, where,
               ": vocab_size = ", vocab_size, ", expected 0 < vocab_size <= 2^31");
    // before blocks(), which forms 4 C
    ELM_EXPECT(n_embd <= nn::max_transformer_dimension && n_inner <= nn::max_transformer_dimension, InvalidArgument,
               where, ": n_embd = ", n_embd, ", n_inner = ", n_inner, ", expected at most 2^31");
    ELM_EXPECT(embd_pdrop >= 0.0 && embd_pdrop < 1.0, InvalidArgument, where, ": embd_pdrop = ", embd_pdrop,
               ", expected 0 <= p < 1");
    ELM_EXPECT(n_inner >= 0, InvalidArgument, where, ": n_inner = ", n_inner, ", expected >= 0");
    for (const auto& [name, id] : {std::pair{"bos_token_id", bos_token_id}, std::pair{"eos_token_id", eos_token_id},
                                   std::pair{"pad_token_id", pad_token_id}})
      ELM_EXPECT(!id || *id >= 0, InvalidArgument, where, ": ", name, " = ", id.value_or(0), ", expected >= 0");
    blocks().check(where);
  }
};

/// Which logits a decoding call computes: of every new position, or of each sequence's last one only (what a
/// generator needs: the head is V x C per column, the largest product of a step).
enum class LogitPositions { all, last };

/// GPT-2: x = drop(wte[ids] + wpe[positions]); h = ln_f(blocks(x)), causal; logits = wte^T h (the head tied to
/// the token table). Parameters under Hugging Face GPT2Model's names: wte.weight (V, C), wpe.weight (P, C),
/// h.<i>.ln_1.*, h.<i>.attn.c_attn.* (Conv1D (C, 3C)), h.<i>.attn.c_proj.*, h.<i>.ln_2.*, h.<i>.mlp.c_fc.*,
/// h.<i>.mlp.c_proj.*, ln_f.*. Token ids of B sequences of T positions come batch-major (sequence b's token t
/// at b T + t); logits are (V, B T) in the same order. Reference: Radford et al. 2019; Hugging Face
/// transformers' GPT2LMHeadModel; Karpathy's llm.c train_gpt2.c.
template <typename Scalar = float>
class Gpt2 : public nn::Composite<Gpt2<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "Gpt2 needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename nn::Embedding<Scalar>::Cache tokens;
    typename nn::LearnedPositionalEmbedding<Scalar>::Cache positions;
    typename nn::Dropout<Scalar>::Cache embedding_dropout;
    typename nn::TransformerEncoder<Scalar>::Cache blocks;
    typename nn::Embedding<Scalar>::ProjectionCache head;
  };

  /// Zero parameters (load them, or call reset_parameters). Throws InvalidArgument on a bad config.
  explicit Gpt2(const Gpt2Config& config)
      : config_((config.check("elm::models::Gpt2"), config)),
        wte_(config.vocab_size, config.n_embd),
        wpe_(config.n_positions, config.n_embd),
        drop_(config.embd_pdrop),
        blocks_(config.blocks()) {}

  /// Shorthand for the zero model followed by reset_parameters(rng).
  Gpt2(const Gpt2Config& config, Rng& rng) : Gpt2(config) { reset_parameters(rng); }

  /// Hugging Face's initialisation (GPT2PreTrainedModel._init_weights): every weight from N(0, 0.02^2), the
  /// blocks' output projections (attn.c_proj, mlp.c_proj) from N(0, 0.02^2 / (2 n_layer)), biases zero,
  /// LayerNorms one and zero.
  void reset_parameters(Rng& rng) {
    const double s = config_.initializer_range;
    const double s_proj = s / std::sqrt(2.0 * double(config_.n_layer));
    this->for_each_parameter("", [&](const std::string& name, nn::Parameter<Scalar>& p) {
      const bool is_norm = name.find("ln_") != std::string::npos;
      const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
      if (is_norm && !is_bias)
        p.value.setOnes();
      else if (is_bias)
        p.value.setZero();
      else
        rng.fill_normal(p.value, 0.0, name.find("c_proj.weight") != std::string::npos ? s_proj : s);
    });
  }

  const Gpt2Config& config() const noexcept { return config_; }
  /// V, the vocabulary size.
  Index vocab_size() const noexcept { return config_.vocab_size; }
  /// The context: the most positions a sequence may have (n_positions).
  Index max_positions() const noexcept { return config_.n_positions; }
  nn::Embedding<Scalar>& token_embedding() noexcept { return wte_; }
  const nn::Embedding<Scalar>& token_embedding() const noexcept { return wte_; }
  nn::TransformerEncoder<Scalar>& blocks() noexcept { return blocks_; }
  const nn::TransformerEncoder<Scalar>& blocks() const noexcept { return blocks_; }

  /// ids: B sequences of T token ids, batch-major -> logits: (V, B T). mask: key padding and other masks of the
  /// attention (the blocks add causality). Dropout in a training context. Throws RangeError for an id outside
  /// [0, V) or T > n_positions, ShapeError when B does not divide the ids.
  void forward(const std::vector<Index>& ids, Index batch, const nn::AttentionMask<Scalar>& mask,
               Matrix<Scalar>& logits, Cache* cache = nullptr, const nn::ForwardContext& context = {}) const {
    forward(ids, batch, {}, mask, logits, cache, context);
  }

  /// The same with each token's position given (one per id, batch-major; empty: 0..T-1 in every sequence), as
  /// Hugging Face's position_ids: a left-padded batch numbers each sequence from its first real token, its
  /// padding hidden by the mask's key padding (T, B). Throws ShapeError when the counts differ, RangeError for
  /// a position outside [0, n_positions).
  void forward(const std::vector<Index>& ids, Index batch, const std::vector<Index>& positions,
               const nn::AttentionMask<Scalar>& mask, Matrix<Scalar>& logits, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::models::Gpt2::forward";
    ELM_EXPECT(batch > 0 && !ids.empty() && to_index(ids.size()) % batch == 0, ShapeError, where, ": got ",
               ids.size(), " token ids, expected a positive multiple of B = ", batch);
    ELM_EXPECT(positions.empty() || positions.size() == ids.size(), ShapeError, where, ": got ", positions.size(),
               " positions for ", ids.size(), " token ids, expected one per id (or none)");
    Matrix<Scalar> e, x, h;
    wte_.forward(ids, e, cache ? &cache->tokens : nullptr);
    if (positions.empty())
      wpe_.forward(e, batch, 0, x, cache ? &cache->positions : nullptr);
    else
      wpe_.forward(e, positions, x, cache ? &cache->positions : nullptr);
    drop_.forward(x, e, cache ? &cache->embedding_dropout : nullptr, context);
    blocks_.forward(e, batch, mask, h, cache ? &cache->blocks : nullptr, context);
    wte_.project(h, logits, cache ? &cache->head : nullptr);
  }

  /// Keeps the weights of the blocks' dense layers (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) and of the
  /// head (the token table as the head reads it, (V, C)) in `dtype` for inference: forward, forward_incremental,
  /// generation and scoring multiply by them (nn::QuantizedWeights: bf16, or int8 blocks as llama.cpp's Q8_0);
  /// f32 goes back to the float32 parameters. The parameters themselves stay float32 (saving writes them);
  /// training needs f32 (backward throws otherwise), and a parameter changed after this call is not seen until
  /// it is called again. Throws InvalidArgument for bf16 or int8 on a model whose Scalar is not float,
  /// NumericalError for a weight that is not finite (the model is then unchanged).
  void set_weight_dtype(nn::WeightDType dtype) {
    nn::set_inference_weights<Scalar>(
        *this, dtype,
        [](const std::string& name, const nn::Parameter<float>& p) {
          if (name == "wte.weight") return nn::InferenceOrientation::transposed;  // the head: logits = wte^T h
          if (p.shape.size() == 2 && name != "wpe.weight") return nn::InferenceOrientation::value;  // Conv1D: A = value
          return nn::InferenceOrientation::none;
        },
        "elm::models::Gpt2::set_weight_dtype");
    weight_dtype_ = dtype;
  }

  /// How the dense layers' weights are kept for inference (set_weight_dtype; f32 unless changed).
  nn::WeightDType weight_dtype() const noexcept { return weight_dtype_; }

  /// Adds every parameter's gradient from dlogits: (V, B T); the token table's two uses (input and head) add up.
  /// Throws InvalidArgument unless the weights are f32 (set_weight_dtype).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    require_f32_weights("elm::models::Gpt2::backward");
    Matrix<Scalar> dh, dx, de;
    wte_.project_backward(cache.head, dlogits, dh);
    blocks_.backward(cache.blocks, dh, dx);
    drop_.backward(cache.embedding_dropout, dx, de);
    wpe_.backward(cache.positions, de, dx);
    wte_.backward(cache.tokens, dx);
  }

  /// The next-token cross-entropy of B = lengths.size() sequences of T = ids.size() / B ids (batch-major), summed
  /// over the targets that count: targets[b T + t] is the id that follows position t, or -100 (ignored). Sequence
  /// b has lengths[b] <= T real positions; the rest is padding on the right, which the causal attention keeps
  /// from every real position, and must have target -100. The Trainer's language-model step calls this (the
  /// trainer divides by the number of targets). Throws ShapeError, RangeError or InvalidArgument for sizes, ids
  /// or padding targets that disagree.
  double loss(const std::vector<Index>& ids, const std::vector<Index>& lengths,
              const std::vector<Index>& targets) const {
    Matrix<Scalar> logits;
    forward(ids, check_lengths(ids, lengths, targets, "elm::models::Gpt2::loss"), {}, logits);
    return static_cast<double>(nn::cross_entropy<Scalar>(logits, targets, summed()));
  }

  /// loss(), and its gradient added into every parameter's gradient: a training step's forward (dropout in a
  /// training context) and backward.
  double loss_and_backward(const std::vector<Index>& ids, const std::vector<Index>& lengths,
                           const std::vector<Index>& targets, const nn::ForwardContext& context = {}) {
    require_f32_weights("elm::models::Gpt2::loss_and_backward");
    const Index batch = check_lengths(ids, lengths, targets, "elm::models::Gpt2::loss_and_backward");
    Cache cache;
    Matrix<Scalar> logits, dlogits;
    forward(ids, batch, {}, logits, &cache, context);
    const Scalar total = nn::cross_entropy<Scalar>(logits, targets, summed(), &dlogits);
    logits.resize(0, 0);  // (V, B T): give it back before backward allocates its own
    backward(cache, dlogits);
    return static_cast<double>(total);
  }

  /// One KV cache per block for decoding B sequences of up to max_length <= n_positions positions.
  std::vector<nn::KvCache<Scalar>> make_kv_caches(Index batch, Index max_length) const {
    return blocks_.make_kv_caches(batch, max_length);
  }

  /// Decoding: ids holds the next T_new tokens of each of the caches' B sequences (batch-major); their positions
  /// continue from the caches' length. logits: (V, B T_new), equal to the matching columns of a full forward.
  void forward_incremental(const std::vector<Index>& ids, std::vector<nn::KvCache<Scalar>>& kv,
                           Matrix<Scalar>& logits) const {
    forward_incremental(ids, {}, nn::AttentionMask<Scalar>{}, kv, logits);
  }

  /// Decoding a left-padded batch (Hugging Face's generate with an attention_mask): positions holds each new
  /// token's position (one per id, batch-major; empty: continuing from the caches' length), the mask covers the
  /// T_k = cached + T_new keys (key padding (T_k, B) hides the padding; the causal part is always applied).
  /// logits: (V, B T_new), or (V, B) of each sequence's last new position with LogitPositions::last. Throws
  /// ShapeError on wrong counts or mask shapes, RangeError for an id or position out of range or a full cache
  /// (the caches are then unchanged).
  void forward_incremental(const std::vector<Index>& ids, const std::vector<Index>& positions,
                           const nn::AttentionMask<Scalar>& mask, std::vector<nn::KvCache<Scalar>>& kv,
                           Matrix<Scalar>& logits, LogitPositions which = LogitPositions::all) const {
    constexpr std::string_view where = "elm::models::Gpt2::forward_incremental";
    ELM_EXPECT(!kv.empty(), InvalidArgument, where, ": expected one KV cache per block, got none");
    const Index batch = kv.front().batch();
    ELM_EXPECT(!ids.empty() && to_index(ids.size()) % batch == 0, ShapeError, where, ": got ", ids.size(),
               " token ids, expected a positive multiple of the caches' B = ", batch);
    ELM_EXPECT(positions.empty() || positions.size() == ids.size(), ShapeError, where, ": got ", positions.size(),
               " positions for ", ids.size(), " token ids, expected one per id (or none)");
    const Index T_new = to_index(ids.size()) / batch;
    Matrix<Scalar> e, x, h;
    wte_.forward(ids, e);
    if (positions.empty())
      wpe_.forward(e, batch, kv.front().length(), x);
    else
      wpe_.forward(e, positions, x);
    blocks_.forward_incremental(x, kv, mask, h);
    if (which == LogitPositions::last && T_new > 1) {
      // 1) each sequence's last column, 2) the head on those B columns only
      for (Index b = 0; b < batch; ++b) x.col(b) = h.col(b * T_new + T_new - 1);
      wte_.project(x.leftCols(batch), logits);
    } else {
      wte_.project(h, logits);
    }
  }

 private:
  static nn::CrossEntropyOptions summed() {
    nn::CrossEntropyOptions o;
    o.reduction = nn::Reduction::sum;
    return o;
  }

  void require_f32_weights(std::string_view where) const { nn::require_f32_weights(weight_dtype_, where); }

  // B, after checking that lengths and targets describe B padded sequences of the ids.
  static Index check_lengths(const std::vector<Index>& ids, const std::vector<Index>& lengths,
                             const std::vector<Index>& targets, std::string_view where) {
    const Index batch = to_index(lengths.size());
    ELM_EXPECT(batch > 0 && !ids.empty() && to_index(ids.size()) % batch == 0, ShapeError, where, ": got ",
               ids.size(), " token ids and ", batch, " lengths, expected B = lengths.size() > 0 sequences of T ids");
    ELM_EXPECT(targets.size() == ids.size(), ShapeError, where, ": got ", targets.size(), " targets for ", ids.size(),
               " token ids, expected one each");
    const Index T = to_index(ids.size()) / batch;
    for (Index b = 0; b < batch; ++b) {
      const Index length = lengths[to_size(b)];
      ELM_EXPECT(length >= 0 && length <= T, InvalidArgument, where, ": lengths[", b, "] = ", length,
                 ", expected 0 <= length <= T = ", T);
      for (Index t = length; t < T; ++t)
        ELM_EXPECT(targets[to_size(b * T + t)] == -100, InvalidArgument, where, ": position ", t, " of sequence ", b,
                   " is padding (length ", length, ") but has target ", targets[to_size(b * T + t)],
                   ", expected -100");
    }
    return batch;
  }

  friend class nn::Composite<Gpt2>;
  // The parameters in order, for Composite's for_each_parameter: Self is Gpt2, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.wte_.for_each_parameter(nn::join_name(prefix, "wte"), f);
    self.wpe_.for_each_parameter(nn::join_name(prefix, "wpe"), f);
    self.blocks_.for_each_parameter(prefix, f);
  }

  Gpt2Config config_;
  nn::WeightDType weight_dtype_ = nn::WeightDType::f32;
  nn::Embedding<Scalar> wte_;
  nn::LearnedPositionalEmbedding<Scalar> wpe_;
  nn::Dropout<Scalar> drop_;
  nn::TransformerEncoder<Scalar> blocks_;
};

/// Natural-log probability of every token after the first of each sequence: sequence s of n tokens gives n - 1
/// values, log p(x_{t+1} | x_0 .. x_t). A sequence longer than the context (n_positions) is scored in windows of
/// n_positions tokens that advance by `stride` (0: n_positions / 2), each window scoring the tokens the previous
/// did not, so every token after the first window sees at least n_positions - stride tokens of context (Hugging
/// Face's sliding-window perplexity). Windows run batch_size at a time, padded on the right. Throws
/// InvalidArgument for a sequence of fewer than 2 tokens, batch_size < 1 or a stride outside [0, n_positions),
/// RangeError for an id outside [0, V).
template <typename Scalar>
std::vector<std::vector<double>> gpt2_sequence_log_probs(const Gpt2<Scalar>& model,
                                                         const std::vector<std::vector<Index>>& sequences,
                                                         Index batch_size = 16, Index stride = 0) {
  constexpr const char* where = "elm::models::gpt2_sequence_log_probs";
  const Index P = model.config().n_positions;
  check_argument(batch_size > 0, where, "expected batch_size > 0, got ", batch_size);
  check_argument(P >= 2, where, "expected n_positions >= 2 to score anything, got ", P);
  check_argument(stride >= 0 && stride < P, where, "expected 0 <= stride < n_positions = ", P, ", got ", stride);
  if (stride == 0) stride = P / 2;
  // 1) windows: [begin, end) of a sequence, scoring the targets of positions [first, end - 1)
  struct Window {
    std::size_t sequence;
    Index begin, end, first;
  };
  std::vector<Window> windows;
  std::vector<std::vector<double>> out(sequences.size());
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const Index n = to_index(sequences[s].size());
    check_argument(n >= 2, where, "sequence ", s, " has ", n, " tokens, expected at least 2");
    out[s].resize(to_size(n - 1));
    for (Index end = std::min(P, n), scored = 0;; end = std::min(end + stride, n)) {
      const Index begin = std::max<Index>(0, end - P);
      windows.push_back({s, begin, end, scored});
      scored = end - 1;
      if (end == n) break;
    }
  }
  // 2) longest first, so that a batch's windows have similar lengths
  std::stable_sort(windows.begin(), windows.end(),
                   [](const Window& a, const Window& b) { return a.end - a.begin > b.end - b.begin; });
  Matrix<Scalar> logits;
  for (std::size_t first = 0; first < windows.size(); first += to_size(batch_size)) {
    const std::size_t last = std::min(windows.size(), first + to_size(batch_size));
    const Index B = to_index(last - first);
    const Index T = windows[first].end - windows[first].begin;
    std::vector<Index> ids(to_size(B * T), 0);
    for (Index b = 0; b < B; ++b) {
      const Window& w = windows[first + to_size(b)];
      const auto& x = sequences[w.sequence];
      std::copy(x.begin() + w.begin, x.begin() + w.end, ids.begin() + b * T);
    }
    model.forward(ids, B, {}, logits);
    // 3) log-softmax at the target of each scored position
    for (Index b = 0; b < B; ++b) {
      const Window& w = windows[first + to_size(b)];
      const auto& x = sequences[w.sequence];
      for (Index t = w.first; t + 1 < w.end; ++t) {
        const Index col = b * T + (t - w.begin);
        out[w.sequence][to_size(t)] = static_cast<double>(logits(x[to_size(t + 1)], col)) -
                                      static_cast<double>(log_sum_exp(logits.col(col)));
      }
    }
  }
  return out;
}

/// Held-out perplexity of a Gpt2 over sentences (ids without boundaries), SentencePerplexity's conventions: each
/// sentence scored on its own as "boundary sentence boundary" (its tokens and its end predicted from the
/// boundary on), <unk>'s share. Sentences longer than the context are scored in sliding windows that advance by
/// `stride` (gpt2_sequence_log_probs). Throws InvalidArgument for unk_types < 1, RangeError for an id outside [0, V).
template <typename Scalar>
SentencePerplexity gpt2_perplexity(const Gpt2<Scalar>& model, const std::vector<std::vector<Index>>& sentences,
                                   Index boundary_id, Index unk_id, Index unk_types, Index batch_size = 16,
                                   Index stride = 0) {
  constexpr const char* where = "elm::models::gpt2_perplexity";
  check_argument(unk_types >= 1, where, "expected unk_types >= 1, got ", unk_types);
  check_id(boundary_id, model.config().vocab_size, where, "boundary_id");
  std::vector<std::vector<Index>> sequences;
  sequences.reserve(sentences.size());
  for (const auto& sentence : sentences) {
    std::vector<Index> x{boundary_id};
    x.insert(x.end(), sentence.begin(), sentence.end());
    x.push_back(boundary_id);
    sequences.push_back(std::move(x));
  }
  return sentence_perplexity(gpt2_sequence_log_probs(model, sequences, batch_size, stride), sentences, unk_id,
                             unk_types, where);
}

}  // namespace elm::models
