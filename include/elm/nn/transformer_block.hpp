// SPDX-License-Identifier: MIT
// The Transformer block (PyTorch's encoder layer, GPT-2's block, and what lies between: norm placement, attention
// and dense layouts, biases, causality, activation, parameter names), PyTorch's decoder layer, the
// TransformerConfig that sizes them, and stacks of them, with a KV-cached forward for decoding.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/feed_forward.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// The names a block and a stack give their parts, so that for_each_parameter yields a checkpoint's own names
/// and loading one is a plain read (elm/io/checkpoint.hpp). PyTorch's by default.
struct BlockNames {
  std::string attention = "self_attn";  ///< the self-attention (its own names follow its QkvLayout)
  std::string norm1 = "norm1";          ///< the norm of the attention sub-layer
  std::string norm2 = "norm2";          ///< the norm of the feed-forward sub-layer
  std::string fc1 = "linear1";          ///< the feed-forward network's first layer
  std::string fc2 = "linear2";          ///< and its second
  std::string layers = "layers";        ///< a stack's blocks: <layers>.<i>
  std::string final_norm = "norm";      ///< a stack's final LayerNorm

  /// nn.TransformerEncoder's names: layers.0.self_attn.in_proj_weight, layers.0.linear1.weight, norm.weight.
  static BlockNames torch() { return {}; }
  /// Hugging Face GPT2Model's names: h.0.attn.c_attn.weight, h.0.mlp.c_fc.weight, h.0.ln_1.weight, ln_f.weight.
  static BlockNames gpt2() { return {"attn", "ln_1", "ln_2", "mlp.c_fc", "mlp.c_proj", "h", "ln_f"}; }
  /// Hugging Face BertModel's encoder names: encoder.layer.0.attention.self.query.weight (with
  /// AttentionNames::bert()), encoder.layer.0.attention.output.LayerNorm.weight, encoder.layer.0.intermediate.dense.*,
  /// encoder.layer.0.output.dense.*, encoder.layer.0.output.LayerNorm.*; BERT has no final norm.
  static BlockNames bert() {
    return {"attention", "attention.output.LayerNorm", "output.LayerNorm", "intermediate.dense", "output.dense",
            "encoder.layer", "norm"};
  }
};

/// The largest size a transformer's configuration may give (2^31): far above any real model, and low enough that
/// the products of sizes a model forms (4 C, V C, P C) cannot overflow 64 bits. A config.json claiming more is
/// refused before anything is allocated for it.
inline constexpr Index max_transformer_dimension = Index(1) << 31;

/// Sizes and options of a Transformer block and of a stack of them: the arguments of PyTorch's
/// nn.TransformerEncoderLayer and nn.TransformerDecoderLayer (d_model, nhead, dim_feedforward, dropout,
/// activation, norm_first, layer_norm_eps), the number of layers, the longest sequence, an optional final
/// LayerNorm, and what real checkpoints differ in: causality, biases, the attention's and the dense layers'
/// weight layouts, separate attention and feed-forward dropout, and the parameter names. gpt2() sets them as
/// GPT-2 has them.
struct TransformerConfig {
  Index width = 512;          ///< C, hidden size (d_model)
  Index layers = 6;           ///< number of blocks
  Index heads = 8;            ///< H, must divide C
  Index intermediate = 2048;  ///< F, feed-forward width (dim_feedforward)
  double dropout = 0.1;       ///< on the sub-layers' outputs (the residual branches), in training
  double attention_dropout = -1.0;     ///< on the attention weights; < 0: the same as dropout
  double feed_forward_dropout = -1.0;  ///< inside the feed-forward network (PyTorch); < 0: the same as dropout
  bool norm_first = false;    ///< pre-norm (GPT-2 style) when true, post-norm (the 2017 paper, BERT) when false
  ActivationKind activation = ActivationKind::relu;  ///< relu, gelu (exact) or gelu_tanh (GPT-2's gelu_new)
  Index max_positions = 512;  ///< longest sequence the stack accepts
  double layer_norm_eps = 1e-5;
  bool final_norm = false;    ///< a LayerNorm after the last block (usual with pre-norm)
  bool causal = false;        ///< every self-attention causal, whatever mask is passed (decoder-only models)
  bool bias = true;           ///< biases of the attention and feed-forward projections
  QkvLayout attention_layout = QkvLayout::torch;   ///< in_proj (PyTorch), c_attn/c_proj (GPT-2), or separate (BERT)
  AttentionNames attention_names = AttentionNames();  ///< the separate layout's projection names
  WeightLayout dense_layout = WeightLayout::out_in;  ///< the feed-forward layers: nn.Linear or Conv1D
  BlockNames names = BlockNames();  ///< parameter names (PyTorch's unless set)

