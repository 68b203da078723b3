// SPDX-License-Identifier: MIT
// The sliding window shared by Conv1d, Conv2d and the pooling layers: its options, output sizes and checks against
// an input, and the loop over the input pixels each output position reads.
#pragma once

#include <algorithm>
#include <string_view>

#include "elm/core/check.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/image_shape.hpp"

namespace elm::nn::detail {

/// A window sliding over an image: size, step, zero padding and dilation per axis. A 1-D window is the same
/// with height 1 (kernel 1, stride 1, padding 0, dilation 1 on that axis).
struct Window {
  Size2d kernel, stride, padding, dilation;
};

inline bool same_window(const Window& a, const Window& b) {
  const auto same = [](const Size2d& x, const Size2d& y) { return x.height == y.height && x.width == y.width; };
  return same(a.kernel, b.kernel) && same(a.stride, b.stride) && same(a.padding, b.padding) &&
         same(a.dilation, b.dilation);
}

/// Checks a window's options once, at construction. `where`: the constructor.
inline void check_window(const Window& w, std::string_view where) {
  ELM_EXPECT(w.kernel.height > 0 && w.kernel.width > 0, InvalidArgument, where, ": expected kernel > 0, got ",
             w.kernel.height, "x", w.kernel.width);
  ELM_EXPECT(w.stride.height > 0 && w.stride.width > 0, InvalidArgument, where, ": expected stride > 0, got ",
             w.stride.height, "x", w.stride.width);
  ELM_EXPECT(w.padding.height >= 0 && w.padding.width >= 0, InvalidArgument, where,
             ": expected padding >= 0, got ", w.padding.height, "x", w.padding.width);
  ELM_EXPECT(w.dilation.height > 0 && w.dilation.width > 0, InvalidArgument, where,
             ": expected dilation > 0, got ", w.dilation.height, "x", w.dilation.width);
}

/// One axis: floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, PyTorch's output size (ceil_mode = False).
/// Throws ShapeError when the dilated kernel is larger than the padded input.
inline Index window_output_size(Index in, Index kernel, Index stride, Index pad, Index dil, std::string_view where,
                                std::string_view axis) {
  const Index span = dil * (kernel - 1) + 1;
  ELM_EXPECT(in + 2 * pad >= span, ShapeError, where, ": the kernel spans ", span, " positions along ", axis,
             " (kernel ", kernel, ", dilation ", dil, "), larger than the padded input's ", in + 2 * pad, " (", in,
             " + 2 x padding ", pad, "), expected a kernel that fits");
  return (in + 2 * pad - span) / stride + 1;
}

/// A batch of images and the window over it: every size the loops need.
struct Geometry {
  Index channels = 0;
  ImageShape in;
  Index out_height = 0, out_width = 0;
  Window window;

