// SPDX-License-Identifier: MIT
// y = A x + b for x of a few columns (decoding one token, or a few sequences in step): the matrix read in place,
// once, in sequential streams, its rows shared among the OpenMP threads, in the AVX2 or AVX-512 kernel chosen at
// run time with the product kernel (elm/nn/product_kernel.hpp). Eigen's matrix-vector product runs on one
// thread in the program's own instruction set (SSE2 in a plain build); this is what a GPT-2 decode spends its
// time in.
#pragma once

#include <algorithm>
#include <type_traits>

#include <Eigen/Core>

#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/simd.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn::detail {

/// Multiply-adds (rows times depth) of a matrix-vector product below which it stays on one thread: an OpenMP fork
/// and join costs a few microseconds, about as long as streaming a matrix of 256 K floats from memory takes.
inline constexpr Index matrix_vector_parallel_work = Index(1) << 18;

/// y = a x, plus bias (out scalars) in every column when given, through the matrix-vector kernel, and true; or
/// false (y untouched) when the kernel does not serve the case: Scalar is not float, the kernel in force is not
/// avx2 or avx512 (generic, reference, a BLAS build), x has more than max_columns columns, or a's elements are
/// not contiguous along one of its dimensions. a: (out, in), a column-major matrix in memory (GPT-2's Conv1D
/// weights) or the transpose of one (a PyTorch Linear's weight, a tied head's token table); x: (in, N) ->
/// y: (out, N), resized; y must not alias x. The rows of y are split among the OpenMP threads in whole blocks
/// of packets, each computed alike whatever the thread count: results do not depend on it.
template <typename Scalar, typename A>
bool matrix_vector_product(const Eigen::MatrixBase<A>& a, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y,
                           const Scalar* bias) {
#if ELM_X86_KERNELS
  if constexpr (std::is_same_v<Scalar, float> && bool(Eigen::internal::traits<A>::Flags & Eigen::DirectAccessBit)) {
    const ProductKernel kernel = product_kernel();
    constexpr Index max_columns = avx2::vector::MatrixVectorKernels::max_columns;
    const A& m = a.derived();
    if (products_use_blas || (kernel != ProductKernel::avx2 && kernel != ProductKernel::avx512) ||
        x.cols() > max_columns || x.cols() == 0 || m.innerStride() != 1 || m.rows() == 0)
      return false;
    const Index out = m.rows(), depth = m.cols(), n = x.cols();
    y.resize(out, n);
    const bool transposed = bool(A::IsRowMajor);  // rows of a contiguous: dot products
    const Index threads = out * depth >= matrix_vector_parallel_work ? elm::detail::max_threads() : 1;
    const Index unit = 64;  // whole cache lines of y (and of a's columns) per thread
    const Index chunk = std::max(unit, ((out + threads - 1) / threads + unit - 1) / unit * unit);
    const auto run = [&](auto kernels) {
      using Kernels = decltype(kernels);
      elm::detail::parallel_chunks(out, chunk, [&](Index, Index r0, Index r1) {
        if (transposed)
          Kernels::transposed_rows(m.data(), m.outerStride(), depth, x.data(), x.outerStride(), y.data(),
                                   y.outerStride(), n, r0, r1, bias);
        else
          Kernels::column_major_rows(m.data(), m.outerStride(), depth, x.data(), x.outerStride(), y.data(),
                                     y.outerStride(), n, r0, r1, bias);
      });
    };
    if (kernel == ProductKernel::avx512)
      run(avx512::vector::MatrixVectorKernels{});
    else
      run(avx2::vector::MatrixVectorKernels{});
    return true;
  }
#endif
  (void)a, (void)x, (void)y, (void)bias;
  return false;
}

}  // namespace elm::nn::detail
