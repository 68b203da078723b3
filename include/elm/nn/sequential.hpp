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
#include "elm/nn/parameter.hpp"

namespace elm::nn {
namespace detail {

template <typename Layer, typename = void>
struct trains_with_rng : std::false_type {};
template <typename Layer>
struct trains_with_rng<Layer, std::void_t<decltype(std::declval<const Layer&>().forward(
                                  std::declval<const Matrix<typename Layer::scalar_type>&>(),
                                  std::declval<Matrix<typename Layer::scalar_type>&>(), std::declval<Rng&>(),
                                  static_cast<typename Layer::Cache*>(nullptr)))>> : std::true_type {};

}  // namespace detail

/// PyTorch's nn.Sequential for layers that map a (C, N) matrix to another (Linear, LayerNorm, Activation,
/// Dropout, Softmax, another Sequential...). Parameters are named by position: "0.weight", "2.bias".
/// A value type: the layers are held in a tuple, reachable with layer<I>().
template <typename First, typename... Rest>
class Sequential {
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

  /// Runs the layers in order (inference: Dropout is the identity).  x: (C_in, N) -> y: (C_out, N).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr) const {
    run_forward<0>(x, y, cache, nullptr);
  }

  /// Training forward: layers that draw randomness (Dropout) use rng.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Rng& rng,
               Cache* cache = nullptr) const {
    run_forward<0>(x, y, cache, &rng);
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
  void run_forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache, Rng* rng) const {
    const auto& current = std::get<I>(layers_);
    using Layer = std::decay_t<decltype(current)>;
    auto* layer_cache = cache ? &std::get<I>(cache->layers) : nullptr;
    Matrix<Scalar> scratch;
    Matrix<Scalar>& out = I + 1 == size ? y : (cache ? cache->outputs[I + 1] : scratch);
    if constexpr (detail::trains_with_rng<Layer>::value) {
      if (rng)
        current.forward(x, out, *rng, layer_cache);
      else
        current.forward(x, out, layer_cache);
    } else {
      current.forward(x, out, layer_cache);
    }
    if constexpr (I + 1 < size) run_forward<I + 1>(out, y, cache, rng);
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
