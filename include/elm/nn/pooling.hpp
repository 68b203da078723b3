// SPDX-License-Identifier: MIT
// Pooling: max and average pooling over windows of sequences and images, and global pooling, with backward.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/window.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/layer.hpp"

namespace elm::nn {

/// What a pooling window computes.
enum class Pooling {
  max,      ///< the largest entry (PyTorch's MaxPool); its gradient goes to the first largest entry
  average,  ///< the mean (PyTorch's AvgPool)
};

/// Options of a 2-D pooling window, PyTorch's MaxPool2d / AvgPool2d(kernel_size, stride, padding,
/// count_include_pad) with ceil_mode = False and dilation 1. A stride of {0, 0} means the kernel's size
/// (PyTorch's stride=None). Padding may be at most half the kernel, as PyTorch requires.
struct Pool2dConfig {
  Pooling mode = Pooling::max;
  Size2d kernel{1, 1};
  Size2d stride{0, 0};
  Size2d padding{0, 0};
  bool count_include_pad = true;  ///< average: divide by the whole window, padding included (PyTorch's default)
};

/// The 1-D counterpart of Pool2dConfig (MaxPool1d / AvgPool1d); stride 0 means the kernel's size.
struct Pool1dConfig {
  Pooling mode = Pooling::max;
  Index kernel = 1;
  Index stride = 0;
  Index padding = 0;
  bool count_include_pad = true;
};

namespace detail {

/// The pooling both shells run on the image layout (a sequence is an image of height 1).
template <typename Scalar>
class WindowPooling {
 public:
  struct Cache {
    Geometry geometry;
    Matrix<Index> argmax;  // max: the input column each output entry came from (C, B*Ho*Wo)
    Vector<Scalar> inv_count;  // average: 1 / the divisor of each output position
  };

  WindowPooling() = default;
  WindowPooling(Pooling mode, const Window& window, bool count_include_pad, std::string_view where)
      : mode_(mode), window_(window), count_include_pad_(count_include_pad) {
    check_window(window, where);
    ELM_EXPECT(2 * window.padding.height <= window.kernel.height && 2 * window.padding.width <= window.kernel.width,
               InvalidArgument, where, ": expected padding at most half the kernel, got padding ",
               window.padding.height, "x", window.padding.width, " for kernel ", window.kernel.height, "x",
               window.kernel.width);
  }

  const Window& window() const { return window_; }
  Pooling mode() const { return mode_; }
  bool count_include_pad() const { return count_include_pad_; }

  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const ImageShape& shape, Matrix<Scalar>& y, Cache* cache,
               std::string_view where) const {
    const Geometry g = make_geometry<Scalar>(x, -1, shape, window_, where);
    const Index C = g.channels, n = g.out_columns();
    if (mode_ == Pooling::max) {
      // padding is -inf: never the maximum, since every window holds at least one pixel (padding <= kernel / 2)
      y.setConstant(C, n, -std::numeric_limits<Scalar>::infinity());
      Matrix<Index> argmax = Matrix<Index>::Constant(C, n, -1);
      for_each_tap(g, [&](Index out, Index in, Index) {
        for (Index c = 0; c < C; ++c) {
          const Scalar v = x(c, in);
          // strictly greater (NaN wins once, as PyTorch): the first largest entry in window order keeps it
          if (v > y(c, out) || (std::isnan(v) && !std::isnan(y(c, out)))) {
            y(c, out) = v;
            argmax(c, out) = in;
          }
        }
      });
      if (cache) cache->argmax = std::move(argmax);
    } else {
      y.setZero(C, n);
      Vector<Scalar> count = Vector<Scalar>::Zero(n);
      for_each_tap(g, [&](Index out, Index in, Index) {
        y.col(out) += x.col(in);
        count(out) += Scalar(1);
      });
      Vector<Scalar> inv_count = count_include_pad_ ? Vector<Scalar>::Constant(n, Scalar(1) / Scalar(g.taps()))
                                                    : count.cwiseInverse().eval();
      y *= inv_count.asDiagonal();
      if (cache) cache->inv_count = std::move(inv_count);
    }
    if (cache) cache->geometry = g;
  }

  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx,
                std::string_view where) const {
    const Geometry& g = cache.geometry;
    const bool ready = g.in.batch > 0 && (mode_ == Pooling::max ? cache.argmax.cols() == g.out_columns()
                                                                : cache.inv_count.size() == g.out_columns());
    ELM_EXPECT(ready, InvalidArgument, where, ": the cache holds no forward pass (run forward with a cache first)");
    check_shape(dy, g.channels, g.out_columns(), where, "dy");
    dx.setZero(g.channels, g.in_columns());
    if (mode_ == Pooling::max) {
      for (Index j = 0; j < dy.cols(); ++j)
        for (Index c = 0; c < g.channels; ++c) dx(c, cache.argmax(c, j)) += dy(c, j);
    } else {
      for_each_tap(g, [&](Index out, Index in, Index) { dx.col(in) += dy.col(out) * cache.inv_count(out); });
    }
  }

