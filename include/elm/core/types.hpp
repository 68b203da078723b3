// SPDX-License-Identifier: MIT
// The tensor vocabulary: matrix and vector aliases, the index type, checked index conversions.
#pragma once

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "elm/core/error.hpp"

namespace elm {

/// Signed size and index type, Eigen's.
using Index = Eigen::Index;

/// Dense column-major matrix. An activation is (C, T): one column per position, so each token's
/// feature vector is contiguous, the same bytes as PyTorch's row-major (T, C).
template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Dense column vector.
template <typename Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Dense row vector.
template <typename Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

/// Views of contiguous buffers in the library's layout.
template <typename Scalar>
using MatrixMap = Eigen::Map<Matrix<Scalar>>;
template <typename Scalar>
using ConstMatrixMap = Eigen::Map<const Matrix<Scalar>>;

/// Converts an unsigned size to Index, throwing RangeError when it does not fit.
template <typename Unsigned>
Index to_index(Unsigned n) {
  static_assert(std::is_integral_v<Unsigned>, "to_index needs an integer");
  if constexpr (std::is_signed_v<Unsigned>) {
    return static_cast<Index>(n);
  } else {
    ELM_EXPECT(n <= static_cast<std::make_unsigned_t<Index>>(std::numeric_limits<Index>::max()),
               RangeError, "elm::to_index: size ", n, " does not fit in a signed index");
    return static_cast<Index>(n);
  }
}

/// Converts a non-negative Index to std::size_t, throwing RangeError when it is negative.
inline std::size_t to_size(Index n) {
  ELM_EXPECT(n >= 0, RangeError, "elm::to_size: expected a non-negative size, got ", n);
  return static_cast<std::size_t>(n);
}

}  // namespace elm
