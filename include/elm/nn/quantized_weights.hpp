// SPDX-License-Identifier: MIT
// QuantizedWeights: a dense layer's weight stored in bf16 or in int8 blocks (llama.cpp's Q8_0) for inference,
// multiplied by run-time chosen kernels: a matrix-vector product with float activations for decoding; for prompts,
// AMX tiles where the CPU has them (bf16 or int8 activations), int8 activations and integer dot products on CPUs
// with AVX-512 VNNI, else the packed kernel on panels dequantized on the fly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/amx_product.hpp"
#include "elm/nn/detail/inference_weight.hpp"
#include "elm/nn/detail/matrix_vector.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/q8_integer_product.hpp"
#include "elm/nn/detail/quantized_kernels.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/product_kernel.hpp"

namespace elm::nn {

/// How a model keeps its dense layers' weights for inference. Activations, biases, LayerNorms and the
/// embeddings' lookups stay float32 whatever the choice.
/// - f32: the float32 parameters themselves (4 bytes a weight);
/// - bf16: each weight rounded to bfloat16, to nearest with ties to even (2 bytes a weight; relative error at
///   most 2^-8, the unit roundoff of 8 significant bits);
/// - int8: llama.cpp's Q8_0: blocks of 32 weights along the input dimension, each block with a float32 scale
///   d = max |w| / 127 and weights q = round(w / d) in [-127, 127], ties away from zero as C's roundf
///   (llama.cpp's quantize_row_q8_0_reference, which stores d in float16; here it stays float32, so that
///   |w - q d| <= d / 2 holds exactly): 1.125 bytes a weight.
enum class WeightDType { f32, bf16, int8 };

/// "f32", "bf16" or "int8".
inline std::string_view weight_dtype_name(WeightDType dtype) {
  switch (dtype) {
    case WeightDType::f32: return "f32";
    case WeightDType::bf16: return "bf16";
    case WeightDType::int8: return "int8";
  }
  return "unknown";
}

/// Parses a name as weight_dtype_name writes it. Throws InvalidArgument for any other.
inline WeightDType parse_weight_dtype(std::string_view name) {
  for (WeightDType d : {WeightDType::f32, WeightDType::bf16, WeightDType::int8})
    if (name == weight_dtype_name(d)) return d;
  throw InvalidArgument(elm::detail::concat("elm::nn::parse_weight_dtype: unknown weight dtype \"", name,
                                            "\", expected one of f32, bf16, int8"));
}

/// A weight A (out, in) stored in bf16 or int8 (see WeightDType), in tiles of 16 rows interleaved by blocks of 32
/// columns (detail::tile_offset; rows padded with zeros to whole blocks, the last tile with zero rows), as a
/// dense layer applies it: y = A x + b. What
/// Parameter::inference holds for a model quantized at load time (Gpt2::set_weight_dtype).
class QuantizedWeights final : public detail::InferenceWeight {
 public:
  /// A quantized copy of a (out, in), any float matrix expression (a GPT-2 Conv1D's weight.value, a tied
  /// head's token table transposed). Throws InvalidArgument for dtype f32 (the parameter itself serves it),
  /// ShapeError for an empty a, NumericalError for a weight that is not finite.
  template <typename Derived>
  QuantizedWeights(const Eigen::MatrixBase<Derived>& a, WeightDType dtype)
      : dtype_(dtype), rows_(a.rows()), cols_(a.cols()) {
    constexpr std::string_view where = "elm::nn::QuantizedWeights";
    ELM_EXPECT(dtype != WeightDType::f32, InvalidArgument, where,
               ": expected dtype bf16 or int8, got f32 (the float parameter itself serves it)");
    ELM_EXPECT(rows_ > 0 && cols_ > 0, ShapeError, where, ": expected a non-empty matrix, got ", rows_, " x ", cols_);
    // tiles of 16 rows, each row in whole blocks of 32 (quantized_kernels.hpp), padded with zeros
    blocks_ = (cols_ + detail::q8_block - 1) / detail::q8_block;
    const Index padded_rows = (rows_ + detail::tile_rows - 1) / detail::tile_rows * detail::tile_rows;
    const std::size_t elements = to_size(padded_rows * blocks_ * detail::q8_block);
    if (dtype == WeightDType::bf16) {
      bf16_.assign(elements, 0);
    } else {
      q_.assign(elements, 0);
      scales_.assign(elements / to_size(detail::q8_block), 0.0f);
    }
    // rows in chunks on the OpenMP threads (each row's storage is its own; a model's 124 M weights take a
    // second on one thread)
    elm::detail::parallel_chunks(rows_, 256, [&](Index, Index r0, Index r1) {
      std::vector<float> row(to_size(blocks_ * detail::q8_block), 0.0f);
      for (Index r = r0; r < r1; ++r) {
        for (Index k = 0; k < cols_; ++k) {
          const float w = static_cast<float>(a(r, k));
          ELM_EXPECT(std::isfinite(w), NumericalError, where, ": weight (", r, ", ", k, ") is ", w,
                     ", expected a finite value");
          row[static_cast<std::size_t>(k)] = w;
        }
        if (dtype_ == WeightDType::bf16)
          for (Index k = 0; k < cols_; ++k)
            bf16_[static_cast<std::size_t>(detail::tile_offset(blocks_, r, k))] =
                detail::float_to_bf16(row[static_cast<std::size_t>(k)]);
        else
          quantize_row_q8_0(row.data(), r);
      }
    });
  }

