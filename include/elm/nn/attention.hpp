// SPDX-License-Identifier: MIT
// Scaled dot-product attention over a batch of sequences and heads, with masks, dropout on the
// weights, the weights themselves for inspection, and the backward pass.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// Sizes of one batched attention call. q holds B sequences of T_q columns side by side, k and v hold
/// B sequences of T_k columns; the rows of q, k (H * D) and v (H * D_v) are split into H heads.
struct AttentionDims {
  Index batch = 1;   ///< B
  Index heads = 1;   ///< H
  Index q_len = 0;   ///< T_q, positions per query sequence
  Index k_len = 0;   ///< T_k, positions per key/value sequence
};

/// Which scores are hidden from the softmax, or shifted before it. Any combination may be given; all apply:
/// the additive parts add up, and a score hidden by any part is hidden. A query whose every key is hidden gets
/// NaN weights and a NaN output, as in PyTorch. Column-major (T_k, ...) matrices have the bytes of PyTorch's
/// row-major (..., S) tensors (S = T_k keys, L = T_q queries).
///
/// Per-score masks, `additive` and `hidden`, have one of three shapes (PyTorch's attn_mask):
///   (T_k, T_q)          shared by every sequence and head: attn_mask (L, S)
///   (T_k, B * T_q)      per sequence, shared by its heads: scaled_dot_product_attention's (B, 1, L, S)
///   (T_k, B * H * T_q)  per sequence and head: nn.MultiheadAttention's (B * H, L, S), or (B, H, L, S);
///                       column (b * H + h) * T_q + i holds query i of sequence b in head h.
/// Per-key masks, `key_padding_hidden` and `key_padding_additive`, are (T_k, B): column b holds the keys of
/// sequence b, the bytes of nn.MultiheadAttention's key_padding_mask (B, S). They may hide any keys (left
/// padding for batched generation, holes), where `key_lengths` can only hide a suffix.
///
/// Boolean masks say true = hidden, as nn.MultiheadAttention's attn_mask and key_padding_mask do
/// (true = "not allowed to attend"). torch.nn.functional.scaled_dot_product_attention's boolean attn_mask has
/// the opposite sense (true = takes part): pass its negation as `hidden`.
template <typename Scalar>
struct AttentionMask {
  /// Query i of a sequence sees keys j <= i + (T_k - T_q). With T_q == T_k this is PyTorch's square
  /// subsequent mask; with T_k > T_q the queries are the last T_q positions (incremental decoding).
  bool causal = false;
  /// Empty, or added to the scores; -inf hides a score. (T_k, T_q), (T_k, B * T_q) or (T_k, B * H * T_q):
  /// PyTorch's float attn_mask.
  Matrix<Scalar> additive;
  /// Empty, or true where a score is hidden (true = NOT attended). Same shapes as `additive`: PyTorch's
  /// boolean attn_mask of nn.MultiheadAttention (the negation of scaled_dot_product_attention's).
  Matrix<bool> hidden;
  /// Empty, or B valid key counts; keys j >= key_lengths[b] are padding (key_padding_mask true at j >= length).
  std::vector<Index> key_lengths;
  /// Empty, or (T_k, B): true where key j of sequence b is hidden from every query and head (true = padding):
  /// PyTorch's boolean key_padding_mask (B, S).
  Matrix<bool> key_padding_hidden;
  /// Empty, or (T_k, B): added to every score of key j of sequence b; -inf hides it: PyTorch's float
  /// key_padding_mask (B, S). A large finite negative value (Hugging Face's finfo.min) keeps a query whose
  /// keys are all padding finite instead of NaN.
  Matrix<Scalar> key_padding_additive;

  bool empty() const {
    return !causal && additive.size() == 0 && hidden.size() == 0 && key_lengths.empty() &&
           key_padding_hidden.size() == 0 && key_padding_additive.size() == 0;
  }
};

/// Options of the plain attention path. Dropout draws only in a training context (ForwardContext::train(rng)).
template <typename Scalar>
struct AttentionOptions {
  /// Probability of zeroing each attention weight in training (survivors are scaled by 1 / (1 - p)).
  Scalar dropout = Scalar(0);
  /// Score scale; 0 means 1 / sqrt(D).
  Scalar scale = Scalar(0);
};

