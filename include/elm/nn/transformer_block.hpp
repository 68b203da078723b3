// SPDX-License-Identifier: MIT
// Transformer encoder and decoder layers with PyTorch's semantics (post-norm or pre-norm, ReLU or GELU),
// the TransformerConfig that sizes them, and stacks of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Sizes and options of a Transformer stack: the arguments of PyTorch's nn.TransformerEncoderLayer and
/// nn.TransformerDecoderLayer (d_model, nhead, dim_feedforward, dropout, activation, norm_first, layer_norm_eps),
/// the number of layers, the longest sequence and an optional final LayerNorm.
struct TransformerConfig {
  Index width = 512;          ///< C, hidden size (d_model)
  Index layers = 6;           ///< number of blocks
  Index heads = 8;            ///< H, must divide C
  Index intermediate = 2048;  ///< F, feed-forward width (dim_feedforward)
  double dropout = 0.1;       ///< on attention weights, sub-layer outputs and the feed-forward hidden layer
  bool norm_first = false;    ///< pre-norm (GPT-2 style) when true, post-norm (the 2017 paper, BERT) when false
  ActivationKind activation = ActivationKind::relu;  ///< relu or gelu (exact), as PyTorch allows
  Index max_positions = 512;  ///< longest sequence the stack accepts
  double layer_norm_eps = 1e-5;
  bool final_norm = false;    ///< a LayerNorm after the last block (usual with pre-norm)

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(width > 0 && layers > 0 && heads > 0 && intermediate > 0 && max_positions > 0, InvalidArgument, where,
               ": expected positive width, layers, heads, intermediate and max_positions, got C = ", width,
               ", layers = ", layers, ", H = ", heads, ", F = ", intermediate, ", max_positions = ", max_positions);
    ELM_EXPECT(width % heads == 0, InvalidArgument, where, ": heads H = ", heads, " does not divide the width C = ",
               width, ", expected C % H == 0");
    ELM_EXPECT(dropout >= 0.0 && dropout < 1.0, InvalidArgument, where, ": dropout = ", dropout,
               ", expected 0 <= dropout < 1");
    ELM_EXPECT(activation == ActivationKind::relu || activation == ActivationKind::gelu ||
                   activation == ActivationKind::gelu_tanh,
               InvalidArgument, where, ": expected a relu, gelu or gelu_tanh activation");
    ELM_EXPECT(layer_norm_eps > 0.0, InvalidArgument, where, ": layer_norm_eps = ", layer_norm_eps, ", expected > 0");
  }
};

namespace detail {

/// Dropout in training (rng given) or the identity.
template <typename Scalar>
void dropout_forward(const Dropout<Scalar>& d, const Matrix<Scalar>& x, Matrix<Scalar>& y, Rng* rng,
                     typename Dropout<Scalar>::Cache* cache) {
  if (rng != nullptr && d.p() > 0.0)
    d.forward(x, y, *rng, cache);
  else
    d.forward(x, y, cache);
}

/// linear2(dropout(activation(linear1(x)))), the position-wise feed-forward network; its parameters are
/// named linear1.* and linear2.* at the owner's level, as in PyTorch.
template <typename Scalar>
struct FeedForward {
  struct Cache {
    typename Linear<Scalar>::Cache l1, l2;
    typename Activation<Scalar>::Cache act;
    typename Dropout<Scalar>::Cache drop;
    // forward's (intermediate, N) intermediates, kept with the cache so that a training loop reuses their
    // memory: allocated afresh on every call, they would go back to the system and be faulted in again on
    // every step
    Matrix<Scalar> hidden, activated, dropped;
  };
  Linear<Scalar> linear1, linear2;
  Activation<Scalar> activation;
  Dropout<Scalar> dropout;

