// SPDX-License-Identifier: MIT
// BatchNorm: per-channel normalisation with batch statistics in training and running statistics at inference.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// BatchNorm's options, PyTorch's nn.BatchNorm1d / BatchNorm2d(num_features, eps, momentum, affine,
/// track_running_stats) (momentum a number: the cumulative average of momentum=None is not offered).
struct BatchNormConfig {
  Index channels = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

/// PyTorch's nn.BatchNorm1d and nn.BatchNorm2d, which are one operation on the library's layout: a channel is a
/// row, so the statistics of channel c run over every column, i.e. over the batch and the positions (x: (C, B) after
/// a Linear, (C, B*L) for sequences, (C, B*H*W) for images).
///   training (or track_running_stats = false): y = weight (x - mean) / sqrt(var + eps) + bias, mean and the
///     biased var of each row over its N columns;
///   inference: the same with running_mean and running_var.
/// Parameters `weight` (C, ones) and `bias` (C, zeros) when affine; the buffers `running_mean` (C, zeros) and
/// `running_var` (C, ones) are visited too, with trainable = false, so checkpoints save them under PyTorch's names
/// and optimizers and gradient clipping skip them. PyTorch's int64 `num_batches_tracked` is not a floating tensor:
/// it is num_batches_tracked() here, not visited (it only matters to momentum=None): a PyTorch state dict loads with
/// io::LoadOptions::strict = false, which reports that name as unexpected (set_num_batches_tracked restores it).
/// x: (C, N) -> y: (C, N).
template <typename Scalar = float>
class BatchNorm {
  static_assert(std::is_floating_point_v<Scalar>, "BatchNorm needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: x_hat and 1/sqrt(var + eps) per channel; after a training forward, the batch's mean and
  /// unbiased variance, which backward moves the running statistics towards.
  struct Cache {
    Matrix<Scalar> x_hat;
    Vector<Scalar> rstd;
    Vector<Scalar> batch_mean, batch_var_unbiased;
    bool batch_statistics = false;
  };

  /// InvalidArgument on channels < 1, eps <= 0 or momentum outside [0, 1].
  explicit BatchNorm(const BatchNormConfig& config) : config_(config) {
    constexpr std::string_view where = "elm::nn::BatchNorm";
    ELM_EXPECT(config.channels > 0, InvalidArgument, where, ": expected channels > 0, got ", config.channels);
    ELM_EXPECT(config.eps > 0.0, InvalidArgument, where, ": expected eps > 0, got ", config.eps);
    ELM_EXPECT(config.momentum >= 0.0 && config.momentum <= 1.0, InvalidArgument, where,
               ": expected 0 <= momentum <= 1, got ", config.momentum);
    if (config.affine) {
      weight_ = Parameter<Scalar>({config.channels});
      bias_ = Parameter<Scalar>({config.channels});
    }
    if (config.track_running_stats) {
      running_mean_ = Parameter<Scalar>({config.channels});
      running_var_ = Parameter<Scalar>({config.channels});
      running_mean_.trainable = false;
      running_var_.trainable = false;
    }
    initialise();
  }

  /// PyTorch's initialisation: weight ones, bias zeros, running_mean zeros, running_var ones, no batches tracked
  /// (the generator is not drawn from).
  void reset_parameters(Rng&) { initialise(); }

  const BatchNormConfig& config() const { return config_; }
  Index channels() const { return config_.channels; }
  /// The affine parameters; empty (0x0) when affine is false.
  Parameter<Scalar>& weight() { return weight_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& bias() const { return bias_; }
  /// The running statistics (empty when track_running_stats is false).
  Parameter<Scalar>& running_mean() { return running_mean_; }
  const Parameter<Scalar>& running_mean() const { return running_mean_; }
  Parameter<Scalar>& running_var() { return running_var_; }
  const Parameter<Scalar>& running_var() const { return running_var_; }
  /// How many training batches have entered the running statistics.
  Index num_batches_tracked() const { return num_batches_tracked_; }
  /// Restores the count, e.g. from a PyTorch state dict's int64 `num_batches_tracked` (InvalidArgument if < 0).
  void set_num_batches_tracked(Index count) {
    ELM_EXPECT(count >= 0, InvalidArgument, "elm::nn::BatchNorm::set_num_batches_tracked: expected count >= 0, got ",
               count);
    num_batches_tracked_ = count;
  }

  /// Training context (or no running statistics): normalises with the batch's statistics, which need at least two
  /// columns (ShapeError otherwise, as PyTorch's "more than 1 value per channel"); inference: with the running ones.
  /// ShapeError when x's rows are not channels or x has no columns.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::nn::BatchNorm::forward";
    check_shape(x, channels(), -1, where, "x");
    const Index N = x.cols();
    ELM_EXPECT(N > 0, ShapeError, where, ": x has no columns, expected a non-empty batch");
    const bool batch_stats = context.training || !config_.track_running_stats;
    Vector<Scalar> mean, var;
    if (batch_stats) {
      ELM_EXPECT(N > 1, ShapeError, where, ": batch statistics need more than one value per channel, x has ", N,
                 " column");
      // 1) mean per channel; 2) the biased variance about it (two passes: stable for large means)
      mean = x.rowwise().mean();
      var = (x.colwise() - mean).array().square().rowwise().sum().matrix() / static_cast<Scalar>(N);
    } else {
      mean = running_mean_.value.col(0);
      var = running_var_.value.col(0);
    }
    // 3) x_hat = (x - mean) rstd; 4) y = weight x_hat + bias
    Vector<Scalar> rstd = (var.array() + static_cast<Scalar>(config_.eps)).rsqrt().matrix();
    Matrix<Scalar> local_hat;
    Matrix<Scalar>& x_hat = cache ? cache->x_hat : local_hat;
    x_hat = rstd.asDiagonal() * (x.colwise() - mean);
    if (config_.affine) {
      y = weight_.value.col(0).asDiagonal() * x_hat;
      y.colwise() += bias_.value.col(0);
    } else {
      y = x_hat;
    }
    if (cache) {
      cache->rstd = std::move(rstd);
      cache->batch_statistics = batch_stats;
      if (batch_stats) {
        cache->batch_mean = std::move(mean);
        cache->batch_var_unbiased = var * (static_cast<Scalar>(N) / static_cast<Scalar>(N - 1));
      }
    }
  }

  /// dx overwritten, weight and bias gradients added; after a training forward with running statistics, also
  /// update_running_statistics(cache) (PyTorch updates them in forward, which is const here: one update per
  /// training step, as there). With batch statistics, per channel with g = weight dy:
  ///   dx = rstd (g - mean(g) - x_hat mean(g x_hat));  with running statistics dx = rstd g.
  /// dweight += sum dy x_hat, dbias += sum dy.  dy: (C, N) -> dx: (C, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::BatchNorm::backward";
    ELM_EXPECT(cache.rstd.size() == channels(), InvalidArgument, where,
               ": the cache holds no forward pass (run forward with a cache first)");
    check_shape(dy, channels(), cache.x_hat.cols(), where, "dy");
    if (config_.affine) {
      if (weight_.trainable) weight_.gradient().col(0) += dy.cwiseProduct(cache.x_hat).rowwise().sum();
      if (bias_.trainable) bias_.gradient().col(0) += elm::row_sums(dy);
    }
    Matrix<Scalar> g = config_.affine ? (weight_.value.col(0).asDiagonal() * dy).eval() : Matrix<Scalar>(dy);
    if (cache.batch_statistics) {
      const Scalar inv_n = Scalar(1) / static_cast<Scalar>(dy.cols());
      const Vector<Scalar> mean_g = g.rowwise().sum() * inv_n;
      const Vector<Scalar> mean_gx = g.cwiseProduct(cache.x_hat).rowwise().sum() * inv_n;
      g.colwise() -= mean_g;
      g -= mean_gx.asDiagonal() * cache.x_hat;
    }
    dx = cache.rstd.asDiagonal() * g;
    if (cache.batch_statistics && config_.track_running_stats) update_running_statistics(cache);
  }

