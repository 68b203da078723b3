// SPDX-License-Identifier: MIT
// Element-wise activations (ReLU, GELU exact and tanh-approximate, tanh, sigmoid) with their derivatives.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include <unsupported/Eigen/SpecialFunctions>  // packet erf, for the exact GELU

#include "elm/core/check.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/layer.hpp"
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

// The GELUs' constants: 1 / sqrt(2) and 1 / sqrt(2 pi) (exact GELU), sqrt(2 / pi) and the cubic term's
// coefficient (tanh approximation).
inline constexpr double gelu_inv_sqrt2 = 0.70710678118654752440;
inline constexpr double gelu_inv_sqrt_2pi = 0.39894228040143267794;
inline constexpr double gelu_sqrt_2_over_pi = 0.79788456080286535588;
inline constexpr double gelu_tanh_cubic = 0.044715;

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
    case ActivationKind::gelu: return half * x * (Scalar(1) + std::erf(x * Scalar(detail::gelu_inv_sqrt2)));
    case ActivationKind::gelu_tanh: {
      const Scalar k = Scalar(detail::gelu_sqrt_2_over_pi);
      return half * x * (Scalar(1) + std::tanh(k * (x + Scalar(detail::gelu_tanh_cubic) * x * x * x)));
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
      const Scalar cdf = half * (Scalar(1) + std::erf(x * Scalar(detail::gelu_inv_sqrt2)));
      const Scalar pdf = Scalar(detail::gelu_inv_sqrt_2pi) * std::exp(-half * x * x);
      return cdf + x * pdf;
    }
    case ActivationKind::gelu_tanh: {
      const Scalar k = Scalar(detail::gelu_sqrt_2_over_pi);
      const Scalar c = Scalar(detail::gelu_tanh_cubic);
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

/// y = f(x) element-wise, any shape. Vectorised with Eigen's packet tanh, logistic and erf (never a call to
/// std::erf per element), and the tanh GELU in float with the kernels of the instruction set chosen at run
/// time (nn/detail/vector_kernels.hpp). Large inputs are split into column chunks run by
/// elm::detail::parallel_chunks.
template <typename Scalar>
void activation_forward(ActivationKind kind, const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) {
  y.resize(x.rows(), x.cols());
  elm::detail::parallel_chunks(x.cols(), elm::detail::column_chunk(x.rows()), [&](Index, Index first, Index last) {
    const auto a = x.middleCols(first, last - first).array();
    auto out = y.middleCols(first, last - first).array();
    switch (kind) {
      case ActivationKind::identity: out = a; return;
      case ActivationKind::relu: out = a.cwiseMax(Scalar(0)); return;
      case ActivationKind::tanh: out = a.tanh(); return;
      case ActivationKind::sigmoid: out = a.logistic(); return;
      case ActivationKind::gelu_tanh: {
        const Scalar k = Scalar(detail::gelu_sqrt_2_over_pi), c = Scalar(detail::gelu_tanh_cubic);
        const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
          for (Index j = first; j < last; ++j) kernels.gelu_tanh_forward(x.col(j).data(), y.col(j).data(), x.rows(), k, c);
        });
        if (!wide) out = Scalar(0.5) * a * (Scalar(1) + (k * (a + c * a * a * a)).tanh());
        return;
      }
      case ActivationKind::gelu: {
        const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
          for (Index j = first; j < last; ++j)
            kernels.gelu_erf_forward(x.col(j).data(), y.col(j).data(), x.rows(),
                                     [&](Index i) { y(i, j) = detail::activate(ActivationKind::gelu, x(i, j)); });
        });
        if (!wide) out = Scalar(0.5) * a * (Scalar(1) + (a * Scalar(detail::gelu_inv_sqrt2)).erf());
        return;
      }
    }
  });
}

/// dx = f'(x) * dy element-wise. x is the input given to forward. Throws ShapeError when shapes differ.
template <typename Scalar>
void activation_backward(ActivationKind kind, const Eigen::Ref<const Matrix<Scalar>>& x,
                         const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
  check_shape(dy, x.rows(), x.cols(), "elm::nn::activation_backward", "dy");
  dx.resize(x.rows(), x.cols());
  elm::detail::parallel_chunks(x.cols(), elm::detail::column_chunk(x.rows()), [&](Index, Index first, Index last) {
    const auto a = x.middleCols(first, last - first).array();
    const auto g = dy.middleCols(first, last - first).array();
    auto out = dx.middleCols(first, last - first).array();
    switch (kind) {
      case ActivationKind::identity: out = g; return;
      case ActivationKind::relu: out = (a > Scalar(0)).select(g, Scalar(0)); return;  // PyTorch: 0 at x = 0
      case ActivationKind::tanh: out = g * (Scalar(1) - a.tanh().square()); return;
      case ActivationKind::sigmoid: {
        out = a.logistic();
        out = g * out * (Scalar(1) - out);
        return;
      }
      case ActivationKind::gelu_tanh: {
        // d/dx [x (1 + t) / 2] = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2, t = tanh(k (x + c x^3))
        const Scalar k = Scalar(detail::gelu_sqrt_2_over_pi), c = Scalar(detail::gelu_tanh_cubic), half = Scalar(0.5);
        const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
          for (Index j = first; j < last; ++j)
            kernels.gelu_tanh_backward(x.col(j).data(), dy.col(j).data(), dx.col(j).data(), x.rows(), k, c);
        });
        if (wide) return;
        out = (k * (a + c * a * a * a)).tanh();
        out = g * (half * (Scalar(1) + out) +
                   half * a * (Scalar(1) - out.square()) * k * (Scalar(1) + Scalar(3) * c * a * a));
        return;
      }
      case ActivationKind::gelu: {
        // Phi(x) + x phi(x)
        const bool wide = detail::with_vector_kernels<Scalar>([&](auto kernels) {
          for (Index j = first; j < last; ++j)
            kernels.gelu_erf_backward(x.col(j).data(), dy.col(j).data(), dx.col(j).data(), x.rows(), [&](Index i) {
              dx(i, j) = dy(i, j) * detail::activate_derivative(ActivationKind::gelu, x(i, j));
            });
        });
        if (wide) return;
        const Scalar half = Scalar(0.5);
        out = g * (half * (Scalar(1) + (a * Scalar(detail::gelu_inv_sqrt2)).erf()) +
                   a * Scalar(detail::gelu_inv_sqrt_2pi) * (-half * a * a).exp());
        return;
      }
    }
  });
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
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    activation_forward<Scalar>(kind_, x, y);
    if (cache) cache->x = x;
  }

  /// dx = f'(x) * dy (overwritten).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    activation_backward<Scalar>(kind_, cache.x, dy, dx);
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) {}
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  ActivationKind kind_;
};

}  // namespace elm::nn
