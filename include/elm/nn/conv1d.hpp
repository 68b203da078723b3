// SPDX-License-Identifier: MIT
// Conv1d: the 1-D convolution over the positions of a batch of sequences (a text CNN's filters), with backward.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/convolution.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Conv1d's options, PyTorch's nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
/// (zero padding, groups = 1).
struct Conv1dConfig {
  Index in_channels = 0;
  Index out_channels = 0;
  Index kernel = 1;
  Index stride = 1;
  Index padding = 0;
  Index dilation = 1;
  bool bias = true;
};

/// PyTorch's nn.Conv1d on the library's layout: a batch of B sequences of length L with C_in channels is
/// (C_in, B*L), sequence b's position t in column b*L + t (PyTorch's (B, L, C) bytes). Parameters `weight`
/// (out, in, kernel) and `bias` (out), PyTorch's names and bytes.
///   y[o, b, t] = bias[o] + sum_{i, k} weight[o, i, k] x[i, b, t*stride - padding + k*dilation]  (0 off the input)
/// x: (C_in, B*L) -> y: (C_out, B*L_out), L_out = floor((L + 2 padding - dilation (kernel - 1) - 1) / stride) + 1.
/// Computed as one matrix product over the im2col matrix (kernel*C_in, B*L_out), which the cache keeps:
/// O(C_out * C_in * kernel * B * L_out) time, the cache kernel times the input's size.
template <typename Scalar = float>
class Conv1d {
  static_assert(std::is_floating_point_v<Scalar>, "Conv1d needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the input's im2col matrix and the batch's sizes.
  using Cache = typename detail::Convolution<Scalar>::Cache;

  /// Zero-initialised layer (load the parameters or call reset_parameters). InvalidArgument on sizes < 1
  /// (padding < 0).
  explicit Conv1d(const Conv1dConfig& config)
      : config_(config),
        conv_(config.in_channels, config.out_channels, window(config), config.bias,
              {config.out_channels, config.in_channels, config.kernel}, "elm::nn::Conv1d") {}
  /// The zero-initialised layer followed by reset_parameters(rng).
  Conv1d(const Conv1dConfig& config, Rng& rng) : Conv1d(config) { reset_parameters(rng); }

  /// PyTorch's default initialisation: weight and bias uniform in +-1/sqrt(in_channels * kernel).
  void reset_parameters(Rng& rng) { conv_.reset_parameters(rng); }

  const Conv1dConfig& config() const { return config_; }
  Parameter<Scalar>& weight() { return conv_.weight(); }
  const Parameter<Scalar>& weight() const { return conv_.weight(); }
  /// The bias; empty (0x0) when the layer has none.
  Parameter<Scalar>& bias() { return conv_.bias(); }
  const Parameter<Scalar>& bias() const { return conv_.bias(); }

  /// The output length for inputs of `length` positions; ShapeError when the kernel is larger than the padded input.
  Index output_length(Index length) const {
    return detail::window_output_size(length, config_.kernel, config_.stride, config_.padding, config_.dilation,
                                      "elm::nn::Conv1d::output_length", "the length");
  }

  /// x: (C_in, batch*L) -> y: (C_out, batch*L_out). ShapeError when x's rows are not in_channels, its columns do
  /// not split into `batch` >= 1 sequences, or the kernel is larger than the padded sequence.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::Conv1d::forward";
    const Index length = detail::sequence_length(x.cols(), batch, where);
    conv_.forward(x, ImageShape{batch, 1, length}, y, cache, where);
  }

  /// dx overwritten (C_in, batch*L); weight and bias gradients added.  dy: (C_out, batch*L_out).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    conv_.backward(cache, dy, dx, "elm::nn::Conv1d::backward");
  }

  /// Visits `weight` and `bias` as f(name, parameter); the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    conv_.for_each_parameter(prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    conv_.for_each_parameter(prefix, f);
  }
  void zero_grad() { conv_.zero_grad(); }

 private:
  static detail::Window window(const Conv1dConfig& c) {
    return {{1, c.kernel}, {1, c.stride}, {0, c.padding}, {1, c.dilation}};
  }

  Conv1dConfig config_;
  detail::Convolution<Scalar> conv_;
};

}  // namespace elm::nn
