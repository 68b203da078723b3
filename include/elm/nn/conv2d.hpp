// SPDX-License-Identifier: MIT
// Conv2d: the 2-D convolution over a batch of images, with its backward pass.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/convolution.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Conv2d's options, PyTorch's nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
/// with a size per axis, height first (zero padding, groups = 1).
struct Conv2dConfig {
  Index in_channels = 0;
  Index out_channels = 0;
  Size2d kernel{1, 1};
  Size2d stride{1, 1};
  Size2d padding{0, 0};
  Size2d dilation{1, 1};
  bool bias = true;
};

/// PyTorch's nn.Conv2d on the library's image layout (ImageShape): x: (C_in, B*H*W), pixel (h, w) of image b in
/// column (b*H + h)*W + w (PyTorch's channels_last bytes). Parameters `weight` (out, in, kh, kw) and `bias` (out),
/// PyTorch's names and bytes.
///   y[o, b, h, w] = bias[o] + sum_{i, r, s} weight[o, i, r, s] x[i, b, h*sh - ph + r*dh, w*sw - pw + s*dw]
/// x: (C_in, B*H*W) -> y: (C_out, B*H_out*W_out), per axis out = floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1.
/// Computed as one matrix product over the im2col matrix (kh*kw*C_in, B*H_out*W_out), which the cache keeps:
/// O(C_out * C_in * kh * kw * B * H_out * W_out) time, the cache kh*kw times the input's size.
template <typename Scalar = float>
class Conv2d {
  static_assert(std::is_floating_point_v<Scalar>, "Conv2d needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the input's im2col matrix and the batch's sizes.
  using Cache = typename detail::Convolution<Scalar>::Cache;

  /// Zero-initialised layer (load the parameters or call reset_parameters). InvalidArgument on sizes < 1
  /// (padding < 0).
  explicit Conv2d(const Conv2dConfig& config)
      : config_(config),
        conv_(config.in_channels, config.out_channels, {config.kernel, config.stride, config.padding, config.dilation},
              config.bias, {config.out_channels, config.in_channels, config.kernel.height, config.kernel.width},
              "elm::nn::Conv2d") {}
  /// The zero-initialised layer followed by reset_parameters(rng).
  Conv2d(const Conv2dConfig& config, Rng& rng) : Conv2d(config) { reset_parameters(rng); }

  /// PyTorch's default initialisation: weight and bias uniform in +-1/sqrt(in_channels * kh * kw).
  void reset_parameters(Rng& rng) { conv_.reset_parameters(rng); }

  const Conv2dConfig& config() const { return config_; }
  Parameter<Scalar>& weight() { return conv_.weight(); }
  const Parameter<Scalar>& weight() const { return conv_.weight(); }
  /// The bias; empty (0x0) when the layer has none.
  Parameter<Scalar>& bias() { return conv_.bias(); }
  const Parameter<Scalar>& bias() const { return conv_.bias(); }

  /// The output images' shape for inputs of `shape`; ShapeError when the kernel is larger than the padded input.
  ImageShape output_shape(const ImageShape& shape) const {
    constexpr std::string_view where = "elm::nn::Conv2d::output_shape";
    const Conv2dConfig& c = config_;
    return {shape.batch,
            detail::window_output_size(shape.height, c.kernel.height, c.stride.height, c.padding.height,
                                       c.dilation.height, where, "the height"),
            detail::window_output_size(shape.width, c.kernel.width, c.stride.width, c.padding.width, c.dilation.width,
                                       where, "the width")};
  }

  /// x: (C_in, B*H*W) -> y: (C_out, B*H_out*W_out). ShapeError when x's rows are not in_channels, its columns are
  /// not shape's B*H*W (B, H, W >= 1), or the kernel is larger than the padded image.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const ImageShape& shape, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    conv_.forward(x, shape, y, cache, "elm::nn::Conv2d::forward");
  }

  /// dx overwritten (C_in, B*H*W); weight and bias gradients added.  dy: (C_out, B*H_out*W_out).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    conv_.backward(cache, dy, dx, "elm::nn::Conv2d::backward");
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
  Conv2dConfig config_;
  detail::Convolution<Scalar> conv_;
};

}  // namespace elm::nn
