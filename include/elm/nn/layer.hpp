// SPDX-License-Identifier: MIT
// The layer contract: the context a forward call runs in, and the traits that check a type keeps the contract.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"

namespace elm::nn {

/// How a forward call runs: inference (the default) or training, and the generator training's randomness
/// (dropout) draws from. It is the last argument of every forward, after the cache:
///   layer.forward(x, y);                                          // inference, no backward
///   layer.forward(x, y, &cache, nn::ForwardContext::train(rng));  // training
/// An inference context never draws: a forward with it is deterministic and leaves a shared model untouched.
struct ForwardContext {
  bool training = false;
  Rng* rng = nullptr;  ///< where training draws from; may stay null when nothing in the model draws

  /// The default: inference.
  static ForwardContext inference() { return {}; }
  /// Training, with randomness from rng (which must outlive the call).
  static ForwardContext train(Rng& rng) { return {true, &rng}; }
  /// Training with no randomness: a model without dropout, or with p = 0 (a layer that must draw throws).
  static ForwardContext train_deterministic() { return {true, nullptr}; }

  /// The generator a training layer draws from; throws InvalidArgument naming `where` when there is none.
  Rng& require_rng(std::string_view where) const {
    ELM_EXPECT(rng != nullptr, InvalidArgument, where,
               ": a training forward that draws random numbers needs ForwardContext::train(rng), got no generator");
    return *rng;
  }
};

namespace detail {

// f(name, parameter) for the non-const and the const visit; a generic lambda stands for every visitor.
struct ParameterProbe {
  template <typename P>
  void operator()(const std::string&, P&) const {}
};

template <typename T, typename = void>
struct has_parameters : std::false_type {};
template <typename T>
struct has_parameters<T, std::void_t<decltype(std::declval<T&>().for_each_parameter(std::string_view(),
                                                                                    ParameterProbe{})),
                                     decltype(std::declval<const T&>().for_each_parameter(std::string_view(),
                                                                                          ParameterProbe{}))>>
    : std::true_type {};

template <typename T, typename = void>
struct has_reset_parameters : std::false_type {};
template <typename T>
struct has_reset_parameters<T, std::void_t<decltype(std::declval<T&>().reset_parameters(std::declval<Rng&>()))>>
    : std::true_type {};

template <typename T, typename = void>
struct is_layer : std::false_type {};
template <typename T>
struct is_layer<T, std::void_t<typename T::scalar_type, typename T::Cache, decltype(std::declval<T&>().zero_grad())>>
    : has_parameters<T> {};

template <typename T, typename = void>
struct is_matrix_layer : std::false_type {};
template <typename T>
struct is_matrix_layer<
    T, std::enable_if_t<is_layer<T>::value,
                        std::void_t<decltype(std::declval<const T&>().forward(
                                        std::declval<const Matrix<typename T::scalar_type>&>(),
                                        std::declval<Matrix<typename T::scalar_type>&>(),
                                        static_cast<typename T::Cache*>(nullptr), std::declval<const ForwardContext&>())),
                                    decltype(std::declval<T&>().backward(
                                        std::declval<const typename T::Cache&>(),
                                        std::declval<const Matrix<typename T::scalar_type>&>(),
                                        std::declval<Matrix<typename T::scalar_type>&>()))>>> : std::true_type {};

}  // namespace detail

/// A module has parameters to visit: `for_each_parameter(prefix, f)` on a mutable and on a const object. What the
/// optimizers, the checkpoint functions and count_parameters need.
template <typename T>
inline constexpr bool has_parameters_v = detail::has_parameters<T>::value;

/// A module initialises its parameters as its reference does with `reset_parameters(Rng&)` (layers without
/// parameters have none).
template <typename T>
inline constexpr bool has_reset_parameters_v = detail::has_reset_parameters<T>::value;

/// The parameter visits of a module made of others, written once: the module (CRTP: `class Block : public
/// nn::Composite<Block>`) defines one `static void visit_parameters(Self& self, std::string_view prefix, F& f)` over
/// `Self` = the module, const or not, and befriends `nn::Composite<Block>`; this base derives the mutable and the
/// const `for_each_parameter` and `zero_grad` from it.
template <typename Derived>
class Composite {
 public:
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    Derived::visit_parameters(static_cast<Derived&>(*this), prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    Derived::visit_parameters(static_cast<const Derived&>(*this), prefix, f);
  }
  void zero_grad() {
    for_each_parameter("", [](const std::string&, auto& p) { p.zero_grad(); });
  }
};

/// module.reset_parameters(rng) when the module has parameters to initialise, else nothing: for containers.
template <typename Module>
void reset_parameters_of(Module& module, Rng& rng) {
  if constexpr (has_reset_parameters_v<Module>) module.reset_parameters(rng);
}

/// A layer: `scalar_type`, a `Cache`, `for_each_parameter` (mutable and const) and `zero_grad()`. Its forward takes
/// its inputs, its outputs, `Cache* cache = nullptr` and `const ForwardContext& context = {}`, in that order; its
/// backward takes the cache and the outputs' gradients, overwrites the inputs' gradients and adds into its
/// parameters' gradients. docs/nn/layers.md states the whole contract.
template <typename T>
inline constexpr bool is_layer_v = detail::is_layer<T>::value;

/// A layer from one matrix to one matrix, what Sequential chains: forward(x, y, cache, context) and
/// backward(cache, dy, dx).
template <typename T>
inline constexpr bool is_matrix_layer_v = detail::is_matrix_layer<T>::value;

}  // namespace elm::nn
