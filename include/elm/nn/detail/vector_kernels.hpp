// SPDX-License-Identifier: MIT
// The element-wise kernels of the tanh GELU, LayerNorm, the LSTM cell and the softmax, and the matrix-vector
// products of decoding (matrix_vector.hpp), in float, compiled for AVX2 and AVX-512 apart from the program's
// flags and chosen at run time with the product kernel (elm/nn/product_kernel.hpp): a plain build then runs them
// as wide as the CPU allows. Everything else (double, the program's own instruction set,
// the reference path) stays on Eigen's expressions.
#pragma once

#include <cmath>
#include <type_traits>

#include <Eigen/Core>

#include "elm/core/types.hpp"
#include "elm/nn/detail/simd.hpp"
#include "elm/nn/product_kernel.hpp"

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AVX2
namespace elm::nn::detail::avx2 {
namespace vector {
template <typename Scalar>
using Simd = SimdAvx2<Scalar>;
#include "elm/nn/detail/vector_kernel.inl"
#include "elm/nn/detail/matrix_vector_kernel.inl"
}  // namespace vector
}  // namespace elm::nn::detail::avx2
ELM_END_TARGET

ELM_BEGIN_TARGET_AVX512
namespace elm::nn::detail::avx512 {
namespace vector {
template <typename Scalar>
using Simd = SimdAvx512<Scalar>;
#include "elm/nn/detail/vector_kernel.inl"
#include "elm/nn/detail/matrix_vector_kernel.inl"
}  // namespace vector
}  // namespace elm::nn::detail::avx512
ELM_END_TARGET
#endif

namespace elm::nn::detail {

/// Calls f(kernels) with the element-wise kernels in force (an empty VectorKernels object of the instruction
/// set's namespace, whose static members are the kernels) and returns true; returns false (nothing called)
/// when Scalar is not float or the kernel in force has none of its own (generic, reference): the caller then
/// evaluates its Eigen expression.
template <typename Scalar, typename F>
bool with_vector_kernels(F&& f) {
#if ELM_X86_KERNELS
  if constexpr (std::is_same_v<Scalar, float>) {
    switch (product_kernel()) {
      case ProductKernel::avx512: f(avx512::vector::VectorKernels{}); return true;
      case ProductKernel::avx2: f(avx2::vector::VectorKernels{}); return true;
      default: return false;
    }
  }
#endif
  (void)f;
  return false;
}

}  // namespace elm::nn::detail
