// SPDX-License-Identifier: MIT
// Numerically stable log-sum-exp, softmax and log-softmax over the columns of a matrix; row sums.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"

namespace elm {

/// The sum of each row of m: a bias gradient, summed over tokens. Column by column, vectorised down the rows;
/// Eigen's rowwise().sum() on a column-major matrix was several times slower (docs/benchmarks.md, "Design
/// measurements"). Large matrices split their rows over OpenMP threads; each row is still summed in column
/// order, so the result does not depend on the thread count.
template <typename Derived>
Vector<typename Derived::Scalar> row_sums(const Eigen::MatrixBase<Derived>& m) {
  Vector<typename Derived::Scalar> sums = Vector<typename Derived::Scalar>::Zero(m.rows());
  const Index rows_per_chunk = m.cols() * m.rows() >= 4 * detail::parallel_grain ? 256 : m.rows();
  detail::parallel_chunks(m.rows(), std::max<Index>(1, rows_per_chunk), [&](Index, Index r0, Index r1) {
    auto part = sums.segment(r0, r1 - r0);
    for (Index j = 0; j < m.cols(); ++j) part += m.col(j).segment(r0, r1 - r0);
  });
  return sums;
}

/// log(sum_i exp(x_i)), stable: the maximum is subtracted first. Returns -inf for an empty or all -inf input.
template <typename Derived>
typename Derived::Scalar log_sum_exp(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  if (x.size() == 0) return -std::numeric_limits<Scalar>::infinity();
  const Scalar m = x.maxCoeff();
  if (!std::isfinite(m)) return m;
  return m + std::log((x.derived().array() - m).exp().sum());
}

/// Softmax of each column: y_ij = exp(x_ij - max_j) / sum_i exp(x_ij - max_j).  x: (V, T) -> y: (V, T).
template <typename Scalar>
void softmax_columns(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) {
  y.resize(x.rows(), x.cols());
  for (Index t = 0; t < x.cols(); ++t) {
    const Scalar m = x.col(t).maxCoeff();
    y.col(t) = (x.col(t).array() - m).exp().matrix();
    y.col(t) /= y.col(t).sum();
  }
}

/// Log-softmax of each column: y_ij = (x_ij - m_j) - log sum_i exp(x_ij - m_j), m_j = max_i x_ij.  x: (V, T) -> y: (V, T).
template <typename Scalar>
void log_softmax_columns(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) {
  y.resize(x.rows(), x.cols());
  // (x - max) - log(sum exp(x - max)), not x - log_sum_exp(x): subtracting the large max first keeps the
  // float result exact when the logits are big (x - (1000 + log 2) loses 5 bits in float).
  for (Index t = 0; t < x.cols(); ++t) {
    const Scalar m = x.col(t).maxCoeff();
    const auto shifted = (x.col(t).array() - m).eval();
    y.col(t) = (shifted - std::log(shifted.exp().sum())).matrix();
  }
}

}  // namespace elm