  /// GPT-2's block and stack (Radford et al. 2019; Hugging Face GPT2Model's h.<i>.* and ln_f.*): pre-norm,
  /// causal, gelu_tanh, F = 4C, Conv1D weights, a final norm, dropout 0.1 everywhere.
  static TransformerConfig gpt2(Index width, Index layers, Index heads, Index max_positions) {
    TransformerConfig c;
    c.width = width;
    c.layers = layers;
    c.heads = heads;
    c.intermediate = 4 * width;
    c.dropout = 0.1;
    c.feed_forward_dropout = 0.0;
    c.norm_first = true;
    c.activation = ActivationKind::gelu_tanh;
    c.max_positions = max_positions;
    c.final_norm = true;
    c.causal = true;
    c.attention_layout = QkvLayout::gpt2;
    c.dense_layout = WeightLayout::in_out;
    c.names = BlockNames::gpt2();
    return c;
  }

  /// BERT's encoder (Devlin et al. 2019; Hugging Face BertModel's encoder.layer.<i>.*): post-norm, bidirectional,
  /// exact gelu, separate query, key, value and output projections, layer_norm_eps 1e-12, dropout 0.1 on the
  /// residual branches and the attention weights, none inside the feed-forward network.
  static TransformerConfig bert(Index width, Index layers, Index heads, Index intermediate, Index max_positions) {
    TransformerConfig c;
    c.width = width;
    c.layers = layers;
    c.heads = heads;
    c.intermediate = intermediate;
    c.dropout = 0.1;
    c.feed_forward_dropout = 0.0;
    c.norm_first = false;
    c.activation = ActivationKind::gelu;
    c.max_positions = max_positions;
    c.layer_norm_eps = 1e-12;
    c.final_norm = false;
    c.causal = false;
    c.attention_layout = QkvLayout::separate;
    c.attention_names = AttentionNames::bert();
    c.names = BlockNames::bert();
    return c;
  }

  double attention_dropout_p() const { return attention_dropout < 0.0 ? dropout : attention_dropout; }
  double feed_forward_dropout_p() const { return feed_forward_dropout < 0.0 ? dropout : feed_forward_dropout; }

  /// The self-attention's (and a decoder's cross-attention's) configuration.
  MultiHeadAttentionConfig attention() const {
    MultiHeadAttentionConfig a;
    a.width = width;
    a.heads = heads;
    a.dropout = attention_dropout_p();
    a.bias = bias;
    a.layout = attention_layout;
    a.names = attention_names;
    return a;
  }

  /// The feed-forward network's configuration.
  FeedForwardConfig feed_forward() const {
    FeedForwardConfig f;
    f.width = width;
    f.intermediate = intermediate;
    f.activation = activation;
    f.dropout = feed_forward_dropout_p();
    f.bias = bias;
    f.layout = dense_layout;
    f.fc1_name = names.fc1;
    f.fc2_name = names.fc2;
    return f;
  }

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(width > 0 && layers > 0 && heads > 0 && intermediate > 0 && max_positions > 0, InvalidArgument, where,
               ": expected positive width, layers, heads, intermediate and max_positions, got C = ", width,
               ", layers = ", layers, ", H = ", heads, ", F = ", intermediate, ", max_positions = ", max_positions);
    ELM_EXPECT(std::max({width, layers, heads, intermediate, max_positions}) <= max_transformer_dimension,
               InvalidArgument, where, ": expected width, layers, heads, intermediate and max_positions of at most ",
               max_transformer_dimension, " (2^31), got C = ", width, ", layers = ", layers, ", H = ", heads,
               ", F = ", intermediate, ", max_positions = ", max_positions);
    ELM_EXPECT(width % heads == 0, InvalidArgument, where, ": heads H = ", heads, " does not divide the width C = ",
               width, ", expected C % H == 0");
    for (const double p : {dropout, attention_dropout_p(), feed_forward_dropout_p()})
      ELM_EXPECT(p >= 0.0 && p < 1.0, InvalidArgument, where, ": dropout = ", p, ", expected 0 <= dropout < 1");
    ELM_EXPECT(activation == ActivationKind::relu || activation == ActivationKind::gelu ||
                   activation == ActivationKind::gelu_tanh,
               InvalidArgument, where, ": expected a relu, gelu or gelu_tanh activation");
    ELM_EXPECT(layer_norm_eps > 0.0, InvalidArgument, where, ": layer_norm_eps = ", layer_norm_eps, ", expected > 0");
  }
};

namespace detail {

/// The mask a causal block applies: the caller's, made causal (copied only when it is not causal already).
template <typename Scalar>
const AttentionMask<Scalar>& causal_mask(bool causal, const AttentionMask<Scalar>& mask,
                                         AttentionMask<Scalar>& storage) {
  if (!causal || mask.causal) return mask;
  storage = mask;
  storage.causal = true;
  return storage;
}

}  // namespace detail

