// SPDX-License-Identifier: MIT
// The recurrent layers' driver: one layer of any cell type over the time-major steps of sequences of unequal
// lengths, forward and backward through time, and what a cell type's step functions are handed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn::detail {

/// What backward needs from one layer over T steps of B sequences: one column per (t, b), time-major (column
/// t B + b), zero at padding.
template <typename Scalar>
struct RecurrentLayerCache {
  Matrix<Scalar> x;       ///< (I_k, B T) the layer's input
  Matrix<Scalar> gates;   ///< (G H, B T) what each step_forward left in its gates (the activated gates)
  Matrix<Scalar> h_prev;  ///< (H, B T) state entering the step
  Matrix<Scalar> c_prev;  ///< (H, B T) cell state entering the step (0 rows for a cell without one)
  Matrix<Scalar> c;       ///< (H, B T) cell state after the step (0 rows for a cell without one)
  Matrix<Scalar> saved;   ///< (saved_rows H, B T) what else the cell keeps for its step_backward
};

/// One step of B sequences as the driver hands it to a cell's step_forward; every view is that step's B columns.
template <typename Scalar>
struct RecurrentStepForward {
  PackedLhs<Scalar>& w_hh;           ///< W_hh (G H, H), packed once for all steps: w_hh.multiply(h, out) = W_hh h
  Eigen::Ref<Matrix<Scalar>> gates;  ///< (G H, B) in: W_ih x_t + b_ih (+ b_hh unless recurrent_apart);
                                     ///< out: what step_backward reads (the activated gates)
  const Matrix<Scalar>& h;           ///< (H, B) state entering the step
  const Matrix<Scalar>& c;           ///< (H, B) cell state entering the step (0 rows without one)
  Eigen::Ref<Matrix<Scalar>> h_out;  ///< (H, B) out: the new state, which is also the step's output
  Eigen::Ref<Matrix<Scalar>> c_out;  ///< (H, B) out: the new cell state (0 rows without one)
  Eigen::Ref<Matrix<Scalar>> saved;  ///< (saved_rows H, B) out: what else step_backward needs
};

/// One step backward, as the driver hands it to a cell's step_backward. The step's inputs are what its
/// step_forward kept; the cell writes every column of the outputs (the driver then restores the columns of
/// sequences that had ended: their gradients pass through the step unchanged).
template <typename Scalar>
struct RecurrentStepBackward {
  PackedLhs<Scalar>& w_hh;  ///< W_hh packed as Eigen stores it, (H, G H): w_hh.multiply(d, out) = W_hh^T d
  Eigen::Ref<const Matrix<Scalar>> gates, h_prev, c_prev, c, saved;  ///< the step's cache columns
  const Matrix<Scalar>& dh;                ///< (H, B) gradient of the new state (output and later steps)
  const Matrix<Scalar>& dc;                ///< (H, B) gradient of the new cell state (0 rows without one)
  Eigen::Ref<Matrix<Scalar>> dgates;       ///< (G H, B) out: gradient of W_ih x_t + b_ih
  Eigen::Ref<Matrix<Scalar>> dgates_hh;    ///< (G H, B) out: gradient of W_hh h + b_hh when recurrent_apart
                                           ///< (0 rows otherwise: it is dgates)
  Matrix<Scalar>& dh_prev;                 ///< (H, B) out: gradient of the state entering the step
  Matrix<Scalar>& dc_prev;                 ///< (H, B) out: gradient of the cell state entering (0 rows without)
};

/// Backward's buffers, kept between calls (see elm::detail::Workspace) so that a training loop does not
/// allocate (and fault in) some 100 MB per step (docs/benchmarks.md, "Design measurements").
template <typename Scalar>
struct RecurrentScratch {
  Matrix<Scalar> dgx, dgh, d_out, d_in;
  PackedLhs<Scalar> w_hh, lhs;
};

/// Visits a cell's four tensors as PyTorch names them, each name followed by `suffix` (a stack's "_l0").
template <typename Cell, typename F>
void visit_cell_parameters(Cell& cell, std::string_view prefix, std::string_view suffix, F& f) {
  f(join_name(prefix, std::string("weight_ih").append(suffix)), cell.weight_ih());
  f(join_name(prefix, std::string("weight_hh").append(suffix)), cell.weight_hh());
  f(join_name(prefix, std::string("bias_ih").append(suffix)), cell.bias_ih());
  f(join_name(prefix, std::string("bias_hh").append(suffix)), cell.bias_hh());
}

/// (C, B T) batch-first -> time-major (column t B + b). With lengths, the columns at padding (t >= lengths[b])
/// become zero, so that nothing a caller leaves there (even NaN) reaches a gradient.
template <typename Scalar>
void to_time_major(const Eigen::Ref<const Matrix<Scalar>>& m, Index batch, Index steps,
                   const std::vector<Index>* lengths, Matrix<Scalar>& out) {
  out.resize(m.rows(), m.cols());
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < steps; ++t) {
      if (lengths && t >= (*lengths)[to_size(b)])
        out.col(t * batch + b).setZero();
      else
        out.col(t * batch + b) = m.col(b * steps + t);
    }
}

