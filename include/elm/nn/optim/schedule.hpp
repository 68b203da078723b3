// SPDX-License-Identifier: MIT
// Learning-rate schedules: constant, and linear warmup followed by cosine or linear decay.
#pragma once

#include <cmath>
#include <cstdint>

#include "elm/core/check.hpp"

namespace elm::nn {

/// The learning rate of step s (0-based): constant, or linear warmup to `peak` over `warmup` steps
/// (lr = peak (s + 1) / warmup, so the first step is not wasted) then a decay to `min_lr` at step `total`, with
/// p = (s - warmup) / (total - warmup): cosine, lr = min + (peak - min) (1 + cos(pi p)) / 2 (GPT-2, nanoGPT), or
/// linear, lr = min + (peak - min) (1 - p) (BERT, Hugging Face's get_linear_schedule_with_warmup); min_lr afterwards.
/// Stateless: a resumed run asks for the same step and gets the same rate.
class LrSchedule {
 public:
  /// A constant rate.
  static LrSchedule constant(double lr) {
    check_argument(lr >= 0.0, "elm::nn::LrSchedule::constant", "expected lr >= 0, got ", lr);
    return LrSchedule(lr, 0, 0, lr, Decay::none);
  }

  /// Linear warmup then cosine decay. Throws InvalidArgument unless peak >= min_lr >= 0, warmup >= 0 and
  /// total > warmup.
  static LrSchedule warmup_cosine(double peak, std::int64_t warmup, std::int64_t total, double min_lr = 0.0) {
    check_decay(peak, warmup, total, min_lr, "elm::nn::LrSchedule::warmup_cosine");
    return LrSchedule(peak, warmup, total, min_lr, Decay::cosine);
  }

  /// Linear warmup then linear decay. Throws InvalidArgument unless peak >= min_lr >= 0, warmup >= 0 and
  /// total > warmup.
  static LrSchedule warmup_linear(double peak, std::int64_t warmup, std::int64_t total, double min_lr = 0.0) {
    check_decay(peak, warmup, total, min_lr, "elm::nn::LrSchedule::warmup_linear");
    return LrSchedule(peak, warmup, total, min_lr, Decay::linear);
  }

  /// The rate of step s >= 0.
  double operator()(std::int64_t s) const {
    if (decay_ == Decay::none) return peak_;
    if (s < warmup_) return peak_ * static_cast<double>(s + 1) / static_cast<double>(warmup_);
    if (s >= total_) return min_lr_;
    const double progress = static_cast<double>(s - warmup_) / static_cast<double>(total_ - warmup_);
    if (decay_ == Decay::linear) return min_lr_ + (peak_ - min_lr_) * (1.0 - progress);
    const double pi = 3.14159265358979323846;
    return min_lr_ + (peak_ - min_lr_) * 0.5 * (1.0 + std::cos(pi * progress));
  }

  /// Steps of the warmup (0 for a constant rate).
  std::int64_t warmup_steps() const { return warmup_; }
  /// The step at which the decay reaches min_lr (0 for a constant rate: there is no decay).
  std::int64_t total_steps() const { return total_; }

 private:
  enum class Decay { none, cosine, linear };

  LrSchedule(double peak, std::int64_t warmup, std::int64_t total, double min_lr, Decay decay)
      : peak_(peak), warmup_(warmup), total_(total), min_lr_(min_lr), decay_(decay) {}

  static void check_decay(double peak, std::int64_t warmup, std::int64_t total, double min_lr, const char* where) {
    check_argument(peak >= min_lr && min_lr >= 0.0, where, "expected peak >= min_lr >= 0, got peak = ", peak,
                   ", min_lr = ", min_lr);
    check_argument(warmup >= 0 && total > warmup, where, "expected 0 <= warmup < total, got warmup = ", warmup,
                   ", total = ", total);
  }

  double peak_;
  std::int64_t warmup_, total_;
  double min_lr_;
  Decay decay_;
};

}  // namespace elm::nn