  explicit FeedForward(const TransformerConfig& c)
      : linear1(c.width, c.intermediate), linear2(c.intermediate, c.width), activation(c.activation), dropout(c.dropout) {}

  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache, Rng* rng) const {
    Matrix<Scalar> local_h, local_a, local_d;
    Matrix<Scalar>& h = cache ? cache->hidden : local_h;
    Matrix<Scalar>& a = cache ? cache->activated : local_a;
    Matrix<Scalar>& d = cache ? cache->dropped : local_d;
    linear1.forward(x, h, cache ? &cache->l1 : nullptr);
    activation.forward(h, a, cache ? &cache->act : nullptr);
    dropout_forward(dropout, a, d, rng, cache ? &cache->drop : nullptr);
    linear2.forward(d, y, cache ? &cache->l2 : nullptr);
  }
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    Matrix<Scalar>&dd = scratch_->dd, &da = scratch_->da, &dh = scratch_->dh;
    linear2.backward(cache.l2, dy, dd);
    dropout.backward(cache.drop, dd, da);
    activation.backward(cache.act, da, dh);
    linear1.backward(cache.l1, dh, dx);
  }

 private:
  // backward's (intermediate, N) gradients, kept between calls for the same reason
  struct BackwardScratch {
    Matrix<Scalar> dd, da, dh;
  };
  elm::detail::Workspace<BackwardScratch> scratch_;
};

inline MultiHeadAttentionConfig attention_config(const TransformerConfig& c) {
  MultiHeadAttentionConfig a;
  a.width = c.width;
  a.heads = c.heads;
  a.dropout = c.dropout;
  return a;
}

template <typename Scalar>
typename MultiHeadAttention<Scalar>::ForwardOptions attention_options(Rng* rng) {
  typename MultiHeadAttention<Scalar>::ForwardOptions o;
  o.rng = rng;
  return o;
}

}  // namespace detail

/// PyTorch's nn.TransformerEncoderLayer (batch_first): with norm_first,
///   x = x + drop(SA(LN1(x))), y = x + drop(FF(LN2(x)));  else  x = LN1(x + drop(SA(x))), y = LN2(x + drop(FF(x))).
/// FF(x) = W2 drop(act(W1 x + b1)) + b2. x: (C, B * T) -> y: (C, B * T). Dropout only when an Rng is passed.
/// Parameters: self_attn.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias}, linear1.*, linear2.*,
/// norm1.*, norm2.*, as PyTorch names them. Reference: Vaswani et al. 2017, section 3.1; Xiong et al. 2020 (pre-norm).
template <typename Scalar = float>
class TransformerEncoderLayer {
  static_assert(std::is_floating_point_v<Scalar>, "TransformerEncoderLayer needs a floating-point Scalar");

 public:
  struct Cache {
    typename LayerNorm<Scalar>::Cache n1, n2;
    typename MultiHeadAttention<Scalar>::Cache attn;
    typename Dropout<Scalar>::Cache d1, d2;
    typename detail::FeedForward<Scalar>::Cache ff;
  };

  /// Zero attention weights, PyTorch-initialised linears when rng is given. Throws InvalidArgument on a bad config.
  explicit TransformerEncoderLayer(const TransformerConfig& config)
      : config_((config.check("elm::nn::TransformerEncoderLayer"), config)),
        self_attn_(detail::attention_config(config)),
        ff_(config),
        norm1_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm2_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        dropout1_(config.dropout),
        dropout2_(config.dropout) {}