  /// running = (1 - momentum) running + momentum batch, with the batch's unbiased variance (PyTorch's rule);
  /// counts the batch. backward calls it; call it directly only after a training forward that has no backward.
  void update_running_statistics(const Cache& cache) {
    if (!config_.track_running_stats || !cache.batch_statistics) return;
    const Scalar m = static_cast<Scalar>(config_.momentum);
    running_mean_.value.col(0) = (Scalar(1) - m) * running_mean_.value.col(0) + m * cache.batch_mean;
    running_var_.value.col(0) = (Scalar(1) - m) * running_var_.value.col(0) + m * cache.batch_var_unbiased;
    ++num_batches_tracked_;
  }

  /// Visits `weight`, `bias` (affine), then `running_mean`, `running_var` (trainable = false; when tracked).
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit(*this, prefix, f);
  }

  void zero_grad() {
    weight_.zero_grad();
    bias_.zero_grad();
  }

 private:
  void initialise() {
    if (config_.affine) {
      weight_.value.setOnes();
      bias_.value.setZero();
    }
    if (config_.track_running_stats) {
      running_mean_.value.setZero();
      running_var_.value.setOnes();
    }
    num_batches_tracked_ = 0;
  }

  template <typename Self, typename F>
  static void visit(Self& self, std::string_view prefix, F& f) {
    if (self.config_.affine) {
      f(join_name(prefix, "weight"), self.weight_);
      f(join_name(prefix, "bias"), self.bias_);
    }
    if (self.config_.track_running_stats) {
      f(join_name(prefix, "running_mean"), self.running_mean_);
      f(join_name(prefix, "running_var"), self.running_var_);
    }
  }

  BatchNormConfig config_;
  Parameter<Scalar> weight_, bias_, running_mean_, running_var_;
  Index num_batches_tracked_ = 0;
};

/// PyTorch's names: both are BatchNorm on the library's layout.
template <typename Scalar = float>
using BatchNorm1d = BatchNorm<Scalar>;
template <typename Scalar = float>
using BatchNorm2d = BatchNorm<Scalar>;

}  // namespace elm::nn
