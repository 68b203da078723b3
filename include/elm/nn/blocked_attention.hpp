// SPDX-License-Identifier: MIT
// Blocked scaled dot-product attention with an online softmax: memory linear in the sequence length,
// the same results as the plain path up to float rounding (FlashAttention's algorithm, on the CPU).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/detail/packed_lhs.hpp"

namespace elm::nn {

/// Tile sizes of the blocked path. Each (B, H) pair needs one key_block x query_block score tile.
template <typename Scalar>
struct BlockedAttentionOptions {
  Index query_block = 128;
  Index key_block = 256;
  /// Score scale; 0 means 1 / sqrt(D).
  Scalar scale = Scalar(0);
};

/// What backward needs: the log-sum-exp of each query's scores (index (b * H + h) * T_q + i), so that the
/// weights can be recomputed tile by tile instead of stored (B * H * T_q numbers instead of B * H * T_q * T_k).
template <typename Scalar>
struct BlockedAttentionCache {
  Vector<Scalar> lse;
  AttentionDims dims;
  Scalar scale = Scalar(0);
  Index query_block = 0;
  Index key_block = 0;
};

namespace detail {
template <typename Scalar>
void check_blocks(std::string_view where, const BlockedAttentionOptions<Scalar>& options) {
  ELM_EXPECT(options.query_block > 0 && options.key_block > 0, InvalidArgument, where,
             ": expected positive tile sizes, got query_block = ", options.query_block,
             ", key_block = ", options.key_block);
}
}  // namespace detail

/// Scaled dot-product attention computed tile by tile with a running maximum and sum per query
/// (online softmax), never holding a (T_k, T_q) matrix: extra memory O(B * H * T_q + tiles).
/// Same inputs, masks and output as scaled_dot_product_attention (no dropout, no weights returned).
/// q: (H * D, B * T_q), k: (H * D, B * T_k), v: (H * D_v, B * T_k) -> out: (H * D_v, B * T_q).
/// Tiles hidden entirely by the causal mask or by key_lengths are skipped; every other mask (per score, per key, per
/// sequence and head) is applied tile by tile, here and in the backward.
/// Reference: Dao et al. 2022, FlashAttention, algorithm 1; Milakov and Gimelshein 2018 (online softmax).
template <typename Scalar>
void blocked_attention(const Eigen::Ref<const Matrix<Scalar>>& q, const Eigen::Ref<const Matrix<Scalar>>& k,
                       const Eigen::Ref<const Matrix<Scalar>>& v, const AttentionDims& dims,
                       const AttentionMask<Scalar>& mask, Matrix<Scalar>& out,
                       BlockedAttentionCache<Scalar>* cache = nullptr,
                       const BlockedAttentionOptions<Scalar>& options = {}) {
  constexpr std::string_view where = "elm::nn::blocked_attention";
  const Index D = detail::check_attention_inputs<Scalar>(where, q, k, v, dims, mask);
  detail::check_blocks(where, options);
  const Index H = dims.heads, B = dims.batch, Tq = dims.q_len, Tk = dims.k_len;
  const Index Dv = v.rows() / H;
  const Scalar scale = options.scale != Scalar(0) ? options.scale : Scalar(1) / std::sqrt(Scalar(D));
  constexpr Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
  constexpr Scalar nan = std::numeric_limits<Scalar>::quiet_NaN();
  out.resize(H * Dv, B * Tq);
  Vector<Scalar> lse(B * H * Tq);

  elm::detail::parallel_for(0, B * H, [&](Index bh) {
    const Index b = bh / H, h = bh % H;
    const detail::SequenceMask<Scalar> sm = detail::sequence_mask(mask, dims, b, h);
    // scale K^T of this head, keys as rows: the left operand of every score tile, read in place by
    // block_product (a copy of T_k x D per head, against the packing of both operands in every tile product)
    const Matrix<Scalar> k_t = scale * k.block(h * D, b * Tk, D, Tk).transpose();
    Matrix<Scalar> s(options.key_block, options.query_block);
    Matrix<Scalar> acc(Dv, options.query_block);
    Vector<Scalar> run_max(options.query_block), run_sum(options.query_block);
    for (Index i0 = 0; i0 < Tq; i0 += options.query_block) {
      const Index nq = std::min(options.query_block, Tq - i0);
      run_max.head(nq).setConstant(neg_inf);
      run_sum.head(nq).setZero();
      acc.leftCols(nq).setZero();
      for (Index j0 = 0; j0 < Tk; j0 += options.key_block) {
        if (sm.tile_hidden(j0, i0, nq)) continue;
        const Index nk = std::min(options.key_block, Tk - j0);
        Eigen::Block<Matrix<Scalar>> tile = s.topLeftCorner(nk, nq);
        // 1) scores of this tile, masked
        detail::block_product<false>(k_t.middleRows(j0, nk), q.block(h * D, b * Tq + i0, D, nq), tile);
        sm.apply(tile, j0, i0);
        // 2) rescale what was accumulated to the new running maximum, add this tile's exponentials
        for (Index c = 0; c < nq; ++c) {
          const Scalar new_max = std::max(run_max(c), tile.col(c).maxCoeff());
          if (new_max == neg_inf) {  // nothing visible yet for this query
            tile.col(c).setZero();
            continue;
          }
          const Scalar alpha = std::exp(run_max(c) - new_max);  // 0 when run_max was -inf
          detail::masked_exp_in_place(tile.col(c), new_max);
          run_sum(c) = run_sum(c) * alpha + tile.col(c).sum();
          run_max(c) = new_max;
          acc.col(c) *= alpha;
        }
        // 3) accumulate the unnormalised weighted values
        detail::block_product<true>(v.block(h * Dv, b * Tk + j0, Dv, nk), tile, acc.leftCols(nq));
      }
      // 4) normalise; a query with no visible key gets NaN, as on the plain path
      for (Index c = 0; c < nq; ++c) {
        if (run_sum(c) > Scalar(0)) {
          out.col(b * Tq + i0 + c).segment(h * Dv, Dv) = acc.col(c) / run_sum(c);
          lse(bh * Tq + i0 + c) = run_max(c) + std::log(run_sum(c));
        } else {
          out.col(b * Tq + i0 + c).segment(h * Dv, Dv).setConstant(nan);
          lse(bh * Tq + i0 + c) = neg_inf;
        }
      }
    }
  });
  if (cache != nullptr) {
    cache->lse = std::move(lse);
    cache->dims = dims;
    cache->scale = scale;
    cache->query_block = options.query_block;
    cache->key_block = options.key_block;
  }
}

/// Backward of blocked_attention: recomputes each tile's weights from the stored log-sum-exp.
/// out is the forward's output; dout: (H * D_v, B * T_q) -> dq, dk, dv (overwritten).
/// P = exp(S - lse); dV += dO P^T; dP = V^T dO; dS = P o (dP - rowsum(dO o O)); dQ += scale K dS; dK += scale Q dS^T.
/// Reference: Dao 2023, FlashAttention-2, algorithm 2.
template <typename Scalar>
void blocked_attention_backward(const Eigen::Ref<const Matrix<Scalar>>& q, const Eigen::Ref<const Matrix<Scalar>>& k,
                                const Eigen::Ref<const Matrix<Scalar>>& v, const AttentionMask<Scalar>& mask,
                                const Eigen::Ref<const Matrix<Scalar>>& out, const BlockedAttentionCache<Scalar>& cache,
                                const Eigen::Ref<const Matrix<Scalar>>& dout, Matrix<Scalar>& dq, Matrix<Scalar>& dk,
                                Matrix<Scalar>& dv) {
  constexpr std::string_view where = "elm::nn::blocked_attention_backward";
  const AttentionDims& dims = cache.dims;
  const Index D = detail::check_attention_inputs<Scalar>(where, q, k, v, dims, mask);
  const Index H = dims.heads, B = dims.batch, Tq = dims.q_len, Tk = dims.k_len;
  const Index Dv = v.rows() / H;
  ELM_EXPECT(cache.lse.size() == B * H * Tq, ShapeError, where, ": cache.lse has ", cache.lse.size(),
             " entries, expected B * H * T_q = ", B * H * Tq);
  check_shape(out, H * Dv, B * Tq, where, "out");
  check_shape(dout, H * Dv, B * Tq, where, "dout");
  const Index qb = cache.query_block, kb = cache.key_block;
  const Scalar scale = cache.scale;
  dq.setZero(q.rows(), q.cols());
  dk.setZero(k.rows(), k.cols());
  dv.setZero(v.rows(), v.cols());

  elm::detail::parallel_for(0, B * H, [&](Index bh) {
    const Index b = bh / H, h = bh % H;
    const detail::SequenceMask<Scalar> sm = detail::sequence_mask(mask, dims, b, h);
    // 1) delta_i = sum_d dO_di O_di, the softmax correction of each query
    const RowVector<Scalar> delta =
        (dout.block(h * Dv, b * Tq, Dv, Tq).array() * out.block(h * Dv, b * Tq, Dv, Tq).array()).colwise().sum().matrix();
    // scale K^T and V^T of this head, keys as rows: the left operands of the weight and weight-gradient tiles
    const Matrix<Scalar> k_t = scale * k.block(h * D, b * Tk, D, Tk).transpose();
    const Matrix<Scalar> v_t = v.block(h * Dv, b * Tk, Dv, Tk).transpose();
    Matrix<Scalar> p(kb, qb), dp(kb, qb);
    for (Index j0 = 0; j0 < Tk; j0 += kb) {
      const Index nk = std::min(kb, Tk - j0);
      for (Index i0 = 0; i0 < Tq; i0 += qb) {
        const Index nq = std::min(qb, Tq - i0);
        if (sm.tile_hidden(j0, i0, nq)) continue;
        Eigen::Block<Matrix<Scalar>> pt = p.topLeftCorner(nk, nq);
        Eigen::Block<Matrix<Scalar>> dpt = dp.topLeftCorner(nk, nq);
        // 2) recompute the weights of the tile
        // (every product through block_product: operands read in place, a transpose read as row-major)
        const auto q_i = q.block(h * D, b * Tq + i0, D, nq);
        const auto dout_i = dout.block(h * Dv, b * Tq + i0, Dv, nq);
        detail::block_product<false>(k_t.middleRows(j0, nk), q_i, pt);
        sm.apply(pt, j0, i0);
        for (Index c = 0; c < nq; ++c) detail::masked_exp_in_place(pt.col(c), cache.lse(bh * Tq + i0 + c));
        // 3) gradients through O = V P and the softmax: dV += dO P^T, dP = V^T dO
        detail::block_product<true>(dout_i, pt.transpose(), dv.block(h * Dv, b * Tk + j0, Dv, nk));
        detail::block_product<false>(v_t.middleRows(j0, nk), dout_i, dpt);
        dpt = (pt.array() * (dpt.array().rowwise() - delta.segment(i0, nq).array())).matrix() * scale;
        // 4) through the scores: dQ += K dS, dK += Q dS^T
        detail::block_product<true>(k.block(h * D, b * Tk + j0, D, nk), dpt, dq.block(h * D, b * Tq + i0, D, nq));
        detail::block_product<true>(q_i, dpt.transpose(), dk.block(h * D, b * Tk + j0, D, nk));
      }
    }
  });
}

}  // namespace elm::nn
