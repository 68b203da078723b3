// SPDX-License-Identifier: MIT
// The three products of a dense layer y = A x + b, with A stored either way round (PyTorch's Linear keeps
// A^T's bytes in a column-major (in, out) matrix; GPT-2's Conv1D keeps A's in an (out, in) one): y = A x,
// the weight gradient and dx (+)= A^T dy, through elm's packed kernel when it serves the shape, else Eigen.
#pragma once

#include <type_traits>

#include "elm/core/math.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/matrix_vector.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn::detail {

/// Whether a dense layer in -> out over n columns goes through the packed kernel (the fast path's answer to
/// "can you serve this shape?"). It does not when:
/// - the reference path is in force (product_kernel() == reference);
/// - the build routes products to a BLAS (ELM_USE_BLAS, which defines EIGEN_USE_BLAS): Eigen's product then
///   calls the BLAS, which is what the user asked for;
/// - the shape is small: the kernel pads the packed side to whole panels and packs an operand per call. Against
///   Eigen compiled for the same instructions (-march=native) that costs more than it gains below 128 x 128
///   features or 64 columns (Eigen 1.2x faster at 96 x 96 over 128 columns; the kernel 1.02x at 128 x 128 over 64,
///   1.3x at 128 x 512 over 736); against Eigen in narrower ones (a plain build's SSE2) the kernel wins from 32
///   features and 16 columns up (1.5x at 128 x 128 over 16 columns, 2.8x at 128 x 128 over 736). Forward and both
///   backward products of one layer, AVX-512 host: docs/benchmarks.md, "Dense products at small widths".
template <typename Scalar>
bool dense_uses_packed_products(Index in, Index out, Index n) {
  if (!has_packed_kernel<Scalar> || products_use_blas) return false;
  const ProductKernel kernel = product_kernel();
  if (kernel == ProductKernel::reference) return false;
  if (product_kernel_wider_than_build(kernel)) return n >= 16 && in >= 32 && out >= 32;
  return n >= 64 && in >= 64 && out >= 64 && in * out >= 128 * 128;
}

/// y = a x, plus bias (out scalars) in every column when given.  a: (out, in), a matrix in memory or the
/// transpose of one (w.transpose() for a weight stored (in, out)); x: (in, N) -> y: (out, N), overwritten.
/// scratch: the caller's buffers for the packed kernel.
template <typename Scalar, typename A>
void dense_forward(const Eigen::MatrixBase<A>& a, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y,
                   const Scalar* bias, PackedLhs<Scalar>& scratch) {
  if (dense_uses_packed_products<Scalar>(a.cols(), a.rows(), x.cols())) {
    // a packed panel by panel and x read in place (as many panels as output features whatever the number of
    // tokens, for the threads to share); the bias is added as y is written
    scratch.multiply_streamed(a, x, y, bias);
    return;
  }
  // a few columns (decoding): the matrix streamed once, on every thread
  if (matrix_vector_product<Scalar>(a, x, y, bias)) return;
  y.resize(a.rows(), x.cols());
  y.noalias() = a * x;
  if (bias) {  // over column chunks on OpenMP threads: (out, N) is 12 MB for GPT-2's MLP at N = 1024
    const Eigen::Map<const Vector<Scalar>> b(bias, y.rows());
    elm::detail::parallel_chunks(y.cols(), elm::detail::column_chunk(y.rows()), [&](Index, Index c0, Index c1) {
      y.middleCols(c0, c1 - c0).colwise() += b;
    });
  }
}

/// The weight gradient of y = A x: grad += x dy^T when A is stored transposed (grad: (in, out), PyTorch's
/// Linear), else grad += dy x^T (grad: (out, in), GPT-2's Conv1D); bias_grad += the row sums of dy when given
/// (out scalars).  x: (in, N), dy: (out, N); grad a matrix or a block of one.
template <typename Scalar>
void dense_add_weight_grad(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy,
                           Eigen::Ref<Matrix<Scalar>> grad, bool grad_transposed, Scalar* bias_grad,
                           PackedLhs<Scalar>& scratch) {
  if (dense_uses_packed_products<Scalar>(x.rows(), dy.rows(), x.cols())) {
    // dy (out, N) is the packed side, read column by column, and x^T the small right side (packing dy^T as the
    // right side would read 8-row strips of dy); the bias gradient is summed from dy's packed panels
    if (grad_transposed)
      scratch.multiply_add_transposed_streamed(dy, x.transpose(), grad, bias_grad);
    else
      scratch.multiply_add_streamed(dy, x.transpose(), grad, bias_grad);
    return;
  }
  if (grad_transposed)
    grad.noalias() += x * dy.transpose();
  else
    grad.noalias() += dy * x.transpose();
  if (bias_grad) Eigen::Map<Vector<Scalar>>(bias_grad, dy.rows()) += elm::row_sums(dy);
}

/// dx = a^T dy, or dx += a^T dy when accumulate (dx then already (in, N)).  a: (out, in) as in dense_forward,
/// dy: (out, N).
template <typename Scalar, typename A>
void dense_input_grad(const Eigen::MatrixBase<A>& a, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                      bool accumulate, PackedLhs<Scalar>& scratch) {
  if (dense_uses_packed_products<Scalar>(a.cols(), a.rows(), dy.cols())) {
    if (accumulate)
      scratch.multiply_add_streamed(a.transpose(), dy, dx);
    else
      scratch.multiply_streamed(a.transpose(), dy, dx);
  } else if (accumulate) {
    dx.noalias() += a.transpose() * dy;
  } else {
    dx.resize(a.cols(), dy.cols());
    dx.noalias() = a.transpose() * dy;
  }
}

}  // namespace elm::nn::detail