/// What backward needs from the plain path. `weights` is (T_k, B * H * T_q): column (b * H + h) * T_q + i
/// holds the softmax weights of query i of sequence b in head h, the bytes of PyTorch's (B, H, L, S)
/// weights. `keep` is empty without dropout, else the same shape with 0 or 1 / (1 - p).
template <typename Scalar>
struct AttentionCache {
  Matrix<Scalar> weights;
  Matrix<Scalar> keep;
  AttentionDims dims;
  Scalar scale = Scalar(0);
};

namespace detail {

/// Checks a per-score mask (`additive`, `hidden`) against dims: (T_k, T_q), (T_k, B * T_q) or (T_k, B * H * T_q).
template <typename Derived>
void check_score_mask(std::string_view where, const Eigen::EigenBase<Derived>& m, const AttentionDims& dims,
                      std::string_view what) {
  if (m.size() == 0) return;
  const Index Tk = dims.k_len, Tq = dims.q_len, B = dims.batch, H = dims.heads;
  ELM_EXPECT(m.rows() == Tk && (m.cols() == Tq || m.cols() == B * Tq || m.cols() == B * H * Tq), ShapeError, where,
             ": ", what, " is ", m.rows(), "x", m.cols(), ", expected ", Tk, "x", Tq, " (T_k x T_q), ", Tk, "x", B * Tq,
             " (T_k x B * T_q) or ", Tk, "x", B * H * Tq, " (T_k x B * H * T_q)");
}

/// Checks the mask against dims: per-score masks (see check_score_mask), per-key masks (T_k, B), B key lengths
/// in [0, T_k].
template <typename Scalar>
void check_attention_mask(std::string_view where, const AttentionMask<Scalar>& mask, const AttentionDims& dims) {
  check_score_mask(where, mask.additive, dims, "additive mask");
  check_score_mask(where, mask.hidden, dims, "hidden mask");
  if (mask.key_padding_hidden.size() != 0)
    check_shape(mask.key_padding_hidden, dims.k_len, dims.batch, where, "key_padding_hidden (T_k x B)");
  if (mask.key_padding_additive.size() != 0)
    check_shape(mask.key_padding_additive, dims.k_len, dims.batch, where, "key_padding_additive (T_k x B)");
  if (!mask.key_lengths.empty()) {
    ELM_EXPECT(to_index(mask.key_lengths.size()) == dims.batch, ShapeError, where, ": key_lengths has ",
               mask.key_lengths.size(), " entries, expected B = ", dims.batch);
    for (Index len : mask.key_lengths)
      ELM_EXPECT(len >= 0 && len <= dims.k_len, RangeError, where, ": key length ", len,
                 " is out of range, expected 0 <= length <= T_k = ", dims.k_len);
  }
}

/// Checks q, k, v against dims and the mask against dims; returns D (rows per head of q and k).
template <typename Scalar>
Index check_attention_inputs(std::string_view where, const Eigen::Ref<const Matrix<Scalar>>& q,
                             const Eigen::Ref<const Matrix<Scalar>>& k, const Eigen::Ref<const Matrix<Scalar>>& v,
                             const AttentionDims& dims, const AttentionMask<Scalar>& mask) {
  ELM_EXPECT(dims.batch > 0 && dims.heads > 0 && dims.q_len > 0 && dims.k_len > 0, InvalidArgument, where,
             ": expected positive batch, heads, q_len and k_len, got B = ", dims.batch, ", H = ", dims.heads,
             ", T_q = ", dims.q_len, ", T_k = ", dims.k_len);
  ELM_EXPECT(q.rows() % dims.heads == 0 && q.rows() > 0, ShapeError, where, ": q has ", q.rows(),
             " rows, expected a positive multiple of H = ", dims.heads);
  ELM_EXPECT(v.rows() % dims.heads == 0 && v.rows() > 0, ShapeError, where, ": v has ", v.rows(),
             " rows, expected a positive multiple of H = ", dims.heads);
  check_shape(q, -1, dims.batch * dims.q_len, where, "q");
  check_shape(k, q.rows(), dims.batch * dims.k_len, where, "k");
  check_shape(v, -1, dims.batch * dims.k_len, where, "v");
  check_attention_mask(where, mask, dims);
  return q.rows() / dims.heads;
}

/// The mask as it applies to one sequence b in one head h: which scores of its (T_k, T_q) tile are hidden or
/// shifted. The per-score and per-key masks are read in place (column-major, leading dimension T_k).
template <typename Scalar>
struct SequenceMask {
  bool causal = false;
  Index offset = 0;                      // T_k - T_q: query i sees keys j <= i + offset
  Index key_len = 0;                     // keys j >= key_len are hidden
  Index k_len = 0;                       // T_k, the leading dimension of the masks below
  const Scalar* additive = nullptr;      // (T_k, T_q) of this sequence and head
  const bool* hidden = nullptr;          // (T_k, T_q) of this sequence and head
  const Scalar* key_additive = nullptr;  // T_k entries of this sequence
  const bool* key_hidden = nullptr;      // T_k entries of this sequence