/// A Transformer block over B sequences of T positions, x: (C, B * T) -> y: (C, B * T):
///   pre-norm (norm_first):  x1 = x + drop(SA(LN1(x))),  y = x1 + drop(FF(LN2(x1)))
///   post-norm:              x1 = LN1(x + drop(SA(x))),  y = LN2(x1 + drop(FF(x1)))
/// FF(x) = fc2(drop(act(fc1(x)))). With config.norm_first, gelu and PyTorch's names it is
/// nn.TransformerEncoderLayer (batch_first); with TransformerConfig::gpt2 it is GPT-2's block (Hugging Face's
/// GPT2Block, its parameter names and Conv1D layouts). Parameters <attention>.*, <fc1>.*, <fc2>.*, <norm1>.*,
/// <norm2>.* under config.names. Reference: Vaswani et al. 2017, section 3.1; Xiong et al. 2020 (pre-norm);
/// Radford et al. 2019.
template <typename Scalar = float>
class TransformerBlock : public Composite<TransformerBlock<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "TransformerBlock needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename LayerNorm<Scalar>::Cache n1, n2;
    typename MultiHeadAttention<Scalar>::Cache attn;
    typename Dropout<Scalar>::Cache d1, d2;
    typename FeedForward<Scalar>::Cache ff;
  };

  /// Zero-initialised (see reset_parameters). Throws InvalidArgument on a bad config.
  explicit TransformerBlock(const TransformerConfig& config)
      : config_((config.check("elm::nn::TransformerBlock"), config)),
        self_attn_(config.attention()),
        ff_(config.feed_forward()),
        norm1_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm2_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        dropout1_(config.dropout),
        dropout2_(config.dropout) {}

  /// PyTorch's initialisation of every sub-layer (models whose reference draws otherwise, GPT-2's N(0, 0.02),
  /// fill the parameters themselves).
  void reset_parameters(Rng& rng) {
    self_attn_.reset_parameters(rng);
    ff_.reset_parameters(rng);
    norm1_.reset_parameters(rng);
    norm2_.reset_parameters(rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }
  /// The sub-layers, for inspection and for loading (the attention weights of a block are self_attn() applied
  /// to its input, or to norm1() of it with norm_first).
  const MultiHeadAttention<Scalar>& self_attn() const noexcept { return self_attn_; }
  const FeedForward<Scalar>& feed_forward() const noexcept { return ff_; }
  const LayerNorm<Scalar>& norm1() const noexcept { return norm1_; }
  const LayerNorm<Scalar>& norm2() const noexcept { return norm2_; }
  MultiHeadAttention<Scalar>& self_attn() noexcept { return self_attn_; }
  FeedForward<Scalar>& feed_forward() noexcept { return ff_; }
  LayerNorm<Scalar>& norm1() noexcept { return norm1_; }
  LayerNorm<Scalar>& norm2() noexcept { return norm2_; }

  /// x: (C, B * T) -> y: (C, B * T); mask: the attention mask (causal, additive, key lengths), made causal when
  /// config.causal. Dropout in a training context.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, const ForwardContext& context = {}) const {
    AttentionMask<Scalar> causal_storage;
    const AttentionMask<Scalar>& m = detail::causal_mask(config_.causal, mask, causal_storage);
    Matrix<Scalar> h, a, s, f;
    if (config_.norm_first) {
      norm1_.forward(x, h, cache ? &cache->n1 : nullptr);
      self_attn_.forward(h, batch, m, a, cache ? &cache->attn : nullptr, context);
      dropout1_.forward(a, s, cache ? &cache->d1 : nullptr, context);
      const Matrix<Scalar> x1 = x + s;
      norm2_.forward(x1, h, cache ? &cache->n2 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, context);
      dropout2_.forward(a, f, cache ? &cache->d2 : nullptr, context);
      y = x1 + f;
    } else {
      self_attn_.forward(x, batch, m, a, cache ? &cache->attn : nullptr, context);
      dropout1_.forward(a, s, cache ? &cache->d1 : nullptr, context);
      norm1_.forward(x + s, h, cache ? &cache->n1 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, context);
      dropout2_.forward(a, f, cache ? &cache->d2 : nullptr, context);
      norm2_.forward(h + f, y, cache ? &cache->n2 : nullptr);
    }
  }

  /// Decoding: x holds the next T_new positions of each of kv's B sequences, (C, B * T_new); the block's keys
  /// and values for them are appended to kv and each attends to every cached position up to itself.
  /// y: (C, B * T_new), equal to the matching columns of a causal forward over all positions. Inference only.
  /// Throws InvalidArgument unless config.causal (a bidirectional block's earlier outputs would change),
  /// ShapeError or RangeError as MultiHeadAttention::forward_incremental.
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, KvCache<Scalar>& kv, Matrix<Scalar>& y) const {
    forward_incremental(x, kv, AttentionMask<Scalar>{}, y);
  }

  /// The same with a mask over the T_k = kv.length() + T_new keys after the append (key padding (T_k, B) hides
  /// a left-padded batch's padding), as MultiHeadAttention::forward_incremental takes it.
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, KvCache<Scalar>& kv,
                           const AttentionMask<Scalar>& mask, Matrix<Scalar>& y) const {
    ELM_EXPECT(config_.causal, InvalidArgument,
               "elm::nn::TransformerBlock::forward_incremental: expected a causal block (config.causal), got a "
               "bidirectional one, whose outputs for earlier positions depend on later ones");
    Matrix<Scalar> h, a;
    if (config_.norm_first) {
      norm1_.forward(x, h);
      self_attn_.forward_incremental(h, kv, mask, a);
      const Matrix<Scalar> x1 = x + a;
      norm2_.forward(x1, h);
      ff_.forward(h, a);
      y = x1 + a;
    } else {
      self_attn_.forward_incremental(x, kv, mask, a);
      norm1_.forward(x + a, h);
      ff_.forward(h, a);
      norm2_.forward(h + a, y);
    }
  }

  /// dx (overwritten) from dy; adds into every parameter gradient. The residual paths are added here.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    Matrix<Scalar> t1, t2, dx1;
    if (config_.norm_first) {
      // y = x1 + drop(FF(LN2(x1))), x1 = x + drop(SA(LN1(x)))
      dropout2_.backward(cache.d2, dy, t1);
      ff_.backward(cache.ff, t1, t2);
      norm2_.backward(cache.n2, t2, dx1);
      dx1 += dy;
      dropout1_.backward(cache.d1, dx1, t1);
      self_attn_.backward(cache.attn, t1, t2);
      norm1_.backward(cache.n1, t2, dx);
      dx += dx1;
    } else {
      // y = LN2(x1 + drop(FF(x1))), x1 = LN1(x + drop(SA(x)))
      Matrix<Scalar> ds2, ds1;
      norm2_.backward(cache.n2, dy, ds2);
      dropout2_.backward(cache.d2, ds2, t1);
      ff_.backward(cache.ff, t1, dx1);
      dx1 += ds2;
      norm1_.backward(cache.n1, dx1, ds1);
      dropout1_.backward(cache.d1, ds1, t1);
      self_attn_.backward(cache.attn, t1, dx);
      dx += ds1;
    }
  }

 private:
  friend class Composite<TransformerBlock>;
  // The parameters in order, for Composite's for_each_parameter: Self is TransformerBlock, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    const BlockNames& n = self.config_.names;
    self.self_attn_.for_each_parameter(join_name(prefix, n.attention), f);
    self.ff_.for_each_parameter(prefix, f);
    self.norm1_.for_each_parameter(join_name(prefix, n.norm1), f);
    self.norm2_.for_each_parameter(join_name(prefix, n.norm2), f);
  }

  TransformerConfig config_;
  MultiHeadAttention<Scalar> self_attn_;
  FeedForward<Scalar> ff_;
  LayerNorm<Scalar> norm1_, norm2_;
  Dropout<Scalar> dropout1_, dropout2_;
};

