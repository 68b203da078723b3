// SPDX-License-Identifier: MIT
// MultiHeadAttention: projections to H heads of queries, keys and values, scaled dot-product attention,
// output projection; PyTorch's nn.MultiheadAttention parameters and semantics, or GPT-2's fused c_attn.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/dense_products.hpp"
#include "elm/nn/detail/inference_weight.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/blocked_attention.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/rotary_embedding.hpp"

namespace elm::nn {

/// How the query, key and value projections are stored.
enum class QkvLayout {
  /// PyTorch nn.MultiheadAttention: in_proj_weight (3C, C) applied as x W^T, in_proj_bias (3C),
  /// out_proj.weight (C, C), out_proj.bias (C).
  torch,
  /// GPT-2's Conv1D: c_attn.weight (C, 3C) applied as x W, c_attn.bias (3C), c_proj.weight (C, C), c_proj.bias (C).
  gpt2,
  /// Four nn.Linear (C, C) with their biases, named by AttentionNames (BERT's self.query ... output.dense, BART's and
  /// LLaMA's q_proj ... out_proj).
  separate,
};

/// The parameter names of the separate layout's four projections (<name>.weight, <name>.bias).
struct AttentionNames {
  std::string query = "q_proj";
  std::string key = "k_proj";
  std::string value = "v_proj";
  std::string output = "out_proj";

  /// Hugging Face BertAttention's: self.query, self.key, self.value, output.dense.
  static AttentionNames bert() { return {"self.query", "self.key", "self.value", "output.dense"}; }
};

/// Which attention kernel runs.
enum class AttentionPath {
  automatic,  ///< plain for weights, dropout, or a forward keeping a cache (for backward) with at most 256 x 256
              ///< weights per head (2^25 in all); else blocked
  plain,      ///< materialises the (T_k, T_q) weights of every head (scaled_dot_product_attention)
  blocked,    ///< online softmax over tiles, memory linear in T (blocked_attention)
};

/// Sizes and options of a MultiHeadAttention. Checked by the constructor.
struct MultiHeadAttentionConfig {
  Index width = 0;          ///< C, the model width (embed_dim)
  Index heads = 1;          ///< H, must divide C
  double dropout = 0.0;     ///< on the attention weights, in training
  bool bias = true;         ///< biases of the input and output projections
  QkvLayout layout = QkvLayout::torch;
  AttentionNames names = AttentionNames();  ///< the separate layout's parameter names
  AttentionPath path = AttentionPath::automatic;
  Index rotary_positions = 0;  ///< > 0: rotary embedding of q and k over that many positions (RoPE)
  double rotary_base = 10000.0;
  RotaryLayout rotary_layout = RotaryLayout::half;
};

/// Multi-head attention: Q = W_q x_q + b_q, K = W_k x_k + b_k, V = W_v x_v + b_v, split into H heads of
/// D = C / H rows, per head O_h = V_h softmax(K_h^T Q_h / sqrt(D) + mask), y = W_o [O_1; ...; O_H] + b_o.
/// query: (C, B * T_q), key and value: (C, B * T_k) -> y: (C, B * T_q) (batch_first: B sequences side by side).
/// The mask is any AttentionMask (causal, additive or boolean per batch and head, key padding at any positions);
/// dropout on the weights runs in a training context (ForwardContext::train(rng)).
/// Reference: Vaswani et al. 2017, section 3.2.2; torch.nn.MultiheadAttention (kdim = vdim = embed_dim).
template <typename Scalar = float>
class MultiHeadAttention : public Composite<MultiHeadAttention<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "MultiHeadAttention needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;

  /// What backward needs (filled by forward).
  struct Cache {
    Matrix<Scalar> query, key, value;  // inputs; key and value empty for self-attention
    Matrix<Scalar> q, k, v;            // projections, after the rotary embedding if any
    Matrix<Scalar> attended;           // (C, B * T_q), the heads' outputs before out_proj
    AttentionCache<Scalar> plain;
    BlockedAttentionCache<Scalar> blocked;
    AttentionMask<Scalar> mask;        // the blocked backward recomputes the masked scores (empty on the plain path)
    AttentionDims dims;
    bool used_blocked = false;
    bool self_attention = false;
    elm::detail::Workspace<detail::PackedLhs<Scalar>> products;  ///< the projections' kernel buffers
  };

