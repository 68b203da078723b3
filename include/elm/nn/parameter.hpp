// SPDX-License-Identifier: MIT
// Parameter: a trainable tensor's value and gradient, with the shape it has in PyTorch and on disk.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/huge_page_allocator.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/inference_weight.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// A trainable tensor. `shape` is its logical, row-major shape as PyTorch and safetensors give it;
/// `value` holds the same bytes as an Eigen column-major matrix whose rows are the last dimension and
/// whose columns are the product of the others. A PyTorch Linear weight (out, in) is therefore an Eigen
/// (in, out) matrix, and a bias (out) an (out, 1) matrix: loading and saving is a plain copy.
/// Gradient contract: layers add into gradient(); callers zero it (zero_grad) before each accumulation.
/// The gradient is allocated on first use, so a model loaded for inference holds its weights once: until a
/// backward reaches it, `grad` is empty (0 x 0), which means zero.
template <typename Scalar>
struct Parameter {
  static_assert(std::is_floating_point_v<Scalar>, "Parameter needs a floating-point Scalar");

  std::vector<Index> shape;
  Matrix<Scalar> value;
  Matrix<Scalar> grad;
  bool trainable = true;
  /// Set by a model that keeps this weight for inference in another storage (Gpt2::set_weight_dtype: bf16,
  /// int8): the layers' forward multiplies by it instead of value. value stays float32, for training and saving;
  /// it does not follow later changes of value (the model drops it before training).
  detail::InferenceWeightPtr inference;

  Parameter() = default;
  /// A zero-initialised parameter of the given row-major shape (at least one dimension).
  explicit Parameter(std::vector<Index> tensor_shape) : shape(std::move(tensor_shape)) {
    ELM_EXPECT(!shape.empty(), ShapeError, "elm::nn::Parameter: expected at least one dimension, got none");
    Index rows = shape.back();
    Index cols = 1;
    for (std::size_t d = 0; d + 1 < shape.size(); ++d) cols *= shape[d];
    for (Index d : shape)
      ELM_EXPECT(d >= 0, ShapeError, "elm::nn::Parameter: dimension ", d, " is negative");
    value.resize(rows, cols);
    // a large weight on 2 MB pages (before its first write): decoding streams every weight once per token
    elm::detail::advise_huge_pages(value.data(), static_cast<std::size_t>(value.size()) * sizeof(Scalar));
    value.setZero();
  }

  Index numel() const { return value.size(); }
  /// Whether a gradient has been allocated (a backward or an optimizer reached this parameter).
  bool has_grad() const { return grad.size() != 0 || value.size() == 0; }
  /// The gradient to add into, allocated as zeros of value's shape on first use.
  Matrix<Scalar>& gradient() {
    if (grad.rows() != value.rows() || grad.cols() != value.cols()) grad = Matrix<Scalar>::Zero(value.rows(), value.cols());
    return grad;
  }
  /// Zeroes the gradient; one never allocated stays unallocated (it is zero already).
  void zero_grad() {
    if (grad.size() != 0) grad.setZero();
  }
  /// Frees the gradient (inference after training).
  void release_grad() { grad = Matrix<Scalar>(); }
};

/// Joins a dotted parameter name: join_name("h.0", "attn") == "h.0.attn"; an empty prefix adds nothing.
inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string out(prefix);
  out += '.';
  out += name;
  return out;
}

/// Sum of numel over every parameter a module visits with for_each_parameter. The module may be const.
template <typename Module>
Index count_parameters(const Module& module) {
  static_assert(has_parameters_v<Module>, "count_parameters needs a module with for_each_parameter (elm/nn/layer.hpp)");
  Index total = 0;
  module.for_each_parameter("", [&](const std::string&, const auto& p) { total += p.numel(); });
  return total;
}

/// Zeroes every gradient of a module.
template <typename Module>
void zero_grad(Module& module) {
  static_assert(has_parameters_v<Module>, "zero_grad needs a module with for_each_parameter (elm/nn/layer.hpp)");
  module.for_each_parameter("", [](const std::string&, auto& p) { p.zero_grad(); });
}

}  // namespace elm::nn
