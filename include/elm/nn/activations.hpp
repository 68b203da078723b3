// SPDX-License-Identifier: MIT
// Element-wise activations (ReLU, GELU exact and tanh-approximate, tanh, sigmoid) with their derivatives.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// The element-wise non-linearities. gelu is the exact x Phi(x); gelu_tanh is GPT-2's tanh approximation
/// (PyTorch's GELU(approximate="tanh")).
enum class ActivationKind { identity, relu, gelu, gelu_tanh, tanh, sigmoid };

/// The name PyTorch and configuration files use: "relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "identity".
inline const char* activation_name(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::identity: return "identity";
    case ActivationKind::relu: return "relu";
    case ActivationKind::gelu: return "gelu";
    case ActivationKind::gelu_tanh: return "gelu_tanh";
    case ActivationKind::tanh: return "tanh";
    case ActivationKind::sigmoid: return "sigmoid";
  }
  return "unknown";
}

/// Parses an activation name (as activation_name writes it; "gelu_new" and "gelu_pytorch_tanh", the Hugging
/// Face names of the tanh form, are accepted too). Throws InvalidArgument for an unknown name.
inline ActivationKind parse_activation(std::string_view name) {
  if (name == "identity" || name == "linear") return ActivationKind::identity;
  if (name == "relu") return ActivationKind::relu;
  if (name == "gelu") return ActivationKind::gelu;
  if (name == "gelu_tanh" || name == "gelu_new" || name == "gelu_pytorch_tanh") return ActivationKind::gelu_tanh;
  if (name == "tanh") return ActivationKind::tanh;
  if (name == "sigmoid") return ActivationKind::sigmoid;
  ELM_EXPECT(false, InvalidArgument, "elm::nn::parse_activation: unknown activation \"", name,
             "\", expected one of identity, relu, gelu, gelu_tanh, tanh, sigmoid");
  return ActivationKind::identity;
}

namespace detail {

template <typename Scalar>
Scalar sigmoid(Scalar x) {
  // Two branches so that exp never overflows.
  if (x >= Scalar(0)) return Scalar(1) / (Scalar(1) + std::exp(-x));
  const Scalar e = std::exp(x);
  return e / (Scalar(1) + e);
}

template <typename Scalar>
Scalar activate(ActivationKind kind, Scalar x) {
  constexpr Scalar half = Scalar(0.5);
  switch (kind) {
    case ActivationKind::identity: return x;
    case ActivationKind::relu: return x > Scalar(0) ? x : Scalar(0);
    case ActivationKind::gelu: return half * x * (Scalar(1) + std::erf(x * Scalar(0.70710678118654752440)));
    case ActivationKind::gelu_tanh: {
      const Scalar k = Scalar(0.79788456080286535588);  // sqrt(2 / pi)
      return half * x * (Scalar(1) + std::tanh(k * (x + Scalar(0.044715) * x * x * x)));
    }
    case ActivationKind::tanh: return std::tanh(x);
    case ActivationKind::sigmoid: return sigmoid(x);
  }
  return x;
}

/// d activate(x) / dx.
template <typename Scalar>
Scalar activate_derivative(ActivationKind kind, Scalar x) {
  constexpr Scalar half = Scalar(0.5);
  switch (kind) {
    case ActivationKind::identity: return Scalar(1);
    case ActivationKind::relu: return x > Scalar(0) ? Scalar(1) : Scalar(0);  // PyTorch: 0 at x = 0
    case ActivationKind::gelu: {
      // Phi(x) + x phi(x)
      const Scalar cdf = half * (Scalar(1) + std::erf(x * Scalar(0.70710678118654752440)));
      const Scalar pdf = Scalar(0.39894228040143267794) * std::exp(-half * x * x);
      return cdf + x * pdf;
    }
    case ActivationKind::gelu_tanh: {
      const Scalar k = Scalar(0.79788456080286535588);
      const Scalar c = Scalar(0.044715);
      const Scalar t = std::tanh(k * (x + c * x * x * x));
      return half * (Scalar(1) + t) + half * x * (Scalar(1) - t * t) * k * (Scalar(1) + Scalar(3) * c * x * x);
    }
    case ActivationKind::tanh: {
      const Scalar t = std::tanh(x);
      return Scalar(1) - t * t;
    }
    case ActivationKind::sigmoid: {
      const Scalar s = sigmoid(x);
      return s * (Scalar(1) - s);
    }
  }
  return Scalar(1);
}

}  // namespace detail

/// y = f(x) element-wise, any shape.
template <typename Scalar>
void activation_forward(ActivationKind kind, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) {
  y.resize(x.rows(), x.cols());
  if (kind == ActivationKind::relu) {
    y = x.cwiseMax(Scalar(0));
    return;
  }
  for (Index j = 0; j < x.cols(); ++j)
    for (Index i = 0; i < x.rows(); ++i) y(i, j) = detail::activate(kind, x(i, j));
}

/// dx = f'(x) * dy element-wise. x is the input given to forward. Throws ShapeError when shapes differ.
template <typename Scalar>
void activation_backward(ActivationKind kind, const Eigen::Ref<const Matrix<Scalar>>& x,
                         const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
  check_shape(dy, x.rows(), x.cols(), "elm::nn::activation_backward", "dy");
  dx.resize(x.rows(), x.cols());
  for (Index j = 0; j < x.cols(); ++j)
    for (Index i = 0; i < x.rows(); ++i) dx(i, j) = detail::activate_derivative(kind, x(i, j)) * dy(i, j);
}

/// An activation as a layer (no parameters), for Sequential and for blocks that keep one per position.
template <typename Scalar = float>
class Activation {
  static_assert(std::is_floating_point_v<Scalar>, "Activation needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    Matrix<Scalar> x;
  };

  explicit Activation(ActivationKind kind) : kind_(kind) {}
  ActivationKind kind() const { return kind_; }

  /// y = f(x) element-wise.  x: (C, N) -> y: (C, N).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr) const {
    activation_forward<Scalar>(kind_, x, y);
    if (cache) cache->x = x;
  }

  /// dx = f'(x) * dy (overwritten).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    activation_backward<Scalar>(kind_, cache.x, dy, dx);
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) {}
  void zero_grad() {}

 private:
  ActivationKind kind_;
};

}  // namespace elm::nn