  Index in_columns() const { return in.batch * in.height * in.width; }
  Index out_columns() const { return in.batch * out_height * out_width; }
  /// Rows of the im2col matrix: one block of `channels` per kernel tap.
  Index taps() const { return window.kernel.height * window.kernel.width; }
};

/// Checks x against `shape` (rows = channels when channels >= 0, columns = B*H*W, B, H, W >= 1) and the window
/// against the padded image; returns the geometry. ShapeError on any mismatch, naming `where`.
template <typename Scalar>
Geometry make_geometry(const Eigen::Ref<const Matrix<Scalar>>& x, Index channels, const ImageShape& shape,
                       const Window& window, std::string_view where) {
  ELM_EXPECT(shape.batch > 0, ShapeError, where, ": expected a batch of at least one, got batch = ", shape.batch);
  ELM_EXPECT(shape.height > 0 && shape.width > 0, ShapeError, where, ": expected an input of at least 1x1, got ",
             shape.height, "x", shape.width);
  ELM_EXPECT(channels < 0 || x.rows() == channels, ShapeError, where, ": x has ", x.rows(),
             " rows (channels), expected in_channels = ", channels);
  ELM_EXPECT(x.cols() == shape.batch * shape.height * shape.width, ShapeError, where, ": x has ", x.cols(),
             " columns, expected batch x height x width = ", shape.batch, " x ", shape.height, " x ", shape.width,
             " = ", shape.batch * shape.height * shape.width);
  Geometry g;
  g.channels = x.rows();
  g.in = shape;
  g.window = window;
  g.out_height = window_output_size(shape.height, window.kernel.height, window.stride.height, window.padding.height,
                                    window.dilation.height, where, "the height");
  g.out_width = window_output_size(shape.width, window.kernel.width, window.stride.width, window.padding.width,
                                   window.dilation.width, where, "the width");
  return g;
}

/// The length of each of `batch` sequences of x: (C, batch*L) -> L. ShapeError on an empty batch or columns
/// that do not split into `batch` equal sequences.
inline Index sequence_length(Index columns, Index batch, std::string_view where) {
  ELM_EXPECT(batch > 0, ShapeError, where, ": expected a batch of at least one, got batch = ", batch);
  ELM_EXPECT(columns > 0 && columns % batch == 0, ShapeError, where, ": x has ", columns,
             " columns, expected batch x length with batch = ", batch, " and length >= 1");
  return columns / batch;
}

/// Where output position (b, oh, ow) reads: the corner of its window in the input (before the dilation steps).
struct WindowOrigin {
  Index image_column;  // b * H * W: the image's first input column
  Index top, left;     // oh * stride - padding, ow * stride - padding
};

/// The window origin of output column `out` (b, oh, ow in B*Ho*Wo order).
inline WindowOrigin window_origin(const Geometry& g, Index out) {
  const Index per_image = g.out_height * g.out_width;
  const Index b = out / per_image, rest = out % per_image;
  const Index oh = rest / g.out_width, ow = rest % g.out_width;
  return {b * g.in.height * g.in.width, oh * g.window.stride.height - g.window.padding.height,
          ow * g.window.stride.width - g.window.padding.width};
}

/// The input column that tap `tap` (r * kw + s) of the window at `o` reads, or -1 over the zero padding.
inline Index tap_input_column(const Geometry& g, const WindowOrigin& o, Index tap) {
  const Index r = tap / g.window.kernel.width, s = tap % g.window.kernel.width;
  const Index ih = o.top + r * g.window.dilation.height, iw = o.left + s * g.window.dilation.width;
  if (ih < 0 || ih >= g.in.height || iw < 0 || iw >= g.in.width) return -1;
  return o.image_column + ih * g.in.width + iw;
}

/// Calls f(out_column, in_column, tap) for every kernel tap of every output position that falls inside the
/// image (taps over the zero padding are skipped); in_column and out_column index the (C, B*H*W) matrices.
/// Images go in chunks on OpenMP threads (serially without OpenMP, or for a small batch): f must write only
/// what belongs to its output or input column's image, so the result is the same on any number of threads.
template <typename F>
void for_each_tap(const Geometry& g, F&& f) {
  const Window& w = g.window;
  const Index per_image = g.out_height * g.out_width;
  const Index work = std::max<Index>(1, g.channels * g.taps() * per_image);  // values touched per image
  const Index images_per_chunk = std::max<Index>(1, elm::detail::parallel_grain / work);
  elm::detail::parallel_chunks(g.in.batch, images_per_chunk, [&](Index, Index first, Index last) {
    for (Index b = first; b < last; ++b) {
      Index out = b * per_image;
      for (Index oh = 0; oh < g.out_height; ++oh)
        for (Index ow = 0; ow < g.out_width; ++ow, ++out)
          for (Index r = 0; r < w.kernel.height; ++r) {
            const Index ih = oh * w.stride.height - w.padding.height + r * w.dilation.height;
            if (ih < 0 || ih >= g.in.height) continue;
            for (Index s = 0; s < w.kernel.width; ++s) {
              const Index iw = ow * w.stride.width - w.padding.width + s * w.dilation.width;
              if (iw < 0 || iw >= g.in.width) continue;
              f(out, (b * g.in.height + ih) * g.in.width + iw, r * w.kernel.width + s);
            }
          }
    }
  });
}

}  // namespace elm::nn::detail