  /// PyTorch's initialisation of every sub-layer.
  void init(Rng& rng) {
    self_attn_.init(rng);
    ff_.linear1 = Linear<Scalar>(config_.width, config_.intermediate, rng);
    ff_.linear2 = Linear<Scalar>(config_.intermediate, config_.width, rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }
  /// The sub-layers, for inspection (the attention weights of a block are self_attn() applied to its input,
  /// or to norm1() of it with norm_first).
  const MultiHeadAttention<Scalar>& self_attn() const noexcept { return self_attn_; }
  const LayerNorm<Scalar>& norm1() const noexcept { return norm1_; }

  /// x: (C, B * T) -> y: (C, B * T); mask: the attention mask (causal, additive (T, T), key lengths).
  /// rng: dropout in training when not null.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, Rng* rng = nullptr) const {
    const auto opts = detail::attention_options<Scalar>(rng);
    Matrix<Scalar> h, a, s, f;
    if (config_.norm_first) {
      norm1_.forward(x, h, cache ? &cache->n1 : nullptr);
      self_attn_.forward(h, batch, mask, a, cache ? &cache->attn : nullptr, opts);
      detail::dropout_forward(dropout1_, a, s, rng, cache ? &cache->d1 : nullptr);
      const Matrix<Scalar> x1 = x + s;
      norm2_.forward(x1, h, cache ? &cache->n2 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, rng);
      detail::dropout_forward(dropout2_, a, f, rng, cache ? &cache->d2 : nullptr);
      y = x1 + f;
    } else {
      self_attn_.forward(x, batch, mask, a, cache ? &cache->attn : nullptr, opts);
      detail::dropout_forward(dropout1_, a, s, rng, cache ? &cache->d1 : nullptr);
      norm1_.forward(x + s, h, cache ? &cache->n1 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, rng);
      detail::dropout_forward(dropout2_, a, f, rng, cache ? &cache->d2 : nullptr);
      norm2_.forward(h + f, y, cache ? &cache->n2 : nullptr);
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

  /// Visits self_attn.*, linear1.*, linear2.*, norm1.*, norm2.* (PyTorch's names); the const overload passes
  /// const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_parameters(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_parameters(*this, prefix, f);
  }
  void zero_grad() {
    for_each_parameter("", [](const std::string&, Parameter<Scalar>& p) { p.zero_grad(); });
  }

 private:
  // The body of both for_each_parameter overloads: Self is TransformerEncoderLayer, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.self_attn_.for_each_parameter(join_name(prefix, "self_attn"), f);
    self.ff_.linear1.for_each_parameter(join_name(prefix, "linear1"), f);
    self.ff_.linear2.for_each_parameter(join_name(prefix, "linear2"), f);
    self.norm1_.for_each_parameter(join_name(prefix, "norm1"), f);
    self.norm2_.for_each_parameter(join_name(prefix, "norm2"), f);
  }

  TransformerConfig config_;
  MultiHeadAttention<Scalar> self_attn_;
  detail::FeedForward<Scalar> ff_;
  LayerNorm<Scalar> norm1_, norm2_;
  Dropout<Scalar> dropout1_, dropout2_;
};

/// PyTorch's nn.TransformerDecoderLayer (batch_first): self-attention over the target (usually causal),
/// cross-attention to the encoder's output `memory`, feed-forward; each sub-layer pre-norm
/// (x = x + drop(sub(LN(x)))) or post-norm (x = LN(x + drop(sub(x)))).
/// x: (C, B * T), memory: (C, B * S) -> y: (C, B * T). Parameters: self_attn.*, multihead_attn.*, linear1.*,
/// linear2.*, norm1.*, norm2.*, norm3.*. Reference: Vaswani et al. 2017, section 3.1.
template <typename Scalar = float>
class TransformerDecoderLayer {
  static_assert(std::is_floating_point_v<Scalar>, "TransformerDecoderLayer needs a floating-point Scalar");

 public:
  struct Cache {
    typename LayerNorm<Scalar>::Cache n1, n2, n3;
    typename MultiHeadAttention<Scalar>::Cache self_attn, cross_attn;
    typename Dropout<Scalar>::Cache d1, d2, d3;
    typename detail::FeedForward<Scalar>::Cache ff;
  };

  explicit TransformerDecoderLayer(const TransformerConfig& config)
      : config_((config.check("elm::nn::TransformerDecoderLayer"), config)),
        self_attn_(detail::attention_config(config)),
        cross_attn_(detail::attention_config(config)),
        ff_(config),
        norm1_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm2_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        norm3_(config.width, static_cast<Scalar>(config.layer_norm_eps)),
        dropout1_(config.dropout),
        dropout2_(config.dropout),
        dropout3_(config.dropout) {}