  WeightDType dtype() const noexcept { return dtype_; }
  Index rows() const override { return rows_; }
  Index cols() const override { return cols_; }
  /// Bytes of storage (weights and scales, padding included): what a product reads.
  std::size_t bytes() const noexcept {
    return bf16_.size() * sizeof(std::uint16_t) + q_.size() + scales_.size() * sizeof(float);
  }
  /// The int8 scale d of row r's block b (k in [32 b, 32 b + 32)). Throws RangeError for another dtype or an
  /// index out of range.
  float scale(Index r, Index b) const {
    ELM_EXPECT(dtype_ == WeightDType::int8 && r >= 0 && r < rows_ && b >= 0 && b < blocks_, RangeError,
               "elm::nn::QuantizedWeights::scale: block (", r, ", ", b, ") of a ", weight_dtype_name(dtype_),
               " matrix of ", rows_, " rows and ", blocks_, " blocks a row, expected an int8 block in range");
    return scales_[to_size(detail::tile_offset(blocks_, r, b * detail::q8_block) / detail::q8_block)];
  }

  /// Whether decoding's columns (at most 4) are quantized too on `kernel`: int8 weights under the AVX-512 kernel
  /// on a CPU with AVX-512 VNNI.
  bool integer_decoding(ProductKernel kernel) const noexcept {
    return dtype_ == WeightDType::int8 && kernel == ProductKernel::avx512 && detail::q8_integer_product_supported();
  }

  /// The int8 storage the kernels read (detail::Q8Rows; empty for bf16): what the integer product's reference
  /// reads in tests.
  detail::Q8Rows q8_rows() const noexcept { return {q_.data(), scales_.data(), blocks_}; }

  /// The float matrix the kernels multiply by (every stored weight widened exactly).  -> (out, in)
  Matrix<float> dequantize() const {
    Matrix<float> a(rows_, cols_);
    for (Index r = 0; r < rows_; ++r)
      for (Index k = 0; k < cols_; ++k) a(r, k) = dtype_ == WeightDType::bf16 ? detail::element(bf16_rows(), r, k)
                                                                           : detail::element(q8_rows(), r, k);
    return a;
  }

  /// y = A[r0 : r0 + count, :] x (+ bias in every column) with the kernel in force (product_kernel()): for up to
  /// 4 columns the matrix-vector kernel, the rows shared among the OpenMP threads (each row computed alike
  /// whatever their number); for more (a prompt), under the AVX-512 kernel: on AMX tiles where they are on
  /// (amx_products_enabled; detail/amx_product.hpp: x rounded to bf16 for bf16 weights, quantized as below for
  /// int8), else int8 weights on a CPU with AVX-512 VNNI take the integer product (detail/q8_integer_product.hpp:
  /// x quantized as llama.cpp's Q8_0 blocks too, integer dot products per block); otherwise the packed kernel runs
  /// on float panels dequantized as it packs them. Throws ShapeError when x does not have `in` rows or the rows
  /// are out of range.
  void multiply(const Eigen::Ref<const Matrix<float>>& x, Index r0, Index count, Matrix<float>& y,
                const float* bias) const override {
    multiply_with(product_kernel(), x, r0, count, y, bias);
  }