 private:
  Pooling mode_ = Pooling::max;
  Window window_;
  bool count_include_pad_ = true;
};

inline Index stride_or_kernel(Index stride, Index kernel) { return stride == 0 ? kernel : stride; }

}  // namespace detail

/// Max or average pooling over windows of a batch of sequences (PyTorch's MaxPool1d / AvgPool1d).
///   max: y[c, b, t] = max_k x[c, b, t*stride - padding + k];  average: the window's sum / kernel (or / the
///   entries inside the sequence when count_include_pad is false).
/// x: (C, batch*L) -> y: (C, batch*L_out), L_out = floor((L + 2 padding - kernel) / stride) + 1. No parameters.
template <typename Scalar = float>
class Pool1d {
  static_assert(std::is_floating_point_v<Scalar>, "Pool1d needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using Cache = typename detail::WindowPooling<Scalar>::Cache;

  /// InvalidArgument on kernel < 1, stride < 0, padding < 0 or padding > kernel / 2.
  explicit Pool1d(const Pool1dConfig& config)
      : config_(config),
        pool_(config.mode,
              {{1, config.kernel}, {1, detail::stride_or_kernel(config.stride, config.kernel)}, {0, config.padding},
               {1, 1}},
              config.count_include_pad, "elm::nn::Pool1d") {}

  const Pool1dConfig& config() const { return config_; }

  /// ShapeError when x's columns do not split into `batch` >= 1 sequences or the kernel is larger than the
  /// padded sequence.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::Pool1d::forward";
    const Index length = detail::sequence_length(x.cols(), batch, where);
    pool_.forward(x, ImageShape{batch, 1, length}, y, cache, where);
  }

  /// dx overwritten: max sends each dy entry to the input it came from, average spreads it over its window.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    pool_.backward(cache, dy, dx, "elm::nn::Pool1d::backward");
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  Pool1dConfig config_;
  detail::WindowPooling<Scalar> pool_;
};

