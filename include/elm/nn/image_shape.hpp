// SPDX-License-Identifier: MIT
// ImageShape and Size2d: how a batch of images is laid out in an activation matrix, and per-axis window sizes.
#pragma once

#include "elm/core/types.hpp"

namespace elm::nn {

/// A batch of B images of H x W positions with C channels is a `Matrix<Scalar>` of shape (C, B*H*W): one column
/// per pixel, image b's pixel (h, w) in column (b*H + h)*W + w. Those are the bytes of PyTorch's (B, H, W, C)
/// tensor (channels_last), the image counterpart of the library's (C, B*T) sequences; docs/nn/convolution.md.
/// The number of channels is the matrix's rows, so it is not repeated here.
struct ImageShape {
  Index batch = 0;
  Index height = 0;
  Index width = 0;
};

/// A size per image axis, height first (PyTorch's kernel_size=(kh, kw), stride, padding, dilation).
struct Size2d {
  Index height = 1;
  Index width = 1;
};

}  // namespace elm::nn