/// Time-major -> batch-first. out must not alias m.
template <typename Scalar>
void to_batch_first(const Matrix<Scalar>& m, Index batch, Index steps, Matrix<Scalar>& out) {
  out.resize(m.rows(), m.cols());
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < steps; ++t) out.col(b * steps + t) = m.col(t * batch + b);
}

/// How many sequences are still running at step t (zero once every one has ended).
inline Index active_sequences(const std::vector<Index>& lengths, Index t) {
  Index active = 0;
  for (Index len : lengths) active += t < len ? 1 : 0;
  return active;
}

/// One layer forward over time-major x (I_k, B T), B = lengths.size(). h, c: (H, B) state in (c: 0 rows for a
/// cell without one), updated in place and unchanged past each sequence's end. Writes time-major y (H, B T),
/// zero at padding; lc (may be null) receives what backward needs. w_ih, w_hh: workspace for the packed weights.
template <typename Cell, typename Scalar>
void recurrent_layer_forward(const Cell& cell, const Matrix<Scalar>& x, const std::vector<Index>& lengths, Index steps,
                             Matrix<Scalar>& h, Matrix<Scalar>& c, Matrix<Scalar>& y, RecurrentLayerCache<Scalar>* lc,
                             PackedLhs<Scalar>& w_ih, PackedLhs<Scalar>& w_hh) {
  const Index batch = to_index(lengths.size());
  const Index hs = cell.hidden_size();
  const Index cs = Cell::has_cell_state ? hs : 0;  // rows of the cell state
  const Index ss = Cell::saved_rows * hs;
  const Index n = batch * steps;
  // 1) input projections of every token at once: one large product instead of T small ones, with the biases
  // added in the product's own pass. Except for a cell that keeps the recurrent term apart (a GRU, whose reset
  // gate scales W_hn h + b_hn), b_hh is added here once, not at every step. The projections go straight into the
  // cache's gates, which each step then overwrites with its activated gates: no separate (G H, B T) buffer.
  const Vector<Scalar> bias = Cell::recurrent_apart ? Vector<Scalar>(cell.bias_ih().value.col(0))
                                                    : Vector<Scalar>(cell.bias_ih().value.col(0) + cell.bias_hh().value.col(0));
  Matrix<Scalar> local_gates;
  Matrix<Scalar>& gx = lc ? lc->gates : local_gates;
  w_ih.multiply_streamed(cell.weight_ih().value.transpose(), x, gx, bias.data());  // packed inside this product only
  w_hh.pack(cell.weight_hh().value.transpose());                                    // once for all steps
  // Every column of a step that runs is written below; the columns of the steps after every sequence has ended
  // are zeroed after the loop. Without a cache, the new cell state and the saved rows go to one step's buffers.
  y.resize(hs, n);
  Matrix<Scalar> c_step, saved_step;
  if (lc) {
    lc->h_prev.resize(hs, n);
    lc->c_prev.resize(cs, n);
    lc->c.resize(cs, n);
    lc->saved.resize(ss, n);
  } else {
    c_step.resize(cs, batch);
    saved_step.resize(ss, batch);
  }
  Matrix<Scalar>& c_store = lc ? lc->c : c_step;
  Matrix<Scalar>& saved_store = lc ? lc->saved : saved_step;
  auto zero_cache_columns = [&](Index first, Index count) {  // the cache holds zeros at padding
    lc->gates.middleCols(first, count).setZero();
    lc->h_prev.middleCols(first, count).setZero();
    lc->c_prev.middleCols(first, count).setZero();
    lc->c.middleCols(first, count).setZero();
    lc->saved.middleCols(first, count).setZero();
  };
  typename Cell::StepWork work;
  Index t = 0;
  for (; t < steps; ++t) {
    const Index active = active_sequences(lengths, t);
    if (active == 0) break;
    const Index c0 = t * batch, k0 = lc ? c0 : 0;
    auto y_t = y.middleCols(c0, batch);
    auto c_t = c_store.middleCols(k0, batch);
    if (lc) {
      lc->h_prev.middleCols(c0, batch) = h;
      lc->c_prev.middleCols(c0, batch) = c;
    }
    // 2) the cell's step: recurrent product, gates and new state for the whole batch (sequences that have ended
    // are restored below)
    cell.step_forward(RecurrentStepForward<Scalar>{w_hh, gx.middleCols(c0, batch), h, c, y_t, c_t,
                                                   saved_store.middleCols(k0, batch)},
                      work);
    // 3) sequences that have ended keep their state, output zeros and cache zeros
    if (active == batch) {
      h = y_t;
      c = c_t;
    } else {
      for (Index b = 0; b < batch; ++b) {
        if (t < lengths[to_size(b)]) {
          h.col(b) = y_t.col(b);
          c.col(b) = c_t.col(b);
        } else {
          y_t.col(b).setZero();
          if (lc) zero_cache_columns(c0 + b, 1);
        }
      }
    }
  }
  y.rightCols(n - t * batch).setZero();  // the steps that did not run
  if (lc) zero_cache_columns(t * batch, n - t * batch);
}