/// PyTorch's name for the block: nn.TransformerEncoderLayer (batch_first) is a TransformerBlock with PyTorch's
/// names and layouts, the TransformerConfig defaults.
template <typename Scalar = float>
using TransformerEncoderLayer = TransformerBlock<Scalar>;

/// PyTorch's nn.TransformerDecoderLayer (batch_first): self-attention over the target (usually causal),
/// cross-attention to the encoder's output `memory`, feed-forward; each sub-layer pre-norm
/// (x = x + drop(sub(LN(x)))) or post-norm (x = LN(x + drop(sub(x)))).
/// x: (C, B * T), memory: (C, B * S) -> y: (C, B * T). Parameters: self_attn.*, multihead_attn.*, linear1.*,
/// linear2.*, norm1.*, norm2.*, norm3.*. Reference: Vaswani et al. 2017, section 3.1.
template <typename Scalar = float>
class TransformerDecoderLayer : public Composite<TransformerDecoderLayer<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "TransformerDecoderLayer needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename LayerNorm<Scalar>::Cache n1, n2, n3;
    typename MultiHeadAttention<Scalar>::Cache self_attn, cross_attn;
    typename Dropout<Scalar>::Cache d1, d2, d3;
    typename FeedForward<Scalar>::Cache ff;
  };

  explicit TransformerDecoderLayer(const TransformerConfig& config)
      : config_((config.check("elm::nn::TransformerDecoderLayer"), config)),
        self_attn_(config.attention()),
        cross_attn_(config.attention()),
        ff_(config.feed_forward()),
        norm1_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm2_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm3_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        dropout1_(config.dropout),
        dropout2_(config.dropout),
        dropout3_(config.dropout) {}

  /// PyTorch's initialisation of every sub-layer.
  void reset_parameters(Rng& rng) {
    self_attn_.reset_parameters(rng);
    cross_attn_.reset_parameters(rng);
    ff_.reset_parameters(rng);
    for (auto* norm : {&norm1_, &norm2_, &norm3_}) norm->reset_parameters(rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }

  /// x: (C, B * T), memory: (C, B * S); self_mask over (T, T) (usually causal), memory_mask over (S, T)
  /// (usually the memory's key lengths) -> y: (C, B * T). Dropout in a training context.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& memory, Index batch,
               const AttentionMask<Scalar>& self_mask, const AttentionMask<Scalar>& memory_mask, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& context = {}) const {
    AttentionMask<Scalar> causal_storage;  // config.causal holds for the decoder's self-attention too
    const AttentionMask<Scalar>& sm = detail::causal_mask(config_.causal, self_mask, causal_storage);
    Matrix<Scalar> h, a, s;
    if (config_.norm_first) {
      norm1_.forward(x, h, cache ? &cache->n1 : nullptr);
      self_attn_.forward(h, batch, sm, a, cache ? &cache->self_attn : nullptr, context);
      dropout1_.forward(a, s, cache ? &cache->d1 : nullptr, context);
      const Matrix<Scalar> x1 = x + s;
      norm2_.forward(x1, h, cache ? &cache->n2 : nullptr);
      cross_attn_.forward(h, memory, memory, batch, memory_mask, a, cache ? &cache->cross_attn : nullptr, context);
      dropout2_.forward(a, s, cache ? &cache->d2 : nullptr, context);
      const Matrix<Scalar> x2 = x1 + s;
      norm3_.forward(x2, h, cache ? &cache->n3 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, context);
      dropout3_.forward(a, s, cache ? &cache->d3 : nullptr, context);
      y = x2 + s;
    } else {
      Matrix<Scalar> x1, x2;
      self_attn_.forward(x, batch, sm, a, cache ? &cache->self_attn : nullptr, context);
      dropout1_.forward(a, s, cache ? &cache->d1 : nullptr, context);
      norm1_.forward(x + s, x1, cache ? &cache->n1 : nullptr);
      cross_attn_.forward(x1, memory, memory, batch, memory_mask, a, cache ? &cache->cross_attn : nullptr, context);
      dropout2_.forward(a, s, cache ? &cache->d2 : nullptr, context);
      norm2_.forward(x1 + s, x2, cache ? &cache->n2 : nullptr);
      ff_.forward(x2, a, cache ? &cache->ff : nullptr, context);
      dropout3_.forward(a, s, cache ? &cache->d3 : nullptr, context);
      norm3_.forward(x2 + s, y, cache ? &cache->n3 : nullptr);
    }
  }

  /// The cross-attention's keys and values of B = lengths.size() memory sequences (C, B * S), padded after
  /// their lengths, computed once for every decoding step (MultiHeadAttention::project_memory).
  void project_memory(const Eigen::Ref<const Matrix<Scalar>>& memory, const std::vector<Index>& lengths,
                      typename MultiHeadAttention<Scalar>::ProjectedMemory& out) const {
    cross_attn_.project_memory(memory, lengths, out);
  }

  /// Decoding: x holds the next T_new positions of each of kv's B sequences, (C, B * T_new); their self-attention
  /// keys and values are appended to kv, and sequence b attends to memory sequence rows[b] of the projected
  /// memory. y: (C, B * T_new), equal to the matching columns of a causal forward over all positions with that
  /// memory. Inference only. Throws ShapeError or RangeError as MultiHeadAttention's forward_incremental and
  /// forward_projected.
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, KvCache<Scalar>& kv,
                           const typename MultiHeadAttention<Scalar>::ProjectedMemory& memory,
                           const std::vector<Index>& rows, Matrix<Scalar>& y) const {
    Matrix<Scalar> h, a;
    if (config_.norm_first) {
      norm1_.forward(x, h);
      self_attn_.forward_incremental(h, kv, a);
      const Matrix<Scalar> x1 = x + a;
      norm2_.forward(x1, h);
      cross_attn_.forward_projected(h, memory, rows, a);
      const Matrix<Scalar> x2 = x1 + a;
      norm3_.forward(x2, h);
      ff_.forward(h, a);
      y = x2 + a;
    } else {
      Matrix<Scalar> x1, x2;
      self_attn_.forward_incremental(x, kv, a);
      norm1_.forward(x + a, x1);
      cross_attn_.forward_projected(x1, memory, rows, a);
      norm2_.forward(x1 + a, x2);
      ff_.forward(x2, a);
      norm3_.forward(x2 + a, y);
    }
  }

  /// dx and dmemory (both overwritten) from dy; adds into every parameter gradient.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                Matrix<Scalar>& dmemory) {
    Matrix<Scalar> t1, t2, dq, dk, dv;
    if (config_.norm_first) {
      Matrix<Scalar> dx2, dx1;
      dropout3_.backward(cache.d3, dy, t1);
      ff_.backward(cache.ff, t1, t2);
      norm3_.backward(cache.n3, t2, dx2);
      dx2 += dy;
      dropout2_.backward(cache.d2, dx2, t1);
      cross_attn_.backward(cache.cross_attn, t1, dq, dk, dv);
      dmemory = dk + dv;
      norm2_.backward(cache.n2, dq, dx1);
      dx1 += dx2;
      dropout1_.backward(cache.d1, dx1, t1);
      self_attn_.backward(cache.self_attn, t1, t2);
      norm1_.backward(cache.n1, t2, dx);
      dx += dx1;
    } else {
      Matrix<Scalar> ds3, ds2, ds1, dx2, dx1;
      norm3_.backward(cache.n3, dy, ds3);
      dropout3_.backward(cache.d3, ds3, t1);
      ff_.backward(cache.ff, t1, dx2);
      dx2 += ds3;
      norm2_.backward(cache.n2, dx2, ds2);
      dropout2_.backward(cache.d2, ds2, t1);
      cross_attn_.backward(cache.cross_attn, t1, dq, dk, dv);
      dmemory = dk + dv;
      dx1 = dq + ds2;
      norm1_.backward(cache.n1, dx1, ds1);
      dropout1_.backward(cache.d1, ds1, t1);
      self_attn_.backward(cache.self_attn, t1, dx);
      dx += ds1;
    }
  }

 private:
  friend class Composite<TransformerDecoderLayer>;
  // The parameters in order, for Composite's for_each_parameter: Self is TransformerDecoderLayer, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.self_attn_.for_each_parameter(join_name(prefix, "self_attn"), f);
    self.cross_attn_.for_each_parameter(join_name(prefix, "multihead_attn"), f);
    self.ff_.for_each_parameter(prefix, f);
    self.norm1_.for_each_parameter(join_name(prefix, "norm1"), f);
    self.norm2_.for_each_parameter(join_name(prefix, "norm2"), f);
    self.norm3_.for_each_parameter(join_name(prefix, "norm3"), f);
  }

  TransformerConfig config_;
  MultiHeadAttention<Scalar> self_attn_, cross_attn_;
  FeedForward<Scalar> ff_;
  LayerNorm<Scalar> norm1_, norm2_, norm3_;
  Dropout<Scalar> dropout1_, dropout2_, dropout3_;
};

