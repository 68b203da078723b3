// SPDX-License-Identifier: MIT
// Adam with L2 weight decay, and the update shared with AdamW (PyTorch's torch.optim.Adam).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Settings of Adam and AdamW, PyTorch's names. `decoupled` selects AdamW's weight decay.
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  ///< true: p *= 1 - lr wd before the update (AdamW); false: g += wd p (Adam)
};

/// torch.optim.Adam (and AdamW when options.decoupled), the single-tensor update: t += 1;
/// m = m + (1 - b1)(g - m); v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),
/// bias corrections in double as PyTorch computes them. Kingma and Ba 2015; Loshchilov and Hutter 2019.
/// State per trainable parameter: "exp_avg.<parameter>", "exp_avg_sq.<parameter>"; plus the step count t.
template <typename Scalar = float>
class Adam {
  static_assert(std::is_floating_point_v<Scalar>, "Adam needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;

  /// Throws InvalidArgument for lr < 0, betas outside [0, 1), eps < 0 or weight_decay < 0.
  explicit Adam(const AdamOptions& options = {}) : options_(options) {
    constexpr const char* where = "elm::nn::Adam";
    check_argument(options.lr >= 0.0, where, "expected lr >= 0, got ", options.lr);
    check_argument(options.beta1 >= 0.0 && options.beta1 < 1.0, where, "expected 0 <= beta1 < 1, got ", options.beta1);
    check_argument(options.beta2 >= 0.0 && options.beta2 < 1.0, where, "expected 0 <= beta2 < 1, got ", options.beta2);
    check_argument(options.eps >= 0.0, where, "expected eps >= 0, got ", options.eps);
    check_argument(options.weight_decay >= 0.0, where, "expected weight_decay >= 0, got ", options.weight_decay);
  }

  double lr() const { return options_.lr; }
  void set_lr(double lr) {
    check_argument(lr >= 0.0, "elm::nn::Adam::set_lr", "expected lr >= 0, got ", lr);
    options_.lr = lr;
  }
  const AdamOptions& options() const { return options_; }
  /// Number of steps taken (t; the bias corrections use it).
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t steps) {
    check_argument(steps >= 0, "elm::nn::Adam::set_steps", "expected steps >= 0, got ", steps);
    steps_ = steps;
  }

  /// One update of every trainable parameter of `module` from its gradient.
  template <typename Module>
  void step(Module& module) {
    ++steps_;
    const double t = static_cast<double>(steps_);
    const double bias1 = 1.0 - std::pow(options_.beta1, t);
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, t));
    const Scalar step_size = static_cast<Scalar>(options_.lr / bias1);
    const Scalar inv_bias2_sqrt = static_cast<Scalar>(1.0 / bias2_sqrt);
    const Scalar one_minus_b1 = static_cast<Scalar>(1.0 - options_.beta1);
    const Scalar b2 = static_cast<Scalar>(options_.beta2);
    const Scalar one_minus_b2 = static_cast<Scalar>(1.0 - options_.beta2);
    const Scalar eps = static_cast<Scalar>(options_.eps);
    const Scalar wd = static_cast<Scalar>(options_.weight_decay);
    const Scalar decay = static_cast<Scalar>(1.0 - options_.lr * options_.weight_decay);
    module.for_each_parameter("", [&](const std::string& name, Parameter<Scalar>& p) {
      if (!p.trainable) return;
      Moments& s = slot(name, p);
      // 1) weight decay: decoupled (shrink the weights) or L2 (into the gradient)
      Matrix<Scalar> g;
      if (options_.decoupled) {
        if (options_.weight_decay != 0.0) p.value *= decay;
      } else if (options_.weight_decay != 0.0) {
        g = p.gradient() + wd * p.value;
      }
      const Matrix<Scalar>& grad = (options_.decoupled || options_.weight_decay == 0.0) ? p.gradient() : g;
      // 2) moments, 3) bias-corrected step
      s.exp_avg += one_minus_b1 * (grad - s.exp_avg);
      s.exp_avg_sq = b2 * s.exp_avg_sq + one_minus_b2 * grad.cwiseProduct(grad);
      p.value.array() -= step_size * s.exp_avg.array() / (s.exp_avg_sq.array().sqrt() * inv_bias2_sqrt + eps);
    });
  }

  /// Creates zero moments for every trainable parameter, as a checkpoint restore needs before reading into
  /// them. Nothing before the first step (no moment exists yet).
  template <typename Module>
  void init_state(Module& module) {
    if (steps_ == 0) return;
    module.for_each_parameter("", [&](const std::string& name, Parameter<Scalar>& p) {
      if (p.trainable) slot(name, p);
    });
  }

  /// Visits every state tensor as f(name, tensor): "exp_avg.<parameter>", "exp_avg_sq.<parameter>".
  template <typename F>
  void for_each_state(F&& f) {
    for (auto& [name, s] : moments_) {
      f("exp_avg." + name, s.exp_avg);
      f("exp_avg_sq." + name, s.exp_avg_sq);
    }
  }

 private:
  struct Moments {
    Matrix<Scalar> exp_avg, exp_avg_sq;
  };

  Moments& slot(const std::string& name, const Parameter<Scalar>& p) {
    auto [it, fresh] = moments_.try_emplace(name);
    Moments& s = it->second;
    if (fresh) {
      s.exp_avg = Matrix<Scalar>::Zero(p.value.rows(), p.value.cols());
      s.exp_avg_sq = Matrix<Scalar>::Zero(p.value.rows(), p.value.cols());
    } else {
      check_shape(s.exp_avg, p.value.rows(), p.value.cols(), "elm::nn::Adam::step", "exp_avg." + name);
    }
    return s;
  }

  AdamOptions options_;
  std::int64_t steps_ = 0;
  std::map<std::string, Moments> moments_;
};

}  // namespace elm::nn