  /// Per-call inspection of the attention weights (PyTorch's need_weights and average_attn_weights).
  struct ForwardOptions {
    Matrix<Scalar>* weights = nullptr;   ///< when set, receives the attention weights (forces the plain path)
    bool average_weights = true;         ///< weights averaged over heads, (T_k, B * T_q); else (T_k, B * H * T_q)
  };

  /// Zero-initialised parameters (call reset_parameters). Throws InvalidArgument when H does not divide C.
  explicit MultiHeadAttention(const MultiHeadAttentionConfig& config) : config_(config) {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention";
    ELM_EXPECT(config.width > 0 && config.heads > 0, InvalidArgument, where,
               ": expected positive width and heads, got C = ", config.width, ", H = ", config.heads);
    ELM_EXPECT(config.width % config.heads == 0, InvalidArgument, where, ": heads H = ", config.heads,
               " does not divide the width C = ", config.width, ", expected C % H == 0");
    ELM_EXPECT(config.dropout >= 0.0 && config.dropout < 1.0, InvalidArgument, where, ": dropout = ", config.dropout,
               ", expected 0 <= dropout < 1");
    const Index C = config.width;
    out_weight_ = Parameter<Scalar>({C, C});
    if (config.bias) out_bias_ = Parameter<Scalar>({C});
    if (config.layout == QkvLayout::separate) {
      for (int p = 0; p < 3; ++p) {
        part_weight_[p] = Parameter<Scalar>({C, C});
        if (config.bias) part_bias_[p] = Parameter<Scalar>({C});
      }
    } else {
      in_weight_ = config.layout == QkvLayout::torch ? Parameter<Scalar>({3 * C, C}) : Parameter<Scalar>({C, 3 * C});
      if (config.bias) in_bias_ = Parameter<Scalar>({3 * C});
    }
    if (config.rotary_positions > 0)
      rotary_.emplace(C / config.heads, config.rotary_positions, config.rotary_base, config.rotary_layout);
  }

  const MultiHeadAttentionConfig& config() const noexcept { return config_; }
  Index width() const noexcept { return config_.width; }
  Index heads() const noexcept { return config_.heads; }
  Index head_dim() const noexcept { return config_.width / config_.heads; }

  /// Shorthand for construction then reset_parameters(rng).
  MultiHeadAttention(const MultiHeadAttentionConfig& config, Rng& rng) : MultiHeadAttention(config) {
    reset_parameters(rng);
  }

  /// PyTorch's initialisation (torch layout: nn.MultiheadAttention._reset_parameters: Xavier-uniform
  /// in_proj_weight, U(+-1/sqrt(C)) out_proj.weight, zero biases), GPT-2's (N(0, 0.02) weights, zero biases), or
  /// nn.Linear's for each of the separate layout's four projections (weights and biases U(+-1/sqrt(C))).
  void reset_parameters(Rng& rng) {
    const double C = double(config_.width);
    if (config_.layout == QkvLayout::separate) {
      const double bound = 1.0 / std::sqrt(C);
      for (int p = 0; p < 4; ++p) {
        rng.fill_uniform(p < 3 ? part_weight_[p].value : out_weight_.value, -bound, bound);
        if (config_.bias) rng.fill_uniform(p < 3 ? part_bias_[p].value : out_bias_.value, -bound, bound);
      }
      return;
    }
    if (config_.layout == QkvLayout::torch) {
      const double a = std::sqrt(6.0 / (C + 3.0 * C));
      rng.fill_uniform(in_weight_.value, -a, a);
      const double bound = 1.0 / std::sqrt(C);
      rng.fill_uniform(out_weight_.value, -bound, bound);
    } else {
      rng.fill_normal(in_weight_.value, 0.0, 0.02);
      rng.fill_normal(out_weight_.value, 0.0, 0.02);
    }
    if (config_.bias) {
      in_bias_.value.setZero();
      out_bias_.value.setZero();
    }
  }

