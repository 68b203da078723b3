// SPDX-License-Identifier: MIT
// PackedLhs: the layers' matrix products through elm's packed kernel, in the instruction set chosen at run
// time (elm/nn/product_kernel.hpp), or through Eigen's products on the reference path.
//
// Why a kernel of its own: a recurrent layer multiplies the same (G H, H) weight by a small (H, B) state at every
// step, and Eigen's general product packs both operands on every call; here the weight is packed once per
// forward or backward call. A dense layer's operands are each used by one product, and are packed panel by
// panel inside it, so that the packed copy never leaves the cache. Attention's tile products read their
// operands in place (block_product). The kernel is compiled once for the program's own flags and, on x86-64,
// once each for AVX2 and AVX-512, so that a plain build runs the widest one the CPU has.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/simd.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn::detail {

/// An Eigen operand with direct access (a matrix, a block of one, a Ref, a Map, or the transpose of one of
/// these) as the kernel's strided view.
template <typename Derived>
StridedView<typename Derived::Scalar> strided_view(const Eigen::MatrixBase<Derived>& operand) {
  static_assert(bool(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit),
                "the packed kernel reads operands in memory: evaluate an expression into a matrix first");
  const Derived& m = operand.derived();
  if constexpr (bool(Derived::IsRowMajor))
    return {m.data(), m.outerStride(), m.innerStride()};
  else
    return {m.data(), m.innerStride(), m.outerStride()};
}

}  // namespace elm::nn::detail

// ---- the kernel, once per instruction set ----
namespace elm::nn::detail::generic {
template <typename Scalar>
using Simd = SimdGeneric<Scalar>;
#include "elm/nn/detail/packed_kernel.inl"
}  // namespace elm::nn::detail::generic

#if ELM_X86_KERNELS
ELM_BEGIN_TARGET_AVX2
namespace elm::nn::detail::avx2 {
template <typename Scalar>
using Simd = SimdAvx2<Scalar>;
#include "elm/nn/detail/packed_kernel.inl"
}  // namespace elm::nn::detail::avx2
ELM_END_TARGET

ELM_BEGIN_TARGET_AVX512
namespace elm::nn::detail::avx512 {
template <typename Scalar>
using Simd = SimdAvx512<Scalar>;
#include "elm/nn/detail/packed_kernel.inl"
}  // namespace elm::nn::detail::avx512
ELM_END_TARGET
#endif

namespace elm::nn::detail {

/// Whether the program routes its products to a BLAS (ELM_USE_BLAS defines EIGEN_USE_BLAS): every product then
/// goes through Eigen's, which calls the BLAS, as the user asked; the packed kernel stands aside.
#if defined(EIGEN_USE_BLAS)
inline constexpr bool products_use_blas = true;
#else
inline constexpr bool products_use_blas = false;
#endif

/// Whether the packed kernel serves a scalar type: float only. Other types (double for gradient checks and
/// reference tests, long double) take Eigen's products: each instantiation of the kernel, in each instruction
/// set, costs compile time in every program that uses a layer, and double products are not what a model runs.
template <typename Scalar>
inline constexpr bool has_packed_kernel = std::is_same_v<Scalar, float>;

/// The packed layout of a kernel for a scalar type (what tests need to reach every edge of it).
struct KernelLayout {
  Index packet_size, panel_rows, block_cols, direct_min_depth;
};

template <typename Scalar>
KernelLayout kernel_layout(ProductKernel kernel) {
  const auto of = [](auto tile) {
    using Tile = decltype(tile);
    return KernelLayout{Tile::packet_size, Tile::panel_rows, Tile::block_cols,
                        generic::PackedLhsKernel<Scalar>::direct_min_depth};
  };
  switch (kernel) {
#if ELM_X86_KERNELS
    case ProductKernel::avx2: return of(avx2::RegisterTile<Scalar>{});
    case ProductKernel::avx512: return of(avx512::RegisterTile<Scalar>{});
#endif
    default: return of(generic::RegisterTile<Scalar>{});
  }
}

/// A (M, K) left operand and its products with (K, N) right operands, through the kernel in force when it was
/// packed (product_kernel()): elm's packed kernel in one of its instruction sets, or Eigen's product on the
/// reference path. The object holds only its own buffers (packed panels, the packed part of a right side, one
/// panel per thread): it is the caller's scratch, kept in a layer's cache or workspace so that a training loop
/// does not allocate on every call, or made for one call. Every operand it does not own is passed to the call
/// that reads it. One object serves one product at a time.
///
/// Two ways to give A: pack(a) packs it once for many products (a recurrent layer's W_hh); the *_streamed
/// products take A with the right side and pack it inside that product (an operand used once).
template <typename Scalar>
class PackedLhs {
  using View = StridedView<Scalar>;
  using Output = TileOutput<Scalar>;
  // (another scalar type, e.g. long double, always takes the reference path)
#if ELM_X86_KERNELS
  using Kernels = std::conditional_t<has_packed_kernel<Scalar>,
                                     std::variant<std::monostate, generic::PackedLhsKernel<Scalar>,
                                                  avx2::PackedLhsKernel<Scalar>, avx512::PackedLhsKernel<Scalar>>,
                                     std::variant<std::monostate>>;
#else
  using Kernels = std::conditional_t<has_packed_kernel<Scalar>,
                                     std::variant<std::monostate, generic::PackedLhsKernel<Scalar>>,
                                     std::variant<std::monostate>>;
#endif

