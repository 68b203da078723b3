// SPDX-License-Identifier: MIT
// The three products of a dense layer whose weight W is stored (in, out) (PyTorch's (out, in) bytes):
// y = W^T x, dW += x dy^T and dx (+)= W dy, through PackedLhs when the layer is large enough.
#pragma once

#include "elm/core/math.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/packed_lhs.hpp"

namespace elm::nn::detail {

/// Whether a dense layer in -> out over n columns uses PackedLhs: faster than Eigen's general product for
/// GPT-sized layers (its 3 x 8 register tile against Eigen's 3 x 4), but it pads the packed side to whole
/// panels (wasteful below a few panels of features) and packs an operand per call (wasteful for a few
/// columns, e.g. one token at a time).
template <typename Scalar>
bool dense_uses_packed_products(Index in, Index out, Index n) {
  constexpr Index min_features = 4 * PackedLhs<Scalar>::panel_rows;
  return n >= 64 && in >= min_features && out >= min_features;
}

/// y = W^T x, plus bias (out scalars) in every column when given.  w: (in, out), x: (in, N) -> y: (out, N),
/// overwritten.
template <typename Scalar>
void dense_forward(const Eigen::Ref<const Matrix<Scalar>>& w, const Eigen::Ref<const Matrix<Scalar>>& x,
                   Matrix<Scalar>& y, const Scalar* bias = nullptr) {
  if (dense_uses_packed_products<Scalar>(w.rows(), w.cols(), x.cols())) {
    // W^T packed panel by panel and x read in place: 0.5-1 % faster at GPT-2's MLP than y^T = x^T W with x^T
    // packed (once both were packed per product), and as many panels as output features whatever the number
    // of tokens, for the threads to share; the bias is added as y is written
    PackedLhs<Scalar>& wt = thread_packed_lhs<Scalar>();
    wt.pack_per_product(w.transpose());
    wt.multiply(x, y, bias);
    return;
  }
  y.resize(w.cols(), x.cols());
  y.noalias() = w.transpose() * x;
  if (bias) {  // over column chunks on OpenMP threads: (out, N) is 12 MB for GPT-2's MLP at N = 1024
    const Eigen::Map<const Vector<Scalar>> b(bias, y.rows());
    elm::detail::parallel_chunks(y.cols(), elm::detail::column_chunk(y.rows()), [&](Index, Index c0, Index c1) {
      y.middleCols(c0, c1 - c0).colwise() += b;
    });
  }
}

/// grad += x dy^T, and bias_grad += the row sums of dy when given (out scalars).  x: (in, N), dy: (out, N),
/// grad: (in, out), a matrix or a block of whole columns.
template <typename Scalar>
void dense_add_weight_grad(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy,
                           Eigen::Ref<Matrix<Scalar>> grad, Scalar* bias_grad = nullptr) {
  if (dense_uses_packed_products<Scalar>(x.rows(), dy.rows(), x.cols())) {
    // dW^T = dy x^T: dy (out, N) is the packed side, read column by column, and x^T the small right side
    // (packing dy^T as the right side read 8-row strips of dy, 3 ms of the 24 ms product at GPT-2's MLP); the
    // bias gradient is summed from dy's packed panels
    PackedLhs<Scalar>& packed_dy = thread_packed_lhs<Scalar>();
    packed_dy.pack_per_product(dy, bias_grad);
    packed_dy.multiply_add_transposed(x.transpose(), grad);
    return;
  }
  grad.noalias() += x * dy.transpose();
  if (bias_grad) Eigen::Map<Vector<Scalar>>(bias_grad, dy.rows()) += elm::row_sums(dy);
}

/// dx = W dy, or dx += W dy when accumulate (dx then already (in, N)).  w: (in, out), dy: (out, N).
template <typename Scalar>
void dense_input_grad(const Eigen::Ref<const Matrix<Scalar>>& w, const Eigen::Ref<const Matrix<Scalar>>& dy,
                      Matrix<Scalar>& dx, bool accumulate = false) {
  if (dense_uses_packed_products<Scalar>(w.rows(), w.cols(), dy.cols())) {
    PackedLhs<Scalar>& packed_w = thread_packed_lhs<Scalar>();
    packed_w.pack_per_product(w);
    if (accumulate)
      packed_w.multiply_add(dy, dx);
    else
      packed_w.multiply(dy, dx);
  } else if (accumulate) {
    dx.noalias() += w * dy;
  } else {
    dx.resize(w.rows(), dy.cols());
    dx.noalias() = w * dy;
  }
}

}  // namespace elm::nn::detail