  /// The same on a given kernel (tests compare each with the reference; for more than 4 columns the kernel is
  /// made the one in force for the call, as ScopedProductKernel does). Throws InvalidArgument for a kernel this
  /// build or CPU does not support.
  void multiply_with(ProductKernel kernel, const Eigen::Ref<const Matrix<float>>& x, Index r0, Index count,
                     Matrix<float>& y, const float* bias) const {
    constexpr std::string_view where = "elm::nn::QuantizedWeights::multiply";
    ELM_EXPECT(x.rows() == cols_, ShapeError, where, ": x has ", x.rows(), " rows, expected in = ", cols_);
    ELM_EXPECT(r0 >= 0 && count >= 0 && r0 + count <= rows_, ShapeError, where, ": rows [", r0, ", ", r0 + count,
               ") of a weight of ", rows_, " rows, expected a range inside it");
    ELM_EXPECT(product_kernel_supported(kernel), InvalidArgument, where, ": kernel ", product_kernel_name(kernel),
               " is not supported by this build or CPU");
    const Index n = x.cols();
    y.resize(count, n);
    if (n == 0 || count == 0) return;
    if (n <= detail::max_quantized_columns) {
      if (dtype_ == WeightDType::bf16)
        matrix_vector(kernel, bf16_rows(), x, r0, count, y, bias);
      else
        matrix_vector(kernel, q8_rows(), x, r0, count, y, bias);
      return;
    }
#if ELM_X86_KERNELS
    if (kernel == ProductKernel::avx512 && amx_products_enabled()) {
      if (dtype_ == WeightDType::bf16) {
        detail::Bf16TileActivations activations;
        detail::amx::pack_bf16_activations(x.data(), x.outerStride(), cols_, n, activations);
        detail::amx::bf16_product(bf16_rows(), activations, r0, count, y.data(), y.outerStride(), bias);
      } else {
        detail::Q8Activations quantized;
        detail::vnni::quantize_activations(x.data(), x.outerStride(), cols_, n, quantized);
        detail::Q8TileActivations activations;
        detail::pack_q8_tile_activations(quantized, activations);
        detail::amx::q8_product(q8_rows(), activations, r0, count, y.data(), y.outerStride(), bias);
      }
      return;
    }
    if (dtype_ == WeightDType::int8 && kernel == ProductKernel::avx512 && detail::q8_integer_product_supported()) {
      detail::Q8Activations activations;
      detail::vnni::quantize_activations(x.data(), x.outerStride(), cols_, n, activations);
      detail::vnni::product(q8_rows(), activations, r0, count, y.data(), y.outerStride(), bias);
      return;
    }
#endif
    // a prompt: y = bias, then y += A x on the packed kernel, A's panels dequantized as the kernel packs them
    if (bias)
      y.colwise() = Eigen::Map<const Vector<float>>(bias, count);
    else
      y.setZero();
    const PanelContext context{this, r0};
    const detail::PanelSource<float> source{&pack_panel, &context};
    std::optional<ScopedProductKernel> scoped;  // the packed kernel runs product_kernel()'s
    if (kernel != product_kernel()) scoped.emplace(kernel);
    detail::PackedLhs<float> products;
    products.multiply_add_from(source, count, cols_, x, y);
  }

 private:
  struct PanelContext {
    const QuantizedWeights* weights;
    Index r0;
  };

  detail::Bf16Rows bf16_rows() const noexcept { return {bf16_.data(), blocks_}; }

  // llama.cpp's quantize_row_q8_0_reference on one row (padded with zeros to whole blocks): per block,
  // d = amax / 127, q = roundf(w * (1 / d)), the scale kept in float32.
  void quantize_row_q8_0(const float* w, Index r) {
    for (Index b = 0; b < blocks_; ++b) {
      const float* x = w + b * detail::q8_block;
      float amax = 0.0f;
      for (Index j = 0; j < detail::q8_block; ++j) amax = std::max(amax, std::fabs(x[j]));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const Index at = detail::tile_offset(blocks_, r, b * detail::q8_block);
      scales_[to_size(at / detail::q8_block)] = d;
      std::int8_t* q = q_.data() + at;
      for (Index j = 0; j < detail::q8_block; ++j) q[j] = static_cast<std::int8_t>(std::round(x[j] * id));
    }
  }

  // The matrix-vector product over rows [r0, r0 + count), in chunks of whole cache lines of y for the threads.
  // int8 weights under the AVX-512 kernel on a CPU with VNNI: x quantized as for the prompts' integer product
  // (llama.cpp's Q8_0 blocks, as its and CTranslate2's int8 decoding do) and multiplied in integers
  // (detail::vnni::decode_rows): twice the float kernel's speed where a core could not keep up with memory.
  template <typename Rows>
  void matrix_vector(ProductKernel kernel, const Rows& w, const Eigen::Ref<const Matrix<float>>& x, Index r0,
                     Index count, Matrix<float>& y, const float* bias) const {
    const Index threads =
        count * cols_ >= detail::matrix_vector_parallel_work ? elm::detail::max_threads() : Index(1);
    const Index unit = 64;
    const Index chunk = std::max(unit, ((count + threads - 1) / threads + unit - 1) / unit * unit);
#if ELM_X86_KERNELS
    if constexpr (std::is_same_v<Rows, detail::Q8Rows>) {
      if (integer_decoding(kernel)) {
        detail::Q8Activations quantized;
        detail::Q8DecodeColumns columns;
        detail::vnni::quantize_activations(x.data(), x.outerStride(), cols_, x.cols(), quantized);
        columns.assign(quantized);
        elm::detail::parallel_chunks(count, chunk, [&](Index, Index c0, Index c1) {
          detail::vnni::decode_rows(w, columns, y.data(), y.outerStride(), r0 + c0, r0 + c1, r0, bias);
        });
        return;
      }
    }
#endif
    elm::detail::parallel_chunks(count, chunk, [&](Index, Index c0, Index c1) {
      detail::quantized_rows(kernel, w, cols_, x.data(), x.outerStride(), y.data(), y.outerStride(), x.cols(),
                             r0 + c0, r0 + c1, r0, bias);
    });
  }

