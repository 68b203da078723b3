// SPDX-License-Identifier: MIT
// Softmax and log-softmax over the columns of an activation, as layers, with their backward passes.
#pragma once

#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// Backward of column softmax: dx = y * (dy - sum_i(dy_i y_i)) per column, from the output y.
/// y, dy: (V, N) -> dx: (V, N). Throws ShapeError when dy and y differ in shape.
template <typename Scalar>
void softmax_backward(const Eigen::Ref<const Matrix<Scalar>>& y, const Eigen::Ref<const Matrix<Scalar>>& dy,
                      Matrix<Scalar>& dx) {
  check_shape(dy, y.rows(), y.cols(), "elm::nn::softmax_backward", "dy");
  dx.resize(y.rows(), y.cols());
  for (Index t = 0; t < y.cols(); ++t) {
    const Scalar dot = y.col(t).dot(dy.col(t));
    dx.col(t) = (y.col(t).array() * (dy.col(t).array() - dot)).matrix();
  }
}

/// Backward of column log-softmax: dx = dy - exp(y) * sum_i dy_i per column, from the output y = log p.
template <typename Scalar>
void log_softmax_backward(const Eigen::Ref<const Matrix<Scalar>>& y, const Eigen::Ref<const Matrix<Scalar>>& dy,
                          Matrix<Scalar>& dx) {
  check_shape(dy, y.rows(), y.cols(), "elm::nn::log_softmax_backward", "dy");
  dx.resize(y.rows(), y.cols());
  for (Index t = 0; t < y.cols(); ++t) {
    const Scalar total = dy.col(t).sum();
    dx.col(t) = (dy.col(t).array() - y.col(t).array().exp() * total).matrix();
  }
}

/// Softmax of each column as a layer (PyTorch's softmax(dim=-1) on (N, V)).  x: (V, N) -> y: (V, N).
template <typename Scalar = float>
class Softmax {
  static_assert(std::is_floating_point_v<Scalar>, "Softmax needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    Matrix<Scalar> y;
  };
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    softmax_columns<Scalar>(x, y);
    if (cache) cache->y = y;
  }
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    softmax_backward<Scalar>(cache.y, dy, dx);
  }
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};

/// Log-softmax of each column as a layer (stable: the column maximum is subtracted).  x: (V, N) -> y: (V, N).
template <typename Scalar = float>
class LogSoftmax {
  static_assert(std::is_floating_point_v<Scalar>, "LogSoftmax needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    Matrix<Scalar> y;
  };
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    log_softmax_columns<Scalar>(x, y);
    if (cache) cache->y = y;
  }
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    log_softmax_backward<Scalar>(cache.y, dy, dx);
  }
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};

}  // namespace elm::nn