 public:
  PackedLhs() = default;

  /// Packs a (M, K) (see pack).
  template <typename Derived>
  explicit PackedLhs(const Eigen::MatrixBase<Derived>& a) {
    pack(a);
  }

  /// Packs a (M, K), any operand in memory or its transpose, for the products that follow, with the kernel in
  /// force now. On the reference path a is copied.
  template <typename Derived>
  void pack(const Eigen::MatrixBase<Derived>& a) {
    if (start(a)) {
      reference_a_ = a;
      return;
    }
    visit([&](auto& kernel) { kernel.pack(strided_view(a), rows_, depth_); });
  }

  Index rows() const { return rows_; }
  Index cols() const { return depth_; }
  /// The kernel that packed A.
  ProductKernel kernel() const { return kernel_; }

  /// out = A b, plus row_bias (M scalars, not aliasing out) in every column when given.  b: (K, N), which out
  /// may alias -> out: (M, N), resized. The tiles run on OpenMP threads when there are enough of them.
  template <typename Derived>
  void multiply(const Eigen::MatrixBase<Derived>& b, Matrix<Scalar>& out, const Scalar* row_bias = nullptr) {
    eigen_assert(b.rows() == depth_);
    if (reference()) {
      Matrix<Scalar> product = reference_a_ * b;
      add_bias(product, row_bias);
      out.swap(product);
      return;
    }
    run<false>(nullptr, b, out, row_bias, nullptr);
  }

  /// out += A b.  out: (M, N), a matrix or a block of whole columns (one step's columns of a (G H, B T)
  /// matrix): a sum formed where it is needed, without a product-sized temporary.
  template <typename Derived>
  void multiply_add(const Eigen::MatrixBase<Derived>& b, Eigen::Ref<Matrix<Scalar>> out) {
    eigen_assert(out.rows() == rows_ && out.cols() == b.cols() && b.rows() == depth_);
    if (reference()) {
      out += reference_a_ * b;
      return;
    }
    run_into<true, false>(nullptr, b, out, nullptr);
  }