  void init(Rng& rng) {
    self_attn_.init(rng);
    cross_attn_.init(rng);
    ff_.linear1 = Linear<Scalar>(config_.width, config_.intermediate, rng);
    ff_.linear2 = Linear<Scalar>(config_.intermediate, config_.width, rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }

  /// x: (C, B * T), memory: (C, B * S); self_mask over (T, T) (usually causal), memory_mask over (S, T)
  /// (usually the memory's key lengths) -> y: (C, B * T). rng: dropout in training when not null.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& memory, Index batch,
               const AttentionMask<Scalar>& self_mask, const AttentionMask<Scalar>& memory_mask, Matrix<Scalar>& y,
               Cache* cache = nullptr, Rng* rng = nullptr) const {
    const auto opts = detail::attention_options<Scalar>(rng);
    Matrix<Scalar> h, a, s;
    if (config_.norm_first) {
      norm1_.forward(x, h, cache ? &cache->n1 : nullptr);
      self_attn_.forward(h, batch, self_mask, a, cache ? &cache->self_attn : nullptr, opts);
      detail::dropout_forward(dropout1_, a, s, rng, cache ? &cache->d1 : nullptr);
      const Matrix<Scalar> x1 = x + s;
      norm2_.forward(x1, h, cache ? &cache->n2 : nullptr);
      cross_attn_.forward(h, memory, memory, batch, memory_mask, a, cache ? &cache->cross_attn : nullptr, opts);
      detail::dropout_forward(dropout2_, a, s, rng, cache ? &cache->d2 : nullptr);
      const Matrix<Scalar> x2 = x1 + s;
      norm3_.forward(x2, h, cache ? &cache->n3 : nullptr);
      ff_.forward(h, a, cache ? &cache->ff : nullptr, rng);
      detail::dropout_forward(dropout3_, a, s, rng, cache ? &cache->d3 : nullptr);
      y = x2 + s;
    } else {
      Matrix<Scalar> x1, x2;
      self_attn_.forward(x, batch, self_mask, a, cache ? &cache->self_attn : nullptr, opts);
      detail::dropout_forward(dropout1_, a, s, rng, cache ? &cache->d1 : nullptr);
      norm1_.forward(x + s, x1, cache ? &cache->n1 : nullptr);
      cross_attn_.forward(x1, memory, memory, batch, memory_mask, a, cache ? &cache->cross_attn : nullptr, opts);
      detail::dropout_forward(dropout2_, a, s, rng, cache ? &cache->d2 : nullptr);
      norm2_.forward(x1 + s, x2, cache ? &cache->n2 : nullptr);
      ff_.forward(x2, a, cache ? &cache->ff : nullptr, rng);
      detail::dropout_forward(dropout3_, a, s, rng, cache ? &cache->d3 : nullptr);
      norm3_.forward(x2 + s, y, cache ? &cache->n3 : nullptr);
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

  /// Visits self_attn.*, multihead_attn.*, linear1.*, linear2.*, norm1.* to norm3.* (PyTorch's names); the
  /// const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_parameters(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_parameters(*this, prefix, f);
  }
  void zero_grad() {
    for_each_parameter("", [](const std::string&, Parameter<Scalar>& p) { p.zero_grad(); });
  }

 private:
  // The body of both for_each_parameter overloads: Self is TransformerDecoderLayer, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.self_attn_.for_each_parameter(join_name(prefix, "self_attn"), f);
    self.cross_attn_.for_each_parameter(join_name(prefix, "multihead_attn"), f);
    self.ff_.linear1.for_each_parameter(join_name(prefix, "linear1"), f);
    self.ff_.linear2.for_each_parameter(join_name(prefix, "linear2"), f);
    self.norm1_.for_each_parameter(join_name(prefix, "norm1"), f);
    self.norm2_.for_each_parameter(join_name(prefix, "norm2"), f);
    self.norm3_.for_each_parameter(join_name(prefix, "norm3"), f);
  }

