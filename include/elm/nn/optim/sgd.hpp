// SPDX-License-Identifier: MIT
// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay (PyTorch's torch.optim.SGD).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Settings of Sgd, with PyTorch's names and defaults (lr has none there).
struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  ///< L2: added to the gradient
  bool nesterov = false;
};

/// torch.optim.SGD, step for step: g = grad + wd p; b = g on the first step, else b = mu b + (1 - dampening) g;
/// g = g + mu b (Nesterov) or b; p -= lr g. State: one momentum buffer per trainable parameter,
/// named "momentum_buffer.<parameter>" for checkpoints. Frozen parameters (trainable = false) are skipped.
template <typename Scalar = float>
class Sgd {
  static_assert(std::is_floating_point_v<Scalar>, "Sgd needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;

  /// Throws InvalidArgument for lr < 0, momentum < 0, weight_decay < 0, or Nesterov without momentum or
  /// with dampening (PyTorch's rules).
  explicit Sgd(const SgdOptions& options = {}) : options_(options) {
    constexpr const char* where = "elm::nn::Sgd";
    check_argument(options.lr >= 0.0, where, "expected lr >= 0, got ", options.lr);
    check_argument(options.momentum >= 0.0, where, "expected momentum >= 0, got ", options.momentum);
    check_argument(options.weight_decay >= 0.0, where, "expected weight_decay >= 0, got ", options.weight_decay);
    check_argument(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0), where,
                   "Nesterov momentum needs momentum > 0 and dampening = 0");
  }

  double lr() const { return options_.lr; }
  /// Sets the learning rate of the next steps (schedules call this before each step).
  void set_lr(double lr) {
    check_argument(lr >= 0.0, "elm::nn::Sgd::set_lr", "expected lr >= 0, got ", lr);
    options_.lr = lr;
  }
  const SgdOptions& options() const { return options_; }
  /// Number of steps taken.
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t steps) { steps_ = steps; }

  /// One update of every trainable parameter of `module` from its gradient.
  template <typename Module>
  void step(Module& module) {
    const Scalar lr = static_cast<Scalar>(options_.lr);
    const Scalar mu = static_cast<Scalar>(options_.momentum);
    const Scalar wd = static_cast<Scalar>(options_.weight_decay);
    const Scalar keep = static_cast<Scalar>(1.0 - options_.dampening);
    module.for_each_parameter("", [&](const std::string& name, Parameter<Scalar>& p) {
      if (!p.trainable) return;
      Matrix<Scalar> g = p.gradient();
      if (wd != Scalar(0)) g += wd * p.value;
      if (mu != Scalar(0)) {
        auto [it, fresh] = buffers_.try_emplace(name);
        Matrix<Scalar>& buf = it->second;
        if (fresh || buf.size() == 0) {
          buf = g;
        } else {
          check_shape(buf, g.rows(), g.cols(), "elm::nn::Sgd::step", "momentum buffer of " + name);
          buf = mu * buf + keep * g;
        }
        if (options_.nesterov)
          g += mu * buf;
        else
          g = buf;
      }
      p.value -= lr * g;
    });
    ++steps_;
  }

  /// Creates zero state for every trainable parameter, as a checkpoint restore needs before reading into it.
  /// Nothing before the first step (no buffer exists yet, as in PyTorch).
  template <typename Module>
  void init_state(Module& module) {
    if (options_.momentum == 0.0 || steps_ == 0) return;
    module.for_each_parameter("", [&](const std::string& name, Parameter<Scalar>& p) {
      if (!p.trainable) return;
      auto& buf = buffers_[name];
      if (buf.size() == 0) buf = Matrix<Scalar>::Zero(p.value.rows(), p.value.cols());
    });
  }

  /// Visits every state tensor as f(name, tensor): "momentum_buffer.<parameter>".
  template <typename F>
  void for_each_state(F&& f) {
    for (auto& [name, buf] : buffers_) f("momentum_buffer." + name, buf);
  }

 private:
  SgdOptions options_;
  std::int64_t steps_ = 0;
  std::map<std::string, Matrix<Scalar>> buffers_;
};

}  // namespace elm::nn