  /// out_t = (A b)^T.  out_t: resized to (N, M).
  template <typename Derived>
  void multiply_transposed(const Eigen::MatrixBase<Derived>& b, Matrix<Scalar>& out_t) {
    eigen_assert(b.rows() == depth_);
    if (reference()) {
      Matrix<Scalar> product = (reference_a_ * b).transpose();
      out_t.swap(product);
      return;
    }
    const View bv = strided_view(b);
    const Index n = b.cols();
    visit([&](auto& kernel) {
      const auto rhs = kernel.prepare_rhs(bv, n, out_t.data(), out_t.data() + out_t.size());
      out_t.resize(n, rows_);  // after preparing b, which out_t may alias (b is then packed)
      kernel.product(n, rhs, Output{out_t.data(), out_t.outerStride(), 1}, /*accumulate=*/false, nullptr, nullptr);
    });
  }

  /// out_t += (A b)^T.  out_t: (N, M). A weight gradient stored transposed (PyTorch's (out, in) bytes in a
  /// column-major (in, out) matrix) is accumulated tile by tile, instead of through a (M, N) temporary added
  /// transposed afterwards (a pass that misses the cache on every column).
  template <typename Derived>
  void multiply_add_transposed(const Eigen::MatrixBase<Derived>& b, Eigen::Ref<Matrix<Scalar>> out_t) {
    eigen_assert(out_t.cols() == rows_ && out_t.rows() == b.cols() && b.rows() == depth_);
    if (reference()) {
      out_t += (reference_a_ * b).transpose();
      return;
    }
    run_into<true, true>(nullptr, b, out_t, nullptr);
  }

  /// out = a b (+ row_bias in every column), a (M, K) packed inside the product. a must not overlap out.
  template <typename DerivedA, typename DerivedB>
  void multiply_streamed(const Eigen::MatrixBase<DerivedA>& a, const Eigen::MatrixBase<DerivedB>& b,
                         Matrix<Scalar>& out, const Scalar* row_bias = nullptr) {
    eigen_assert(a.cols() == b.rows());
    if (start(a)) {
      Matrix<Scalar> product = a * b;
      add_bias(product, row_bias);
      out.swap(product);
      return;
    }
    const View av = strided_view(a);
    run<false>(&av, b, out, row_bias, nullptr);
  }

  /// out += a b, a (M, K) packed inside the product, and a_row_sums (M scalars, when given) += the row sums of
  /// a, from its packed panels.  out: (M, N), a matrix or a block of one.
  template <typename DerivedA, typename DerivedB>
  void multiply_add_streamed(const Eigen::MatrixBase<DerivedA>& a, const Eigen::MatrixBase<DerivedB>& b,
                             Eigen::Ref<Matrix<Scalar>> out, Scalar* a_row_sums = nullptr) {
    eigen_assert(a.cols() == b.rows() && out.rows() == a.rows() && out.cols() == b.cols());
    if (start(a)) {
      out += a * b;
      add_row_sums(a, a_row_sums);
      return;
    }
    const View av = strided_view(a);
    run_into<true, false>(&av, b, out, a_row_sums);
  }

  /// out_t += (a b)^T, a (M, K) packed inside the product, and a_row_sums (M scalars, when given) += the row
  /// sums of a, from its packed panels (a dense layer's bias gradient from the same pass over dy as its weight
  /// gradient).  out_t: (N, M).
  template <typename DerivedA, typename DerivedB>
  void multiply_add_transposed_streamed(const Eigen::MatrixBase<DerivedA>& a, const Eigen::MatrixBase<DerivedB>& b,
                                        Eigen::Ref<Matrix<Scalar>> out_t, Scalar* a_row_sums = nullptr) {
    eigen_assert(a.cols() == b.rows() && out_t.cols() == a.rows() && out_t.rows() == b.cols());
    if (start(a)) {
      out_t += (a * b).transpose();
      add_row_sums(a, a_row_sums);
      return;
    }
    const View av = strided_view(a);
    run_into<true, true>(&av, b, out_t, a_row_sums);
  }