  TransformerConfig config_;
  MultiHeadAttention<Scalar> self_attn_, cross_attn_;
  detail::FeedForward<Scalar> ff_;
  LayerNorm<Scalar> norm1_, norm2_, norm3_;
  Dropout<Scalar> dropout1_, dropout2_, dropout3_;
};

namespace detail {

/// What the encoder and decoder stacks share: config.layers layers of one kind, parameters layers.<i>.*, and
/// a final LayerNorm (norm.*) when config.final_norm; the checks on the input; the final norm's forward and
/// backward. The stacks add the forward and backward that thread their own inputs through the layers.
template <typename Layer, typename Scalar>
class TransformerStack {
 public:
  struct Cache {
    std::vector<typename Layer::Cache> layers;
    typename LayerNorm<Scalar>::Cache norm;
  };

  TransformerStack(const TransformerConfig& config, const char* where)
      : config_((config.check(where), config)), norm_(config.width, static_cast<Scalar>(config.layer_norm_eps)) {
    layers_.reserve(to_size(config.layers));
    for (Index i = 0; i < config.layers; ++i) layers_.emplace_back(config);
  }

  void init(Rng& rng) {
    for (auto& layer : layers_) layer.init(rng);
  }

  const TransformerConfig& config() const noexcept { return config_; }
  Index size() const noexcept { return to_index(layers_.size()); }
  Layer& layer(Index i) { return layers_.at(to_size(i)); }

  /// Visits layers.<i>.* and, with a final norm, norm.*; the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_parameters(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_parameters(*this, prefix, f);
  }
  void zero_grad() {
    for_each_parameter("", [](const std::string&, Parameter<Scalar>& p) { p.zero_grad(); });
  }

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

 private:
  // The body of both for_each_parameter overloads: Self is the stack, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    for (std::size_t i = 0; i < self.layers_.size(); ++i)
      self.layers_[i].for_each_parameter(join_name(join_name(prefix, "layers"), std::to_string(i)), f);
    if (self.config_.final_norm) self.norm_.for_each_parameter(join_name(prefix, "norm"), f);
  }
};

}  // namespace detail

/// A stack of config.layers encoder layers (PyTorch's nn.TransformerEncoder, parameters layers.<i>.*, and
/// norm.* when config.final_norm). Rejects sequences longer than config.max_positions.
template <typename Scalar = float>
class TransformerEncoder : public detail::TransformerStack<TransformerEncoderLayer<Scalar>, Scalar> {
  using Base = detail::TransformerStack<TransformerEncoderLayer<Scalar>, Scalar>;
  using Base::layers_;

 public:
  using Cache = typename Base::Cache;

  explicit TransformerEncoder(const TransformerConfig& config) : Base(config, "elm::nn::TransformerEncoder") {}

  /// x: (C, B * T) -> y: (C, B * T). Throws ShapeError on a wrong shape, RangeError when T > max_positions.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, Rng* rng = nullptr) const {
    this->check_input(x, batch, "elm::nn::TransformerEncoder::forward");
    if (cache) cache->layers.resize(layers_.size());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward(h, batch, mask, next, cache ? &cache->layers[i] : nullptr, rng);
      h.swap(next);
    }
    this->finish_forward(h, y, cache);
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
               Cache* cache = nullptr, Rng* rng = nullptr) const {
    this->check_input(x, batch, "elm::nn::TransformerDecoder::forward");
    if (cache) cache->layers.resize(layers_.size());
    Matrix<Scalar> h = x, next;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward(h, memory, batch, self_mask, memory_mask, next, cache ? &cache->layers[i] : nullptr, rng);
      h.swap(next);
    }
    this->finish_forward(h, y, cache);
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