/// One layer backward. d_out: (H, B T) time-major gradient of its outputs (empty: zero); dh, dc: (H, B)
/// gradient of its final state (dc: 0 rows for a cell without one), replaced by the gradient of its initial
/// state. Writes time-major d_in (I_k, B T) and adds into the cell's parameter gradients.
template <typename Cell, typename Scalar>
void recurrent_layer_backward(Cell& cell, const RecurrentLayerCache<Scalar>& lc, const std::vector<Index>& lengths,
                              Index steps, const Matrix<Scalar>& d_out, Matrix<Scalar>& dh, Matrix<Scalar>& dc,
                              Matrix<Scalar>& d_in, RecurrentScratch<Scalar>& scratch) {
  const Index batch = to_index(lengths.size());
  const Index hs = cell.hidden_size();
  const Index gh = Cell::gate_count * hs;
  const Index n = batch * steps;
  // gradients of the pre-activations, input side, and (a cell that keeps it apart) recurrent side; every step
  // writes its columns
  Matrix<Scalar>& dgx = scratch.dgx;
  Matrix<Scalar>& dgh = scratch.dgh;
  dgx.resize(gh, n);
  dgh.resize(Cell::recurrent_apart ? gh : 0, n);
  PackedLhs<Scalar>& w_hh = scratch.w_hh;
  w_hh.pack(cell.weight_hh().value);  // packed once for all steps
  Matrix<Scalar> dh_prev(hs, batch), dc_prev(dc.rows(), batch);
  typename Cell::StepWork work;
  for (Index t = steps - 1; t >= 0; --t) {
    const Index active = active_sequences(lengths, t);
    const Index c0 = t * batch;
    if (active == 0) {  // every sequence has ended: the state passes through unchanged
      dgx.middleCols(c0, batch).setZero();
      dgh.middleCols(c0, batch).setZero();
      continue;
    }
    if (d_out.size() != 0) dh += d_out.middleCols(c0, batch);  // zero at padding (to_time_major)
    cell.step_backward(RecurrentStepBackward<Scalar>{w_hh, lc.gates.middleCols(c0, batch),
                                                     lc.h_prev.middleCols(c0, batch), lc.c_prev.middleCols(c0, batch),
                                                     lc.c.middleCols(c0, batch), lc.saved.middleCols(c0, batch), dh, dc,
                                                     dgx.middleCols(c0, batch), dgh.middleCols(c0, batch), dh_prev,
                                                     dc_prev},
                       work);
    // padding: no gate gradient, and the state's gradient passes through
    if (active != batch) {
      for (Index b = 0; b < batch; ++b) {
        if (t < lengths[to_size(b)]) continue;
        dgx.col(c0 + b).setZero();
        dgh.col(c0 + b).setZero();
        dh_prev.col(b) = dh.col(b);
        dc_prev.col(b) = dc.col(b);
      }
    }
    dh.swap(dh_prev);
    dc.swap(dc_prev);
  }
  // 4) parameter gradients of all steps in three large products. As dW^T = d(pre) x^T: the (G H, B T) gradient
  // is the packed left side, read column by column (its transpose as the right side was packed from 8-row
  // strips, a cache miss per column), and the product is added straight into the gradient, stored as dW's
  // (I, G H) transpose.
  const Matrix<Scalar>& drec = Cell::recurrent_apart ? dgh : dgx;
  PackedLhs<Scalar>& lhs = scratch.lhs;
  const bool ih_trainable = cell.weight_ih().trainable;
  if (ih_trainable) {
    lhs.pack(dgx);
    lhs.multiply_add_transposed(lc.x.transpose(), cell.weight_ih().gradient());
  }
  if (cell.weight_hh().trainable) {
    if (Cell::recurrent_apart || !ih_trainable) lhs.pack(drec);  // otherwise drec is dgx, packed above
    lhs.multiply_add_transposed(lc.h_prev.transpose(), cell.weight_hh().gradient());
  }
  const Vector<Scalar> dbias_ih = elm::row_sums(dgx);
  if (cell.bias_ih().trainable) cell.bias_ih().gradient().col(0) += dbias_ih;
  if (cell.bias_hh().trainable) cell.bias_hh().gradient().col(0) += Cell::recurrent_apart ? elm::row_sums(dgh) : dbias_ih;
  lhs.multiply_streamed(cell.weight_ih().value, dgx, d_in);
}

}  // namespace elm::nn::detail