  /// Applies the mask to the tile of scores s for keys [j0, j0 + s.rows()) and queries [i0, i0 + s.cols()).
  template <typename Tile>
  void apply(Tile& s, Index j0, Index i0) const {
    constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
    const Index rows = s.rows(), cols = s.cols();
    // 1) the additive parts
    if (additive != nullptr)
      s += Eigen::Map<const Matrix<Scalar>, 0, Eigen::OuterStride<>>(additive + i0 * k_len + j0, rows, cols,
                                                                    Eigen::OuterStride<>(k_len));
    if (key_additive != nullptr) s.colwise() += Eigen::Map<const Vector<Scalar>>(key_additive + j0, rows);
    // 2) the hidden scores at any position: per key, then per score
    if (key_hidden != nullptr)
      for (Index r = 0; r < rows; ++r)
        if (key_hidden[j0 + r]) s.row(r).setConstant(neg_inf);
    if (hidden != nullptr)
      for (Index c = 0; c < cols; ++c) {
        const bool* h = hidden + (i0 + c) * k_len + j0;
        for (Index r = 0; r < rows; ++r)
          if (h[r]) s(r, c) = neg_inf;
      }
    // 3) the hidden suffix of each column: padding past the key length, keys after the causal limit
    const Index hidden_from = key_len - j0;  // rows >= hidden_from are padding
    for (Index c = 0; c < cols; ++c) {
      Index last = rows;  // rows [last, rows) hidden
      if (hidden_from < last) last = hidden_from;
      if (causal) {
        const Index visible_to = i0 + c + offset - j0 + 1;
        if (visible_to < last) last = visible_to;
      }
      if (last < 0) last = 0;
      if (last < rows) s.col(c).tail(rows - last).setConstant(neg_inf);
    }
  }