namespace detail {

/// What the block and decoder stacks share: config.layers layers of one kind, parameters <layers>.<i>.*, and
/// a final LayerNorm (<final_norm>.*) when config.final_norm (config.names; PyTorch's layers and norm by default); the checks on the input; the final norm's forward and
/// backward. The stacks add the forward and backward that thread their own inputs through the layers.
template <typename Layer, typename Scalar>
class TransformerStack : public Composite<TransformerStack<Layer, Scalar>> {
 public:
  using scalar_type = Scalar;
  struct Cache {
    std::vector<typename Layer::Cache> layers;
    typename LayerNorm<Scalar>::Cache norm;
  };

  TransformerStack(const TransformerConfig& config, const char* where)
      : config_((config.check(where), config)),
        norm_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        where_(where) {
    layers_.reserve(to_size(config.layers));
    for (Index i = 0; i < config.layers; ++i) layers_.emplace_back(config);
  }

  /// Every layer's and the final norm's initialisation.
  void reset_parameters(Rng& rng) {
    for (auto& layer : layers_) layer.reset_parameters(rng);
    norm_.reset_parameters(rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }
  Index size() const noexcept { return to_index(layers_.size()); }
  Layer& layer(Index i) { return layers_.at(to_size(i)); }
  const Layer& layer(Index i) const { return layers_.at(to_size(i)); }
  /// One KV cache per block (the self-attention's) for decoding B sequences of up to max_length (<=
  /// max_positions) positions. Throws RangeError when max_length exceeds max_positions.
  std::vector<KvCache<Scalar>> make_kv_caches(Index batch, Index max_length) const {
    ELM_EXPECT(max_length <= config_.max_positions, RangeError, where_, "::make_kv_caches: max_length = ",
               max_length, " exceeds max_positions = ", config_.max_positions);
    return std::vector<KvCache<Scalar>>(layers_.size(), KvCache<Scalar>(config_.width, batch, max_length));
  }
  /// The final LayerNorm (unused unless config.final_norm).
  LayerNorm<Scalar>& final_norm() noexcept { return norm_; }
  const LayerNorm<Scalar>& final_norm() const noexcept { return norm_; }

 protected:
  /// Checks x: (C, B * T) with T <= max_positions; ShapeError or RangeError otherwise.
  void check_input(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, std::string_view where) const {
    check_shape(x, config_.width, -1, where, "x");
    ELM_EXPECT(batch > 0 && x.cols() % batch == 0 && x.cols() > 0, ShapeError, where, ": x has ", x.cols(),
               " columns, expected a positive multiple of B = ", batch);
    const Index T = x.cols() / batch;
    ELM_EXPECT(T <= config_.max_positions, RangeError, where, ": sequence length T = ", T,
               " exceeds max_positions = ", config_.max_positions);
  }

  /// y = norm(h) when config.final_norm, else h (moved).
  void finish_forward(Matrix<Scalar>& h, Matrix<Scalar>& y, Cache* cache) const {
    if (config_.final_norm)
      norm_.forward(h, y, cache ? &cache->norm : nullptr);
    else
      y = std::move(h);
  }

  /// The gradient entering the last layer: through the final norm when there is one.
  void start_backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& g) {
    if (config_.final_norm)
      norm_.backward(cache.norm, dy, g);
    else
      g = dy;
  }

