// SPDX-License-Identifier: MIT
// Gradient clipping by global norm (PyTorch's clip_grad_norm_) and by value.
#pragma once

#include <cmath>
#include <string>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// The global L2 norm of every trainable gradient of `module`, sqrt(sum_p ||grad_p||^2) (accumulated in double).
template <typename Module>
double grad_norm(Module& module) {
  double total = 0.0;
  module.for_each_parameter("", [&](const std::string&, auto& p) {
    if (p.trainable) total += static_cast<double>(p.grad.squaredNorm());  // an unallocated gradient is zero
  });
  return std::sqrt(total);
}

/// torch.nn.utils.clip_grad_norm_: scales every trainable gradient by min(1, max_norm / (norm + 1e-6)).
/// Returns the norm before clipping (a non-finite norm is returned and nothing is scaled: callers decide).
/// Throws InvalidArgument for max_norm <= 0.
template <typename Module>
double clip_grad_norm(Module& module, double max_norm) {
  check_argument(max_norm > 0.0, "elm::nn::clip_grad_norm", "expected max_norm > 0, got ", max_norm);
  const double norm = grad_norm(module);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    module.for_each_parameter("", [&](const std::string&, auto& p) {
      using Scalar = typename std::decay_t<decltype(p.value)>::Scalar;
      if (p.trainable) p.grad *= static_cast<Scalar>(coef);  // empty stays empty
    });
  }
  return norm;
}

/// torch.nn.utils.clip_grad_value_: clamps every trainable gradient entry to [-limit, limit].
template <typename Module>
void clip_grad_value(Module& module, double limit) {
  check_argument(limit > 0.0, "elm::nn::clip_grad_value", "expected limit > 0, got ", limit);
  module.for_each_parameter("", [&](const std::string&, auto& p) {
    using Scalar = typename std::decay_t<decltype(p.value)>::Scalar;
    const Scalar l = static_cast<Scalar>(limit);
    if (p.trainable && p.grad.size() != 0) p.grad = p.grad.cwiseMax(-l).cwiseMin(l);
  });
}

}  // namespace elm::nn