  /// True when every score of the tile is hidden by the causal or padding part (skippable).
  bool tile_hidden(Index j0, Index i0, Index i_count) const {
    if (j0 >= key_len) return true;
    return causal && j0 > i0 + i_count - 1 + offset;
  }
};

/// Column of a per-score mask where sequence b's head h starts: masks shared by the batch start at 0, per-sequence
/// masks at b * T_q, per-head masks at (b * H + h) * T_q.
inline Index score_mask_column(Index mask_cols, const AttentionDims& dims, Index b, Index h) {
  if (mask_cols == dims.batch * dims.heads * dims.q_len) return (b * dims.heads + h) * dims.q_len;
  if (mask_cols == dims.batch * dims.q_len) return b * dims.q_len;
  return 0;
}

/// The mask of sequence b in head h (the mask already checked against dims).
template <typename Scalar>
SequenceMask<Scalar> sequence_mask(const AttentionMask<Scalar>& mask, const AttentionDims& dims, Index b, Index h) {
  SequenceMask<Scalar> m;
  const Index Tk = dims.k_len;
  m.causal = mask.causal;
  m.offset = Tk - dims.q_len;
  m.key_len = mask.key_lengths.empty() ? Tk : mask.key_lengths[static_cast<std::size_t>(b)];
  m.k_len = Tk;
  if (mask.additive.size() != 0)
    m.additive = mask.additive.data() + score_mask_column(mask.additive.cols(), dims, b, h) * Tk;
  if (mask.hidden.size() != 0) m.hidden = mask.hidden.data() + score_mask_column(mask.hidden.cols(), dims, b, h) * Tk;
  if (mask.key_padding_additive.size() != 0) m.key_additive = mask.key_padding_additive.data() + b * Tk;
  if (mask.key_padding_hidden.size() != 0) m.key_hidden = mask.key_padding_hidden.data() + b * Tk;
  return m;
}

/// exp(x - shift) per entry, exactly 0 where x is -inf: Eigen's vectorised exp clamps its argument, so
/// exp(-inf) would give a tiny positive number and a hidden key a nonzero weight. The exponentials stay
/// vectorised (a select() would make them scalar). Whether any entry is hidden is asked of the vectorised
/// minimum: an element-by-element scan took twice as long as the exponentials themselves. In float, a column
/// without hidden entries goes through the run-time vector kernel (vector_kernels.hpp: AVX2 or AVX-512 whatever
/// the build's flags), not Eigen's exp in the build's own instruction set.
template <typename Column>
void masked_exp_in_place(Column&& x, typename std::decay_t<Column>::Scalar shift) {
  using Scalar = typename std::decay_t<Column>::Scalar;
  constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
  const Index n = x.size();
  if (n == 0) return;
  if (!(x.minCoeff() == neg_inf)) {  // no hidden entry (a NaN score stays NaN either way)
    const bool wide = x.innerStride() == 1 && with_vector_kernels<Scalar>([&](auto kernels) {
                        kernels.exp_shifted(x.data(), x.data(), n, shift);
                      });
    if (!wide) x = (x.array() - shift).exp().matrix();
    return;
  }
  const Vector<Scalar> scores = x;
  x = (x.array() - shift).exp().matrix();
  for (Index i = 0; i < n; ++i)
    if (scores(i) == neg_inf) x(i) = Scalar(0);
}

/// out = a b for one head's product of the plain path. a: a column-major block; b: a column-major block or the
/// transpose of one; out: a column-major block, overwritten. In place (tile_product: no operand packed) while
/// the head's scores stay within a few MB, where that was faster than Eigen's product; Eigen's product beyond,
/// whose packing keeps its working set in cache (docs/benchmarks.md, "Design measurements").
template <typename A, typename B, typename Out>
void head_product(const A& a, const B& b, Out&& out, bool in_place) {
  if (in_place)
    block_product<false>(a, b, out);
  else
    out.noalias() = a * b;
}

/// Largest T_k T_q for which the plain path's products read their operands in place (see head_product).
inline constexpr Index plain_in_place_max_scores = Index(1) << 20;

/// Softmax of each column in place; a column with no finite score becomes NaN (PyTorch's result).
template <typename Tile>
void softmax_columns_in_place(Tile& s) {
  using Scalar = typename Tile::Scalar;
  for (Index c = 0; c < s.cols(); ++c) {
    const Scalar m = s.col(c).maxCoeff();
    if (m == -std::numeric_limits<Scalar>::infinity()) {
      s.col(c).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
      continue;
    }
    masked_exp_in_place(s.col(c), m);
    s.col(c) /= s.col(c).sum();
  }
}

}  // namespace detail

