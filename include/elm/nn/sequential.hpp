// SPDX-License-Identifier: MIT
// Sequential: a fixed chain of matrix-to-matrix layers, run forward and backward in order.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// PyTorch's nn.Sequential for layers that map a (C, N) matrix to another (Linear, LayerNorm, Activation,
/// Dropout, Softmax, another Sequential...). Parameters are named by position: "0.weight", "2.bias".
/// A value type: the layers are held in a tuple, reachable with layer<I>().
template <typename First, typename... Rest>
class Sequential {
  static_assert(is_matrix_layer_v<First> && (is_matrix_layer_v<Rest> && ...),
                "Sequential chains layers that keep the matrix-layer contract (elm/nn/layer.hpp): "
                "forward(x, y, cache, context) and backward(cache, dy, dx)");

 public:
  using scalar_type = typename First::scalar_type;
  using Scalar = scalar_type;
  static constexpr std::size_t size = 1 + sizeof...(Rest);

  /// The caches of every layer plus the inputs of layers 1..size-1.
  struct Cache {
    std::tuple<typename First::Cache, typename Rest::Cache...> layers;
    Matrix<Scalar> outputs[size];
  };

  explicit Sequential(First first, Rest... rest) : layers_(std::move(first), std::move(rest)...) {}

  template <std::size_t I>
  auto& layer() {
    return std::get<I>(layers_);
  }
  template <std::size_t I>
  const auto& layer() const {
    return std::get<I>(layers_);
  }

  /// Runs the layers in order, each in the given context (a training context lets Dropout draw).
  /// x: (C_in, N) -> y: (C_out, N).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    run_forward<0>(x, y, cache, context);
  }

  /// Every layer's reset_parameters (layers without parameters have none).
  void reset_parameters(Rng& rng) {
    std::apply([&](auto&... layer) { (reset_parameters_of(layer, rng), ...); }, layers_);
  }

  /// Backward through every layer in reverse order; dx overwritten, parameter gradients added.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    run_backward<size - 1>(cache, dy, dx);
  }

  /// Visits layer i's parameters under the prefix "i"; the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_layers(layers_, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_layers(layers_, prefix, f);
  }

  void zero_grad() {
    std::apply([](auto&... layer) { (layer.zero_grad(), ...); }, layers_);
  }

 private:
  template <std::size_t I>
  void run_forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache,
                   const ForwardContext& context) const {
    auto* layer_cache = cache ? &std::get<I>(cache->layers) : nullptr;
    Matrix<Scalar> scratch;
    Matrix<Scalar>& out = I + 1 == size ? y : (cache ? cache->outputs[I + 1] : scratch);
    std::get<I>(layers_).forward(x, out, layer_cache, context);
    if constexpr (I + 1 < size) run_forward<I + 1>(out, y, cache, context);
  }

  template <std::size_t I>
  void run_backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    Matrix<Scalar> d_in;
    std::get<I>(layers_).backward(std::get<I>(cache.layers), dy, I == 0 ? dx : d_in);
    if constexpr (I > 0) run_backward<I - 1>(cache, d_in, dx);
  }

  // Layers: the tuple of layers, const or not, so that one body serves both for_each_parameter overloads.
  template <typename Layers, typename F>
  static void visit_layers(Layers& layers, std::string_view prefix, F& f) {
    std::size_t i = 0;
    std::apply([&](auto&... layer) { (layer.for_each_parameter(join_name(prefix, std::to_string(i++)), f), ...); },
               layers);
  }

  std::tuple<First, Rest...> layers_;
};

}  // namespace elm::nn