  // PanelSource::pack: rows [r0, r0 + count) of the range, dequantized into dst k-major (element (i, k) at
  // dst[k panel_rows + i]), a block of 32 columns at a time so that the panel's lines being written stay in L1.
  static void pack_panel(const void* context, Index r0, Index count, Index depth, Index panel_rows, float* dst) {
    const PanelContext& c = *static_cast<const PanelContext*>(context);
    const QuantizedWeights& w = *c.weights;
    for (Index k0 = 0; k0 < depth; k0 += detail::q8_block) {
      const Index k1 = std::min(depth, k0 + detail::q8_block);
      for (Index i = 0; i < count; ++i) {
        const Index r = c.r0 + r0 + i;
        const Index at = detail::tile_offset(w.blocks_, r, k0);  // (r, k0 .. k1) contiguous
        if (w.dtype_ == WeightDType::bf16) {
          const std::uint16_t* block = w.bf16_.data() + at;
          for (Index k = k0; k < k1; ++k) dst[k * panel_rows + i] = detail::bf16_to_float(block[k - k0]);
        } else {
          const std::int8_t* block = w.q_.data() + at;
          const float d = w.scales_[to_size(at / detail::q8_block)];
          for (Index k = k0; k < k1; ++k) dst[k * panel_rows + i] = float(block[k - k0]) * d;
        }
      }
    }
  }

  WeightDType dtype_;
  Index rows_, cols_, blocks_ = 0;
  std::vector<std::uint16_t, elm::detail::HugePageAllocator<std::uint16_t>> bf16_;
  std::vector<std::int8_t, elm::detail::HugePageAllocator<std::int8_t>> q_;
  std::vector<float, elm::detail::HugePageAllocator<float>> scales_;
};

/// How a model's parameter is multiplied at inference, for set_inference_weights: not a dense layer's weight
/// (none: embeddings' lookups, LayerNorms, biases), or a weight A (out, in) of y = A x stored as A itself (value: a
/// Conv1D's (in, out) bytes, a token table read as the head) or as A^T (transposed: torch.nn.Linear's (out, in)
/// bytes, which the library reads as an (in, out) matrix).
enum class InferenceOrientation { none, value, transposed };

/// Keeps the dense layers' weights of `module` in `dtype` for inference: every parameter for which
/// orientation(name, parameter) is not none gets a QuantizedWeights of A in Parameter::inference, which the layers'
/// forward multiplies by (Linear, MultiHeadAttention, Embedding's head); f32 clears them all, back to the float32
/// values. Every copy is made before any is set, so a weight that cannot be stored (not finite: NumericalError)
/// leaves the module as it was. The float32 values stay (saving writes them; training needs f32). bf16 and int8
/// need a float module (Scalar): InvalidArgument naming `where` otherwise.
template <typename Scalar, typename Module, typename Orientation>
void set_inference_weights(Module& module, WeightDType dtype, Orientation&& orientation, std::string_view where) {
  ELM_EXPECT(dtype == WeightDType::f32 || (std::is_same_v<Scalar, float>), InvalidArgument, where, ": weights in ",
             weight_dtype_name(dtype), " need a float model, got another Scalar (expected f32)");
  if constexpr (std::is_same_v<Scalar, float>) {
    std::vector<std::pair<Parameter<float>*, detail::InferenceWeightPtr>> stored;
    module.for_each_parameter("", [&](const std::string& name, Parameter<float>& p) {
      detail::InferenceWeightPtr w;
      const InferenceOrientation how = dtype == WeightDType::f32 ? InferenceOrientation::none : orientation(name, p);
      if (how == InferenceOrientation::value)
        w = std::make_shared<const QuantizedWeights>(p.value, dtype);
      else if (how == InferenceOrientation::transposed)
        w = std::make_shared<const QuantizedWeights>(p.value.transpose(), dtype);
      stored.emplace_back(&p, std::move(w));
    });
    for (auto& [p, w] : stored) p->inference = std::move(w);
  }
}

/// Training multiplies by the float32 weights: InvalidArgument naming `where` when a model keeps them in `dtype`
/// (bf16, int8) for inference.
inline void require_f32_weights(WeightDType dtype, std::string_view where) {
  ELM_EXPECT(dtype == WeightDType::f32, InvalidArgument, where, ": the weights are kept in ", weight_dtype_name(dtype),
             " for inference, expected f32 for training (set_weight_dtype(WeightDType::f32) first)");
}

}  // namespace elm::nn