/// Scaled dot-product attention, per sequence b and head h:
/// O = V softmax(scale * K^T Q + mask) (softmax over keys, one column per query), dropout on the weights in a
/// training context (which must then carry an Rng: ForwardContext::train(rng)).
/// q: (H * D, B * T_q), k: (H * D, B * T_k), v: (H * D_v, B * T_k) -> out: (H * D_v, B * T_q).
/// Head h uses rows [h * D, (h + 1) * D). Stores the weights in cache when it is given.
/// Throws ShapeError (naming the mask) / RangeError / InvalidArgument on inconsistent sizes, masks or dropout.
/// Memory: B * H * T_k * T_q weights when a cache is kept (see blocked_attention.hpp for long sequences).
/// Reference: Vaswani et al. 2017, section 3.2.1; torch.nn.functional.scaled_dot_product_attention.
template <typename Scalar>
void scaled_dot_product_attention(const Eigen::Ref<const Matrix<Scalar>>& q, const Eigen::Ref<const Matrix<Scalar>>& k,
                                  const Eigen::Ref<const Matrix<Scalar>>& v, const AttentionDims& dims,
                                  const AttentionMask<Scalar>& mask, Matrix<Scalar>& out,
                                  AttentionCache<Scalar>* cache = nullptr, const ForwardContext& context = {},
                                  const AttentionOptions<Scalar>& options = {}) {
  constexpr std::string_view where = "elm::nn::scaled_dot_product_attention";
  const Index D = detail::check_attention_inputs<Scalar>(where, q, k, v, dims, mask);
  ELM_EXPECT(options.dropout >= Scalar(0) && options.dropout < Scalar(1), InvalidArgument, where,
             ": dropout = ", options.dropout, ", expected 0 <= dropout < 1");
  const Index H = dims.heads, B = dims.batch, Tq = dims.q_len, Tk = dims.k_len;
  const Index Dv = v.rows() / H;
  const Scalar scale = options.scale != Scalar(0) ? options.scale : Scalar(1) / std::sqrt(Scalar(D));
  const bool use_dropout = context.training && options.dropout > Scalar(0);
  Rng* const rng = use_dropout ? &context.require_rng(where) : nullptr;

  // Dropout masks are drawn up front, in a fixed order, so results do not depend on thread count. The masks
  // and weights are written straight into the cache when there is one, reusing its memory from the previous
  // call (a fresh buffer moved in freed the old one, which was faulted in again on the next call).
  Matrix<Scalar> local_keep, local_weights;
  Matrix<Scalar>& keep = cache != nullptr ? cache->keep : local_keep;
  if (!use_dropout) keep.resize(0, 0);
  if (use_dropout) {
    keep.resize(Tk, B * H * Tq);
    const Scalar survive = Scalar(1) / (Scalar(1) - options.dropout);
    for (Index c = 0; c < keep.cols(); ++c)
      for (Index r = 0; r < keep.rows(); ++r)
        keep(r, c) = rng->uniform() < double(options.dropout) ? Scalar(0) : survive;
  }
  Matrix<Scalar>& weights = cache != nullptr ? cache->weights : local_weights;
  const bool keep_weights = cache != nullptr;
  if (keep_weights) weights.resize(Tk, B * H * Tq);
  out.resize(H * Dv, B * Tq);
  const bool in_place = Tk * Tq <= detail::plain_in_place_max_scores;

  elm::detail::parallel_for(0, B * H, [&](Index bh) {
    const Index b = bh / H, h = bh % H;
    const detail::SequenceMask<Scalar> sm = detail::sequence_mask(mask, dims, b, h);
    // 1) scores: (T_k, T_q) = scale * K^T Q, with K^T copied once, scaled (a column-major left operand)
    const Matrix<Scalar> k_t = scale * k.block(h * D, b * Tk, D, Tk).transpose();
    Matrix<Scalar> s(Tk, Tq);
    detail::head_product(k_t, q.block(h * D, b * Tq, D, Tq), s, in_place);
    // 2) masks, 3) softmax over keys
    sm.apply(s, 0, 0);
    detail::softmax_columns_in_place(s);
    if (keep_weights) weights.middleCols(bh * Tq, Tq) = s;
    // 4) dropout on the weights, 5) weighted sum of values
    if (use_dropout) s.array() *= keep.middleCols(bh * Tq, Tq).array();
    detail::head_product(v.block(h * Dv, b * Tk, Dv, Tk), s, out.block(h * Dv, b * Tq, Dv, Tq), in_place);
  });
  if (cache != nullptr) {
    cache->dims = dims;
    cache->scale = scale;
  }
}