/// Max or average pooling over windows of a batch of images (PyTorch's MaxPool2d / AvgPool2d) on the image
/// layout of ImageShape. x: (C, B*H*W) -> y: (C, B*H_out*W_out), per axis out = floor((in + 2 pad - k) / stride)
/// + 1. No parameters.
template <typename Scalar = float>
class Pool2d {
  static_assert(std::is_floating_point_v<Scalar>, "Pool2d needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using Cache = typename detail::WindowPooling<Scalar>::Cache;

  /// InvalidArgument on kernel < 1, stride < 0, padding < 0 or padding > kernel / 2.
  explicit Pool2d(const Pool2dConfig& config)
      : config_(config),
        pool_(config.mode,
              {config.kernel,
               {detail::stride_or_kernel(config.stride.height, config.kernel.height),
                detail::stride_or_kernel(config.stride.width, config.kernel.width)},
               config.padding,
               {1, 1}},
              config.count_include_pad, "elm::nn::Pool2d") {}

  const Pool2dConfig& config() const { return config_; }

  /// The output images' shape for inputs of `shape`; ShapeError when the kernel is larger than the padded input.
  ImageShape output_shape(const ImageShape& shape) const {
    constexpr std::string_view where = "elm::nn::Pool2d::output_shape";
    const detail::Window& w = pool_.window();
    return {shape.batch,
            detail::window_output_size(shape.height, w.kernel.height, w.stride.height, w.padding.height, 1, where,
                                       "the height"),
            detail::window_output_size(shape.width, w.kernel.width, w.stride.width, w.padding.width, 1, where,
                                       "the width")};
  }

  /// ShapeError when x's columns are not shape's B*H*W (B, H, W >= 1) or the kernel is larger than the padded
  /// image.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const ImageShape& shape, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    pool_.forward(x, shape, y, cache, "elm::nn::Pool2d::forward");
  }

  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    pool_.backward(cache, dy, dx, "elm::nn::Pool2d::backward");
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  Pool2dConfig config_;
  detail::WindowPooling<Scalar> pool_;
};

/// Global pooling: the max or the mean of each channel over all positions of each sample (a sequence's
/// positions, an image's pixels): max-over-time for a text CNN (Kim 2014), global average pooling for an image
/// CNN (PyTorch's AdaptiveMaxPool / AdaptiveAvgPool with output size 1, then flattened).
/// x: (C, batch*S) -> y: (C, batch), S positions per sample. No parameters.
template <typename Scalar = float>
class GlobalPool {
  static_assert(std::is_floating_point_v<Scalar>, "GlobalPool needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// max: the column of x each entry came from; the input's sizes.
  struct Cache {
    Matrix<Index> argmax;
    Index channels = 0;
    Index batch = 0;
    Index positions = 0;
  };

  explicit GlobalPool(Pooling mode) : mode_(mode) {}
  Pooling mode() const { return mode_; }

  /// ShapeError when x's columns do not split into `batch` >= 1 samples.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    const Index S = detail::sequence_length(x.cols(), batch, "elm::nn::GlobalPool::forward");
    const Index C = x.rows();
    y.resize(C, batch);
    Matrix<Index> argmax;
    if (mode_ == Pooling::max) argmax.resize(C, batch);
    for (Index b = 0; b < batch; ++b) {
      const auto xb = x.middleCols(b * S, S);
      if (mode_ == Pooling::average) {
        y.col(b) = xb.rowwise().sum() / static_cast<Scalar>(S);
        continue;
      }
      for (Index c = 0; c < C; ++c) {
        Index best = 0;
        for (Index s = 1; s < S; ++s)  // the first largest, NaN winning once, as in Pool1d
          if (xb(c, s) > xb(c, best) || (std::isnan(xb(c, s)) && !std::isnan(xb(c, best)))) best = s;
        y(c, b) = xb(c, best);
        argmax(c, b) = b * S + best;
      }
    }
    if (cache) {
      cache->argmax = std::move(argmax);
      cache->channels = C;
      cache->batch = batch;
      cache->positions = S;
    }
  }

  /// dx overwritten (C, batch*S): max sends dy to the entry each maximum came from, average spreads dy / S.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::GlobalPool::backward";
    ELM_EXPECT(cache.batch > 0, InvalidArgument, where,
               ": the cache holds no forward pass (run forward with a cache first)");
    const Index C = cache.channels, S = cache.positions;
    check_shape(dy, C, cache.batch, where, "dy");
    dx.setZero(C, cache.batch * S);
    for (Index b = 0; b < cache.batch; ++b) {
      if (mode_ == Pooling::average) {
        dx.middleCols(b * S, S).colwise() = dy.col(b) / static_cast<Scalar>(S);
        continue;
      }
      for (Index c = 0; c < C; ++c) dx(c, cache.argmax(c, b)) = dy(c, b);
    }
  }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  Pooling mode_;
};

}  // namespace elm::nn