  /// Self-attention: query = key = value = x. x: (C, B * T) -> y: (C, B * T).
  /// Throws ShapeError on a wrong input or mask shape (naming the mask), RangeError on a key length out of range,
  /// InvalidArgument when a training context with dropout carries no Rng.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, const ForwardContext& context = {},
               const ForwardOptions& options = {}) const {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::forward";
    const Index T = check_input(where, x, batch, "x");
    const Index C = config_.width;
    detail::PackedLhs<Scalar> local_products;  // without a cache: kernel buffers for this call only
    detail::PackedLhs<Scalar>& products = cache ? *cache->products : local_products;
    Matrix<Scalar> qkv;
    project_in(x, 0, 3 * C, qkv, products);
    const AttentionDims dims{batch, config_.heads, T, T};
    if (cache == nullptr && !rotary_) {
      // inference: the heads read q, k and v where the projection wrote them (three row blocks), not copied out
      attend_in_place(where, qkv.topRows(C), qkv.middleRows(C, C), qkv.bottomRows(C), dims, mask, y, nullptr,
                      context, options, products);
    } else {
      Matrix<Scalar> q = qkv.topRows(C), k = qkv.middleRows(C, C), v = qkv.bottomRows(C);
      attend(where, std::move(q), std::move(k), std::move(v), dims, mask, y, cache, context, options, products);
    }
    if (cache != nullptr) {
      cache->query = x;
      cache->key.resize(0, 0);
      cache->value.resize(0, 0);
      cache->self_attention = true;
    }
  }

  /// Cross-attention (or self-attention with distinct tensors): query: (C, B * T_q), key, value: (C, B * T_k)
  /// -> y: (C, B * T_q). The mask's shapes are checked against T_q and T_k.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& query, const Eigen::Ref<const Matrix<Scalar>>& key,
               const Eigen::Ref<const Matrix<Scalar>>& value, Index batch, const AttentionMask<Scalar>& mask,
               Matrix<Scalar>& y, Cache* cache = nullptr, const ForwardContext& context = {},
               const ForwardOptions& options = {}) const {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::forward";
    const Index Tq = check_input(where, query, batch, "query");
    const Index Tk = check_input(where, key, batch, "key");
    check_shape(value, config_.width, key.cols(), where, "value");
    const Index C = config_.width;
    detail::PackedLhs<Scalar> local_products;  // without a cache: kernel buffers for this call only
    detail::PackedLhs<Scalar>& products = cache ? *cache->products : local_products;
    Matrix<Scalar> q, k, v;
    project_in(query, 0, C, q, products);
    project_in(key, C, C, k, products);
    project_in(value, 2 * C, C, v, products);
    attend(where, std::move(q), std::move(k), std::move(v), AttentionDims{batch, config_.heads, Tq, Tk}, mask, y,
           cache, context, options, products);
    if (cache != nullptr) {
      cache->query = query;
      cache->key = key;
      cache->value = value;
      cache->self_attention = false;
    }
  }

  /// Backward of self-attention: dx (overwritten) sums the query, key and value paths; adds parameter grads.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    ELM_EXPECT(cache.self_attention, InvalidArgument,
               "elm::nn::MultiHeadAttention::backward: the cache is from cross-attention, expected self-attention "
               "(use the overload with dquery, dkey, dvalue)");
    Matrix<Scalar> dq, dk, dv;
    backward_to_projections(cache, dy, dq, dk, dv);
    const Index C = config_.width;
    Matrix<Scalar> dqkv(3 * C, dq.cols());
    dqkv.topRows(C) = dq;
    dqkv.middleRows(C, C) = dk;
    dqkv.bottomRows(C) = dv;
    dx.setZero(C, cache.query.cols());
    project_in_backward(cache.query, 0, 3 * C, dqkv, dx);
  }

  /// Backward of cross-attention: writes dquery, dkey, dvalue; adds parameter grads.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dquery,
                Matrix<Scalar>& dkey, Matrix<Scalar>& dvalue) {
    ELM_EXPECT(!cache.self_attention, InvalidArgument,
               "elm::nn::MultiHeadAttention::backward: the cache is from self-attention, expected cross-attention "
               "(use the overload with dx)");
    Matrix<Scalar> dq, dk, dv;
    backward_to_projections(cache, dy, dq, dk, dv);
    const Index C = config_.width;
    dquery.setZero(C, cache.query.cols());
    dkey.setZero(C, cache.key.cols());
    dvalue.setZero(C, cache.value.cols());
    project_in_backward(cache.query, 0, C, dq, dquery);
    project_in_backward(cache.key, C, C, dk, dkey);
    project_in_backward(cache.value, 2 * C, C, dv, dvalue);
  }

  /// Incremental causal self-attention for decoding: x holds the next T_new positions of each of the B
  /// sequences, (C, B * T_new); their keys and values are appended to kv, and each new position attends
  /// to every cached position up to itself. y: (C, B * T_new). Inference only (no cache for backward).
  /// Throws ShapeError when kv does not match (C, B), RangeError when kv would overflow (kv unchanged).
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, KvCache<Scalar>& kv, Matrix<Scalar>& y) const {
    forward_incremental(x, kv, AttentionMask<Scalar>{}, y);
  }

  /// The same with a mask over the cached positions after the append: T_k = kv.length() + T_new keys, T_q = T_new
  /// queries (the causal part is always applied). Key padding at any position, (T_k, B), serves batched
  /// generation from left-padded prompts. Throws ShapeError on a wrong mask shape (kv unchanged).
  void forward_incremental(const Eigen::Ref<const Matrix<Scalar>>& x, KvCache<Scalar>& kv,
                           const AttentionMask<Scalar>& mask, Matrix<Scalar>& y) const {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::forward_incremental";
    ELM_EXPECT(kv.width() == config_.width, ShapeError, where, ": the cache has width ", kv.width(),
               ", expected C = ", config_.width);
    const Index B = kv.batch();
    const Index T_new = check_input(where, x, B, "x");
    ELM_EXPECT(kv.length() + T_new <= kv.max_length(), RangeError, where, ": appending ", T_new,
               " positions to a cache holding ", kv.length(), " would exceed its max_length = ", kv.max_length());
    const AttentionDims dims{B, config_.heads, T_new, kv.length() + T_new};
    detail::check_attention_mask(where, mask, dims);
    const Index C = config_.width, H = config_.heads, D = head_dim();
    detail::PackedLhs<Scalar> products;  // a few columns: Eigen's products serve them, the buffers stay empty
    Matrix<Scalar> qkv;
    project_in(x, 0, 3 * C, qkv, products);
    Matrix<Scalar> q = qkv.topRows(C), k = qkv.middleRows(C, C);
    if (rotary_) {
      rotary_->apply(q, B, kv.length());
      rotary_->apply(k, B, kv.length());
    }
    kv.append(k, qkv.bottomRows(C));
    const Index L = kv.length(), M = kv.max_length();
    const Scalar scale = Scalar(1) / std::sqrt(Scalar(D));
    Matrix<Scalar> attended(C, B * T_new);
    elm::detail::parallel_for(0, B * H, [&](Index bh) {
      const Index b = bh / H, h = bh % H;
      detail::SequenceMask<Scalar> sm = detail::sequence_mask(mask, dims, b, h);
      sm.causal = true;
      const auto keys = kv.keys().block(h * D, b * M, D, L);
      const auto values = kv.values().block(h * D, b * M, D, L);
      const auto queries = q.block(h * D, b * T_new, D, T_new);
      auto out = attended.block(h * D, b * T_new, D, T_new);
      Matrix<Scalar> s(L, T_new);
      if (T_new < incremental_tile_queries) {  // decoding: matrix-vector products
        s.noalias() = scale * (keys.transpose() * queries);
      } else {  // a prompt: the tile kernel, reading the keys (copied transposed, scaled) and queries in place
        const Matrix<Scalar> k_t = scale * keys.transpose();
        detail::block_product<false>(k_t, queries, s);
      }
      sm.apply(s, 0, 0);
      causal_softmax(s, L - T_new);
      if (T_new < incremental_tile_queries)
        out.noalias() = values * s;
      else
        detail::block_product<false>(values, s, out);
    });
    project_out(attended, y, products);
  }

  /// The keys and values of a cross-attention's memory (an encoder's output), projected once per source for
  /// every decoding step to read: keys, values (C, B * S), memory sequence b at columns [b S, (b + 1) S), of
  /// which the first lengths[b] are real (the rest padding, never read).
  struct ProjectedMemory {
    Matrix<Scalar> keys, values;
    std::vector<Index> lengths;
    Index batch() const noexcept { return to_index(lengths.size()); }
    Index length() const noexcept { return lengths.empty() ? 0 : keys.cols() / batch(); }
  };

  /// K = W_k memory + b_k and V = W_v memory + b_v of B = lengths.size() memory sequences of S positions,
  /// memory: (C, B * S), sequence b padded after its lengths[b] real positions. Throws ShapeError on a wrong
  /// shape, RangeError for a length outside [1, S], InvalidArgument with a rotary embedding (cross-attention
  /// has no positions to rotate by).
  void project_memory(const Eigen::Ref<const Matrix<Scalar>>& memory, const std::vector<Index>& lengths,
                      ProjectedMemory& out) const {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::project_memory";
    ELM_EXPECT(!rotary_, InvalidArgument, where, ": expected an attention without a rotary embedding");
    const Index S = check_input(where, memory, to_index(lengths.size()), "memory");
    for (Index length : lengths)
      ELM_EXPECT(length >= 1 && length <= S, RangeError, where, ": memory length ", length,
                 " is out of range, expected 1 <= length <= S = ", S);
    detail::PackedLhs<Scalar> products;
    const Index C = config_.width;
    project_in(memory, C, C, out.keys, products);
    project_in(memory, 2 * C, C, out.values, products);
    out.lengths = lengths;
  }

  /// Cross-attention of new queries to a projected memory (decoding): query holds T_new positions of each of
  /// B = rows.size() sequences, (C, B * T_new), and sequence b attends to the real positions of memory
  /// sequence rows[b] (beam hypotheses of one source share its memory). y: (C, B * T_new), equal to forward's
  /// cross-attention to that memory with its padding hidden. Inference only. Throws ShapeError on a wrong
  /// shape, RangeError for a row outside [0, memory.batch()).
  void forward_projected(const Eigen::Ref<const Matrix<Scalar>>& query, const ProjectedMemory& memory,
                         const std::vector<Index>& rows, Matrix<Scalar>& y) const {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::forward_projected";
    const Index B = to_index(rows.size());
    const Index T_new = check_input(where, query, B, "query");
    check_shape(memory.keys, config_.width, -1, where, "memory.keys");
    for (Index r : rows) check_id(r, memory.batch(), where, "memory row");
    const Index C = config_.width, H = config_.heads, D = head_dim(), S = memory.length();
    detail::PackedLhs<Scalar> products;
    Matrix<Scalar> q;
    project_in(query, 0, C, q, products);
    const Scalar scale = Scalar(1) / std::sqrt(Scalar(D));
    Matrix<Scalar> attended(C, B * T_new);
    elm::detail::parallel_for(0, B * H, [&](Index bh) {
      const Index b = bh / H, h = bh % H, m = rows[to_size(b)], L = memory.lengths[to_size(m)];
      Matrix<Scalar> s(L, T_new);
      s.noalias() = scale * (memory.keys.block(h * D, m * S, D, L).transpose() * q.block(h * D, b * T_new, D, T_new));
      causal_softmax(s, L);  // every key visible: a plain softmax per column
      attended.block(h * D, b * T_new, D, T_new).noalias() = memory.values.block(h * D, m * S, D, L) * s;
    });
    project_out(attended, y, products);
  }

 private:
  friend class Composite<MultiHeadAttention>;
  // The parameters in order, for Composite's for_each_parameter (mutable and const): in_proj_weight, in_proj_bias,
  // out_proj.weight, out_proj.bias (torch layout), c_attn.weight, c_attn.bias, c_proj.weight, c_proj.bias (gpt2
  // layout) or <query>.weight, <query>.bias, <key>.*, <value>.*, <output>.* (separate layout, config.names); biases
  // only when configured. Self is MultiHeadAttention, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    if (self.config_.layout == QkvLayout::separate) {
      const AttentionNames& n = self.config_.names;
      const std::string* names[4] = {&n.query, &n.key, &n.value, &n.output};
      for (int p = 0; p < 4; ++p) {
        f(join_name(join_name(prefix, *names[p]), "weight"), p < 3 ? self.part_weight_[p] : self.out_weight_);
        if (self.config_.bias)
          f(join_name(join_name(prefix, *names[p]), "bias"), p < 3 ? self.part_bias_[p] : self.out_bias_);
      }
      return;
    }
    const bool torch = self.config_.layout == QkvLayout::torch;
    f(join_name(prefix, torch ? "in_proj_weight" : "c_attn.weight"), self.in_weight_);
    if (self.config_.bias) f(join_name(prefix, torch ? "in_proj_bias" : "c_attn.bias"), self.in_bias_);
    f(join_name(prefix, torch ? "out_proj.weight" : "c_proj.weight"), self.out_weight_);
    if (self.config_.bias) f(join_name(prefix, torch ? "out_proj.bias" : "c_proj.bias"), self.out_bias_);
  }

  Index check_input(std::string_view where, const Eigen::Ref<const Matrix<Scalar>>& x, Index batch,
                    std::string_view name) const {
    ELM_EXPECT(x.rows() == config_.width, ShapeError, where, ": ", name, " has ", x.rows(), " rows, expected C = ",
               config_.width);
    ELM_EXPECT(batch > 0 && x.cols() % batch == 0 && x.cols() > 0, ShapeError, where, ": ", name, " has ", x.cols(),
               " columns, expected a positive multiple of B = ", batch);
    return x.cols() / batch;
  }

  /// Rows [r0, r0 + n) of the 3C input projections applied to x: (C, N) -> out: (n, N).
  void project_in(const Eigen::Ref<const Matrix<Scalar>>& x, Index r0, Index n, Matrix<Scalar>& out,
                  detail::PackedLhs<Scalar>& products) const {
    if (config_.layout == QkvLayout::separate) {  // r0 and n are whole projections: q, k, v, or all three
      const Index C = config_.width;
      if (n == C) {
        const int p = int(r0 / C);
        const Scalar* bias = config_.bias ? part_bias_[p].value.data() : nullptr;
        if (!detail::inference_product<Scalar>(part_weight_[p].inference, x, 0, C, out, bias))
          detail::dense_forward<Scalar>(part_weight_[p].value.transpose(), x, out, bias, products);
        return;
      }
      out.resize(n, x.cols());
      Matrix<Scalar> part;
      for (Index r = r0; r < r0 + n; r += C) {
        project_in(x, r, C, part, products);
        out.middleRows(r - r0, C) = part;
      }
      return;
    }
    const Scalar* bias = config_.bias ? in_bias_.value.data() + r0 : nullptr;
    if (detail::inference_product<Scalar>(in_weight_.inference, x, r0, n, out, bias)) return;
    if (config_.layout == QkvLayout::torch)
      detail::dense_forward<Scalar>(in_weight_.value.middleCols(r0, n).transpose(), x, out, bias, products);
    else
      detail::dense_forward<Scalar>(in_weight_.value.middleRows(r0, n), x, out, bias, products);
  }

  /// Adds the gradients of project_in(x, r0, n) given dout: (n, N); adds into dx.
  void project_in_backward(const Eigen::Ref<const Matrix<Scalar>>& x, Index r0, Index n,
                           const Eigen::Ref<const Matrix<Scalar>>& dout, Matrix<Scalar>& dx) {
    detail::PackedLhs<Scalar>& products = *backward_products_;
    if (config_.layout == QkvLayout::separate) {  // each whole projection in [r0, r0 + n) as an nn.Linear
      const Index C = config_.width;
      for (Index r = r0; r < r0 + n; r += C) {
        const int p = int(r / C);
        const auto d = dout.middleRows(r - r0, C);
        detail::dense_add_weight_grad<Scalar>(x, d, part_weight_[p].gradient(), /*grad_transposed=*/true,
                                              config_.bias ? part_bias_[p].gradient().data() : nullptr, products);
        detail::dense_input_grad<Scalar>(part_weight_[p].value.transpose(), d, dx, /*accumulate=*/true, products);
      }
      return;
    }
    Scalar* const bias_grad = config_.bias ? in_bias_.gradient().data() + r0 : nullptr;
    if (config_.layout == QkvLayout::torch) {
      detail::dense_add_weight_grad<Scalar>(x, dout, in_weight_.gradient().middleCols(r0, n), /*grad_transposed=*/true,
                                            bias_grad, products);
      detail::dense_input_grad<Scalar>(in_weight_.value.middleCols(r0, n).transpose(), dout, dx,
                                       /*accumulate=*/true, products);
      return;
    }
    detail::dense_add_weight_grad<Scalar>(x, dout, in_weight_.gradient().middleRows(r0, n), /*grad_transposed=*/false,
                                          bias_grad, products);
    detail::dense_input_grad<Scalar>(in_weight_.value.middleRows(r0, n), dout, dx, /*accumulate=*/true, products);
  }

  void project_out(const Eigen::Ref<const Matrix<Scalar>>& attended, Matrix<Scalar>& y,
                   detail::PackedLhs<Scalar>& products) const {
    const Scalar* bias = config_.bias ? out_bias_.value.data() : nullptr;
    if (detail::inference_product<Scalar>(out_weight_.inference, attended, 0, config_.width, y, bias)) return;
    if (config_.layout != QkvLayout::gpt2)
      detail::dense_forward<Scalar>(out_weight_.value.transpose(), attended, y, bias, products);
    else
      detail::dense_forward<Scalar>(out_weight_.value, attended, y, bias, products);
  }

  /// Automatic choice: the blocked path is the faster forward (no weights written out) and the smaller
  /// cache. For training (forward and backward), plain is slightly faster on short sequences, the two are even
  /// around T = 256, and blocked pulls ahead on longer ones, its tile products reading their operands in place
  /// (docs/benchmarks.md, Attention); so plain while a head's weights are at most 256 x 256 and all of them fit
  /// in 128 MB of floats.
  bool choose_blocked(const AttentionDims& dims, const ForwardContext& context, const ForwardOptions& options,
                      bool keeps_cache) const {
    const bool dropout_active = context.training && config_.dropout > 0.0;
    if (options.weights != nullptr || dropout_active || config_.path == AttentionPath::plain) return false;
    if (config_.path == AttentionPath::blocked || !keeps_cache) return true;
    const double head_weights = double(dims.q_len) * double(dims.k_len);
    return head_weights > double(256 * 256) || double(dims.batch) * double(dims.heads) * head_weights > double(1 << 25);
  }

  // Rotates q and k when the layer has a rotary embedding, attends, and keeps q, k, v in the cache if any.
  void attend(std::string_view where, Matrix<Scalar> q, Matrix<Scalar> k, Matrix<Scalar> v, const AttentionDims& dims,
              const AttentionMask<Scalar>& mask, Matrix<Scalar>& y, Cache* cache, const ForwardContext& context,
              const ForwardOptions& options, detail::PackedLhs<Scalar>& products) const {
    if (rotary_) {
      rotary_->apply(q, dims.batch, 0);
      rotary_->apply(k, dims.batch, 0);
    }
    attend_in_place(where, q, k, v, dims, mask, y, cache, context, options, products);
    if (cache != nullptr) {
      cache->q = std::move(q);
      cache->k = std::move(k);
      cache->v = std::move(v);
    }
  }

  // The attention proper over q, k, v as given (already rotated), then the output projection; the cache, if any,
  // receives everything but q, k, v.
  void attend_in_place(std::string_view where, const Eigen::Ref<const Matrix<Scalar>>& q,
                       const Eigen::Ref<const Matrix<Scalar>>& k, const Eigen::Ref<const Matrix<Scalar>>& v,
                       const AttentionDims& dims, const AttentionMask<Scalar>& mask, Matrix<Scalar>& y, Cache* cache,
                       const ForwardContext& context, const ForwardOptions& options,
                       detail::PackedLhs<Scalar>& products) const {
    ELM_EXPECT(config_.path != AttentionPath::blocked || options.weights == nullptr, InvalidArgument, where,
               ": attention weights were requested from a MultiHeadAttention configured for the blocked path, "
               "expected AttentionPath::automatic or plain");
    detail::check_attention_mask(where, mask, dims);
    if (context.training && config_.dropout > 0.0) context.require_rng(where);
    Matrix<Scalar> attended;
    const bool blocked = choose_blocked(dims, context, options, cache != nullptr);
    if (blocked) {
      ELM_EXPECT(!context.training || config_.dropout == 0.0, InvalidArgument, where,
                 ": dropout on the weights is not available on the blocked path, expected AttentionPath::plain");
      BlockedAttentionCache<Scalar> bc;
      blocked_attention<Scalar>(q, k, v, dims, mask, attended, cache != nullptr ? &bc : nullptr);
      if (cache != nullptr) cache->blocked = std::move(bc);
    } else {
      AttentionOptions<Scalar> ao;
      ao.dropout = static_cast<Scalar>(config_.dropout);
      AttentionCache<Scalar> pc;
      const bool keep = cache != nullptr || options.weights != nullptr;
      scaled_dot_product_attention<Scalar>(q, k, v, dims, mask, attended, keep ? &pc : nullptr, context, ao);
      if (options.weights != nullptr) {
        // PyTorch returns the weights that were applied: after dropout, when it is active.
        Matrix<Scalar> applied = pc.weights;
        if (pc.keep.size() != 0) applied.array() *= pc.keep.array();
        *options.weights = options.average_weights ? average_heads<Scalar>(applied, dims) : applied;
      }
      if (cache != nullptr) cache->plain = std::move(pc);
    }
    project_out(attended, y, products);
    if (cache != nullptr) {
      cache->attended = std::move(attended);
      if (blocked)
        cache->mask = mask;
      else
        cache->mask = AttentionMask<Scalar>{};
      cache->dims = dims;
      cache->used_blocked = blocked;
    }
  }

  /// From dy back to the gradients of the projections q, k, v (before the rotary embedding).
  void backward_to_projections(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dq,
                               Matrix<Scalar>& dk, Matrix<Scalar>& dv) {
    constexpr std::string_view where = "elm::nn::MultiHeadAttention::backward";
    check_shape(dy, config_.width, cache.attended.cols(), where, "dy");
    // 1) output projection
    Matrix<Scalar> d_attended;
    Scalar* const out_bias_grad = config_.bias ? out_bias_.gradient().data() : nullptr;
    detail::PackedLhs<Scalar>& products = *backward_products_;
    const bool torch = config_.layout != QkvLayout::gpt2;  // the out projection: nn.Linear unless Conv1D
    detail::dense_add_weight_grad<Scalar>(cache.attended, dy, out_weight_.gradient(), /*grad_transposed=*/torch,
                                          out_bias_grad, products);
    if (torch)
      detail::dense_input_grad<Scalar>(out_weight_.value.transpose(), dy, d_attended, /*accumulate=*/false, products);
    else
      detail::dense_input_grad<Scalar>(out_weight_.value, dy, d_attended, /*accumulate=*/false, products);
    // 2) attention
    if (cache.used_blocked)
      blocked_attention_backward<Scalar>(cache.q, cache.k, cache.v, cache.mask, cache.attended, cache.blocked,
                                         d_attended, dq, dk, dv);
    else
      scaled_dot_product_attention_backward<Scalar>(cache.q, cache.k, cache.v, cache.plain, d_attended, dq, dk, dv);
    // 3) rotary embedding
    if (rotary_) {
      rotary_->apply_backward(dq, cache.dims.batch, 0);
      rotary_->apply_backward(dk, cache.dims.batch, 0);
    }
  }

  /// New positions from which forward_incremental's products go through the tile kernel (a prompt) rather
  /// than Eigen's matrix-vector products (decoding one or a few tokens).
  static constexpr Index incremental_tile_queries = 8;

  /// Softmax of each column of s (T_k, T_q) whose query i sees keys j <= i + offset only (the scores beyond are
  /// -inf already): the exponentials of the visible prefix alone, in the vector kernel when one is in force
  /// and the prefix holds no other hidden key, and zeros past it. Columns with nothing visible become NaN.
  static void causal_softmax(Matrix<Scalar>& s, Index offset) {
    constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
    for (Index c = 0; c < s.cols(); ++c) {
      const Index visible = std::min(s.rows(), std::max<Index>(0, c + offset + 1));
      auto column = s.col(c).head(visible);
      const Scalar m = visible > 0 ? column.maxCoeff() : neg_inf;
      if (m == neg_inf) {
        s.col(c).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
        continue;
      }
      s.col(c).tail(s.rows() - visible).setZero();
      Scalar sum = Scalar(0);
      const bool wide = !(column.minCoeff() == neg_inf) && detail::with_vector_kernels<Scalar>([&](auto kernels) {
        sum = kernels.exp_shifted(column.data(), column.data(), visible, m);
      });
      if (!wide) {
        detail::masked_exp_in_place(column, m);
        sum = column.sum();
      }
      column /= sum;
    }
  }

  MultiHeadAttentionConfig config_;
  Parameter<Scalar> in_weight_, in_bias_, out_weight_, out_bias_;
  Parameter<Scalar> part_weight_[3], part_bias_[3];  // the separate layout's q, k, v projections
  std::optional<RotaryEmbedding<Scalar>> rotary_;
  elm::detail::Workspace<detail::PackedLhs<Scalar>> backward_products_;  // the backward projections' buffers
};

}  // namespace elm::nn