/// Backward of scaled_dot_product_attention, given the same q, k, v and the cache its forward filled.
/// dout: (H * D_v, B * T_q) -> dq, dk, dv (overwritten), shaped like q, k, v.
/// dS = P o (dP - sum_j P dP) per query column; dQ = scale K dS, dK = scale Q dS^T, dV = dO P^T.
template <typename Scalar>
void scaled_dot_product_attention_backward(const Eigen::Ref<const Matrix<Scalar>>& q,
                                           const Eigen::Ref<const Matrix<Scalar>>& k,
                                           const Eigen::Ref<const Matrix<Scalar>>& v,
                                           const AttentionCache<Scalar>& cache,
                                           const Eigen::Ref<const Matrix<Scalar>>& dout, Matrix<Scalar>& dq,
                                           Matrix<Scalar>& dk, Matrix<Scalar>& dv) {
  constexpr std::string_view where = "elm::nn::scaled_dot_product_attention_backward";
  const AttentionDims& dims = cache.dims;
  const Index D = detail::check_attention_inputs<Scalar>(where, q, k, v, dims, AttentionMask<Scalar>{});
  const Index H = dims.heads, B = dims.batch, Tq = dims.q_len, Tk = dims.k_len;
  const Index Dv = v.rows() / H;
  check_shape(cache.weights, Tk, B * H * Tq, where, "cache.weights");
  check_shape(dout, H * Dv, B * Tq, where, "dout");
  const bool use_dropout = cache.keep.size() != 0;
  const Scalar scale = cache.scale;
  dq.resize(q.rows(), q.cols());
  dk.resize(k.rows(), k.cols());
  dv.resize(v.rows(), v.cols());
  const bool in_place = Tk * Tq <= detail::plain_in_place_max_scores;

  elm::detail::parallel_for(0, B * H, [&](Index bh) {
    const Index b = bh / H, h = bh % H;
    const Eigen::Ref<const Matrix<Scalar>> p = cache.weights.middleCols(bh * Tq, Tq);
    const auto d_o = dout.block(h * Dv, b * Tq, Dv, Tq);
    // 1) through O = V P_d: dV = dO P_d^T, dP_d = V^T dO (V^T copied, a column-major left operand)
    Matrix<Scalar> pd = p;
    if (use_dropout) pd.array() *= cache.keep.middleCols(bh * Tq, Tq).array();
    detail::head_product(d_o, pd.transpose(), dv.block(h * Dv, b * Tk, Dv, Tk), in_place);
    const Matrix<Scalar> v_t = v.block(h * Dv, b * Tk, Dv, Tk).transpose();
    Matrix<Scalar> dp(Tk, Tq);
    detail::head_product(v_t, d_o, dp, in_place);
    if (use_dropout) dp.array() *= cache.keep.middleCols(bh * Tq, Tq).array();
    // 2) through the softmax of each column
    const RowVector<Scalar> dot = (p.array() * dp.array()).colwise().sum().matrix();
    Matrix<Scalar> ds = (p.array() * (dp.array().rowwise() - dot.array())).matrix();
    // 3) through the scaled scores
    ds *= scale;
    detail::head_product(k.block(h * D, b * Tk, D, Tk), ds, dq.block(h * D, b * Tq, D, Tq), in_place);
    detail::head_product(q.block(h * D, b * Tq, D, Tq), ds.transpose(), dk.block(h * D, b * Tk, D, Tk), in_place);
  });
}

/// Mean of the weights over heads: (T_k, B * H * T_q) -> (T_k, B * T_q), the bytes of PyTorch's (B, L, S)
/// need_weights result with average_attn_weights=True.
template <typename Scalar>
Matrix<Scalar> average_heads(const Eigen::Ref<const Matrix<Scalar>>& weights, const AttentionDims& dims) {
  check_shape(weights, dims.k_len, dims.batch * dims.heads * dims.q_len, "elm::nn::average_heads", "weights");
  Matrix<Scalar> mean = Matrix<Scalar>::Zero(dims.k_len, dims.batch * dims.q_len);
  for (Index b = 0; b < dims.batch; ++b)
    for (Index h = 0; h < dims.heads; ++h)
      mean.middleCols(b * dims.q_len, dims.q_len) += weights.middleCols((b * dims.heads + h) * dims.q_len, dims.q_len);
  mean /= Scalar(dims.heads);
  return mean;
}

}  // namespace elm::nn