  TransformerConfig config_;
  std::vector<Layer> layers_;
  LayerNorm<Scalar> norm_;
  const char* where_;  // the stack's name in messages

 private:
  friend class Composite<TransformerStack>;
  // The parameters in order, for Composite's for_each_parameter: Self is the stack, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    const BlockNames& n = self.config_.names;
    for (std::size_t i = 0; i < self.layers_.size(); ++i)
      self.layers_[i].for_each_parameter(join_name(join_name(prefix, n.layers), std::to_string(i)), f);
    if (self.config_.final_norm) self.norm_.for_each_parameter(join_name(prefix, n.final_norm), f);
  }
};

}  // namespace detail

/// A stack of config.layers Transformer blocks (PyTorch's nn.TransformerEncoder, parameters layers.<i>.* and
/// norm.* when config.final_norm; GPT-2's h.<i>.* and ln_f.* with TransformerConfig::gpt2). Rejects sequences
/// longer than config.max_positions.
template <typename Scalar = float>
class TransformerEncoder : public detail::TransformerStack<TransformerBlock<Scalar>, Scalar> {
  using Base = detail::TransformerStack<TransformerBlock<Scalar>, Scalar>;
  using Base::layers_;

 public:
  using Cache = typename Base::Cache;

  explicit TransformerEncoder(const TransformerConfig& config) : Base(config, "elm::nn::TransformerEncoder") {}