  /// out += a b, a (rows, depth) given by a PanelSource: packed panel by panel inside the product, never formed
  /// whole (on the reference path it is formed, for Eigen's product).  b: (depth, N); out: (rows, N).
  template <typename DerivedB>
  void multiply_add_from(const PanelSource<Scalar>& a, Index rows, Index depth, const Eigen::MatrixBase<DerivedB>& b,
                         Eigen::Ref<Matrix<Scalar>> out) {
    eigen_assert(b.rows() == depth && out.rows() == rows && out.cols() == b.cols());
    if (start_shape(rows, depth)) {
      out += gather(a) * b;
      return;
    }
    run_into<true, false>(nullptr, b, out, nullptr, &a);
  }

  /// out_t += (a b)^T, a given by a PanelSource as in multiply_add_from.  out_t: (N, rows).
  template <typename DerivedB>
  void multiply_add_transposed_from(const PanelSource<Scalar>& a, Index rows, Index depth,
                                    const Eigen::MatrixBase<DerivedB>& b, Eigen::Ref<Matrix<Scalar>> out_t) {
    eigen_assert(b.rows() == depth && out_t.cols() == rows && out_t.rows() == b.cols());
    if (start_shape(rows, depth)) {
      out_t += (gather(a) * b).transpose();
      return;
    }
    run_into<true, true>(nullptr, b, out_t, nullptr, &a);
  }

 private:
  bool reference() const { return kernel_ == ProductKernel::reference; }

  // Takes the shape of A (packed, or streamed by the next product) and the kernel in force; true when that
  // is the reference path.
  template <typename Derived>
  bool start(const Eigen::MatrixBase<Derived>& a) {
    return start_shape(a.rows(), a.cols());
  }
  bool start_shape(Index rows, Index depth) {
    select(product_kernel());
    rows_ = rows;
    depth_ = depth;
    return reference();
  }

  // The (rows_, depth_) matrix a source packs, formed whole (the reference path's operand).
  Matrix<Scalar> gather(const PanelSource<Scalar>& a) const {
    constexpr Index panel = 16;
    Matrix<Scalar> dense(rows_, depth_);
    std::vector<Scalar> buffer(static_cast<std::size_t>(panel * depth_));
    for (Index r0 = 0; r0 < rows_; r0 += panel) {
      const Index count = std::min(panel, rows_ - r0);
      a.pack(a.context, r0, count, depth_, panel, buffer.data());
      for (Index k = 0; k < depth_; ++k)
        for (Index i = 0; i < count; ++i) dense(r0 + i, k) = buffer[static_cast<std::size_t>(k * panel + i)];
    }
    return dense;
  }

  // Makes the kernel object of `kernel` current (its buffers are kept while the kernel stays the same).
  void select(ProductKernel kernel) {
    kernel_ = has_packed_kernel<Scalar> && !products_use_blas ? kernel : ProductKernel::reference;
    switch (kernel_) {
      case ProductKernel::reference: break;
      case ProductKernel::generic: emplace<1>(); break;
#if ELM_X86_KERNELS
      case ProductKernel::avx2: emplace<2>(); break;
      case ProductKernel::avx512: emplace<3>(); break;
#else
      default: eigen_assert(false && "kernel not compiled in"); break;
#endif
    }
  }
  template <std::size_t I>
  void emplace() {
    if constexpr (I < std::variant_size_v<Kernels>) {
      if (kernels_.index() != I) kernels_.template emplace<I>();
    }
  }

