// SPDX-License-Identifier: MIT
// InferenceWeight: a dense layer's weight kept for inference in a storage of its own (bf16, int8), which the
// layer's forward multiplies by instead of its float32 value. The interface only: the storage and its kernels are
// in elm/nn/quantized_weights.hpp, which only the programs that quantize include.
#pragma once

#include <memory>
#include <type_traits>

#include <Eigen/Core>

#include "elm/core/types.hpp"

namespace elm::nn::detail {

/// A weight A (out, in), as a dense layer applies it (y = A x + b), in a storage other than the float32
/// Parameter::value it was made from. Immutable once made: shared between copies of a model.
class InferenceWeight {
 public:
  virtual ~InferenceWeight() = default;
  /// Rows (out) and columns (in) of A.
  virtual Index rows() const = 0;
  virtual Index cols() const = 0;
  /// y = A[r0 : r0 + count, :] x, plus bias (count floats) in every column when given.  x: (in, N) ->
  /// y: (count, N), resized; y must not alias x.
  virtual void multiply(const Eigen::Ref<const Matrix<float>>& x, Index r0, Index count, Matrix<float>& y,
                        const float* bias) const = 0;
};

/// The storage a Parameter may carry for inference (Parameter::inference); empty: the float32 value.
using InferenceWeightPtr = std::shared_ptr<const InferenceWeight>;

/// y = A[r0 : r0 + count, :] x (+ bias) through w and true when w is set and Scalar is float; false (y untouched)
/// otherwise, for the caller's float product.
template <typename Scalar>
bool inference_product(const InferenceWeightPtr& w, const Eigen::Ref<const Matrix<Scalar>>& x, Index r0, Index count,
                       Matrix<Scalar>& y, const Scalar* bias) {
  if constexpr (std::is_same_v<Scalar, float>) {
    if (w) {
      w->multiply(x, r0, count, y, bias);
      return true;
    }
  }
  (void)w, (void)x, (void)r0, (void)count, (void)y, (void)bias;
  return false;
}

}  // namespace elm::nn::detail