  /// x: (C, B * T) -> y: (C, B * T). Throws ShapeError on a wrong shape, RangeError when T > max_positions.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, const ForwardContext& context = {}) const {
    this->check_input(x, batch, "elm::nn::TransformerEncoder::forward");
    if (cache) cache->layers.resize(layers_.size());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward(h, batch, mask, next, cache ? &cache->layers[i] : nullptr, context);
      h.swap(next);
    }
    this->finish_forward(h, y, cache);
  }

  /// Decoding through every block (causal stacks only): x holds the next T_new positions of each sequence,
  /// (C, B * T_new); kv (one cache per block, make_kv_caches) receives their keys and values. y: (C, B * T_new),
  /// equal to the matching columns of a full forward. Throws InvalidArgument for a wrong number of caches or a
  /// bidirectional stack; RangeError when the caches would overflow (then no cache has changed).
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, std::vector<KvCache<Scalar>>& kv,
                           Matrix<Scalar>& y) const {
    forward_incremental(x, kv, AttentionMask<Scalar>{}, y);
  }

  /// The same with a mask over the T_k = cached + T_new keys of every block (key padding (T_k, B) hides a
  /// left-padded batch's padding); a wrong mask shape throws ShapeError before any cache changes.
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, std::vector<KvCache<Scalar>>& kv,
                           const AttentionMask<Scalar>& mask, Matrix<Scalar>& y) const {
    constexpr std::string_view where = "elm::nn::TransformerEncoder::forward_incremental";
    ELM_EXPECT(kv.size() == layers_.size(), InvalidArgument, where, ": got ", kv.size(),
               " KV caches, expected one per block (", layers_.size(), ")");
    ELM_EXPECT(!kv.empty() && kv.front().batch() > 0 && x.cols() % kv.front().batch() == 0, ShapeError, where,
               ": x has ", x.cols(), " columns, expected a multiple of the caches' B = ", kv.front().batch());
    const Index T_new = x.cols() / kv.front().batch();
    for (const auto& cache : kv)  // checked for all before any changes
      ELM_EXPECT(cache.length() + T_new <= cache.max_length(), RangeError, where, ": appending ", T_new,
                 " positions to a cache holding ", cache.length(), " would exceed its max_length = ",
                 cache.max_length());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward_incremental(h, kv[i], mask, next);
      h.swap(next);
    }
    if (this->config_.final_norm)
      this->norm_.forward(h, y);
    else
      y = std::move(h);
  }

  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    Matrix<Scalar> g, next;
    this->start_backward(cache, dy, g);
    for (std::size_t i = layers_.size(); i-- > 0;) {
      layers_[i].backward(cache.layers[i], g, next);
      g.swap(next);
    }
    dx = std::move(g);
  }
};