  // Calls f(kernel object) for the current, non-reference kernel.
  template <typename F>
  void visit(F&& f) {
    std::visit(
        [&](auto& kernel) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(kernel)>, std::monostate>) f(kernel);
        },
        kernels_);
  }

  template <typename Derived>
  static void add_row_sums(const Eigen::MatrixBase<Derived>& a, Scalar* row_sums) {
    if (row_sums) Eigen::Map<Vector<Scalar>>(row_sums, a.rows()) += a.rowwise().sum();
  }
  static void add_bias(Matrix<Scalar>& y, const Scalar* row_bias) {
    if (row_bias) y.colwise() += Eigen::Map<const Vector<Scalar>>(row_bias, y.rows());
  }

  // out = (streamed or packed A) b (+ bias), out resized after b is prepared (b may alias out).
  template <bool Accumulate, typename Derived>
  void run(const View* streamed, const Eigen::MatrixBase<Derived>& b, Matrix<Scalar>& out, const Scalar* row_bias,
           Scalar* a_row_sums) {
    const View bv = strided_view(b);
    const Index n = b.cols();
    visit([&](auto& kernel) {
      if (streamed) kernel.set_shape(rows_, depth_);
      const auto rhs = kernel.prepare_rhs(bv, n, out.data(), out.data() + out.size());
      out.resize(rows_, n);  // after preparing b, which out may alias (b is then packed)
      kernel.product(n, rhs, Output{out.data(), 1, out.outerStride(), row_bias}, Accumulate, streamed, a_row_sums);
    });
  }

  // out (+)= (streamed or packed A) b into an existing (M, N) out, or its transpose (N, M) when Transposed.
  template <bool Accumulate, bool Transposed, typename Derived>
  void run_into(const View* streamed, const Eigen::MatrixBase<Derived>& b, Eigen::Ref<Matrix<Scalar>> out,
                Scalar* a_row_sums, const PanelSource<Scalar>* source = nullptr) {
    const View bv = strided_view(b);
    const Index n = b.cols();
    const Output output = Transposed ? Output{out.data(), out.outerStride(), 1} : Output{out.data(), 1, out.outerStride()};
    visit([&](auto& kernel) {
      if (streamed || source) kernel.set_shape(rows_, depth_);
      const auto rhs = kernel.prepare_rhs(bv, n, out.data(), out.data() + out.outerStride() * out.cols());
      kernel.product(n, rhs, output, Accumulate, streamed, a_row_sums, source);
    });
  }

  ProductKernel kernel_ = ProductKernel::reference;
  Index rows_ = 0, depth_ = 0;
  Kernels kernels_;
  Matrix<Scalar> reference_a_;  // the reference path's copy of a packed A
};

/// out (+)= a b for operands small enough to sit in cache (an attention tile's), read in place by the kernel in
/// force (no operand packed), or through Eigen's product on the reference path.  a: a column-major block with
/// contiguous columns; b: such a block or the transpose of one (read as a row-major operand); out: a
/// column-major block with contiguous columns, of a's rows and b's columns.
template <bool Accumulate, typename A, typename B, typename Out>
void block_product(const A& a, const B& b, Out&& out) {
  using Scalar = typename A::Scalar;
  static_assert(!A::IsRowMajor && !std::decay_t<Out>::IsRowMajor, "block_product needs column-major a and out");
  eigen_assert(a.cols() == b.rows() && out.rows() == a.rows() && out.cols() == b.cols());
  const ProductKernel kernel =
      has_packed_kernel<Scalar> && !products_use_blas ? product_kernel() : ProductKernel::reference;
  if (kernel == ProductKernel::reference) {
    if constexpr (Accumulate) out.noalias() += a * b;
    else out.noalias() = a * b;
    return;
  }
  eigen_assert(a.innerStride() == 1 && b.innerStride() == 1 && out.innerStride() == 1);
  const Index b_k_stride = B::IsRowMajor ? b.outerStride() : 1;
  const Index b_j_stride = B::IsRowMajor ? 1 : b.outerStride();
  if constexpr (has_packed_kernel<Scalar>) {
    const TileOutput<Scalar> output{out.data(), 1, out.outerStride()};
    switch (kernel) {
#if ELM_X86_KERNELS
      case ProductKernel::avx512:
        avx512::tile_product(a.rows(), b.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b_k_stride,
                             b_j_stride, output, Accumulate);
        return;
      case ProductKernel::avx2:
        avx2::tile_product(a.rows(), b.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b_k_stride, b_j_stride,
                           output, Accumulate);
        return;
#endif
      default:
        generic::tile_product(a.rows(), b.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b_k_stride,
                              b_j_stride, output, Accumulate);
    }
  }
}

}  // namespace elm::nn::detail