/// A stack of config.layers decoder layers (PyTorch's nn.TransformerDecoder, parameters layers.<i>.*, and
/// norm.* when config.final_norm), all attending to the same memory. Rejects targets longer than
/// config.max_positions.
template <typename Scalar = float>
class TransformerDecoder : public detail::TransformerStack<TransformerDecoderLayer<Scalar>, Scalar> {
  using Base = detail::TransformerStack<TransformerDecoderLayer<Scalar>, Scalar>;
  using Base::layers_;

 public:
  using Cache = typename Base::Cache;

  explicit TransformerDecoder(const TransformerConfig& config) : Base(config, "elm::nn::TransformerDecoder") {}

  /// x: (C, B * T), memory: (C, B * S) -> y: (C, B * T). Throws ShapeError on a wrong shape, RangeError when
  /// T > max_positions.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& memory, Index batch,
               const AttentionMask<Scalar>& self_mask, const AttentionMask<Scalar>& memory_mask, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& context = {}) const {
    this->check_input(x, batch, "elm::nn::TransformerDecoder::forward");
    if (cache) cache->layers.resize(layers_.size());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward(h, memory, batch, self_mask, memory_mask, next, cache ? &cache->layers[i] : nullptr, context);
      h.swap(next);
    }
    this->finish_forward(h, y, cache);
  }

  /// Every layer's cross-attention keys and values of B = lengths.size() memory sequences (C, B * S), padded
  /// after their lengths: computed once per source, read by every decoding step (forward_incremental).
  std::vector<typename MultiHeadAttention<Scalar>::ProjectedMemory> project_memory(
      const Eigen::Ref<const Matrix<Scalar>>& memory, const std::vector<Index>& lengths) const {
    std::vector<typename MultiHeadAttention<Scalar>::ProjectedMemory> out(layers_.size());
    for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i].project_memory(memory, lengths, out[i]);
    return out;
  }

  /// Decoding through every layer: x holds the next T_new positions of each of the caches' B sequences,
  /// (C, B * T_new); kv (one cache per layer, make_kv_caches) receives their self-attention keys and values;
  /// sequence b attends to memory sequence rows[b] of memory (one per layer, project_memory). y: (C, B * T_new),
  /// equal to the matching columns of a full forward. Inference only. Throws InvalidArgument for a wrong number
  /// of caches or memories, ShapeError for a wrong shape or rows.size() != B, RangeError when the caches would
  /// overflow (then no cache has changed) or for a row out of range.
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, std::vector<KvCache<Scalar>>& kv,
                           const std::vector<typename MultiHeadAttention<Scalar>::ProjectedMemory>& memory,
                           const std::vector<Index>& rows, Matrix<Scalar>& y) const {
    constexpr std::string_view where = "elm::nn::TransformerDecoder::forward_incremental";
    ELM_EXPECT(kv.size() == layers_.size() && memory.size() == layers_.size(), InvalidArgument, where, ": got ",
               kv.size(), " KV caches and ", memory.size(), " projected memories, expected one each per layer (",
               layers_.size(), ")");
    const Index B = kv.front().batch();
    ELM_EXPECT(to_index(rows.size()) == B && x.cols() % B == 0, ShapeError, where, ": x has ", x.cols(),
               " columns and rows has ", rows.size(), " entries, expected a multiple of the caches' B = ", B,
               " and B entries");
    const Index T_new = x.cols() / B;
    for (const auto& cache : kv)  // checked for all before any changes
      ELM_EXPECT(cache.length() + T_new <= cache.max_length(), RangeError, where, ": appending ", T_new,
                 " positions to a cache holding ", cache.length(), " would exceed its max_length = ",
                 cache.max_length());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward_incremental(h, kv[i], memory[i], rows, next);
      h.swap(next);
    }
    this->finish_forward(h, y, nullptr);
  }

  /// dx and dmemory (the sum over layers) from dy, both overwritten; adds into every parameter gradient.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                Matrix<Scalar>& dmemory) {
    Matrix<Scalar> g, next, dm;
    this->start_backward(cache, dy, g);
    for (std::size_t i = layers_.size(); i-- > 0;) {
      layers_[i].backward(cache.layers[i], g, next, dm);
      if (i + 1 == layers_.size())
        dmemory = dm;
      else
        dmemory += dm;
      g.swap(next);
    }
    dx = std::move(g);
  }
};

}  // namespace elm::nn
