// SPDX-License-Identifier: MIT
// RotaryEmbedding: rotary position embedding (RoPE) of queries and keys, in the half-split layout of
// GPT-NeoX and LLaMA or the interleaved layout of RoFormer and GPT-J.
#pragma once

#include <cmath>
#include <string_view>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::nn {

/// Which coordinates of a head are rotated together by the angle theta_i = p * base^(-2i / D).
enum class RotaryLayout {
  half,         ///< (x_i, x_{i + D/2}): Hugging Face's rotate_half (GPT-NeoX, LLaMA)
  interleaved,  ///< (x_{2i}, x_{2i+1}): RoFormer, GPT-J
};

/// Rotates each pair of a head's coordinates by an angle proportional to the position, so that the dot
/// product of a rotated query and key depends only on their relative position. Has no parameters.
/// Reference: Su et al. 2021, RoFormer, section 3.4.2; transformers' apply_rotary_pos_emb.
template <typename Scalar = float>
class RotaryEmbedding {
  static_assert(std::is_floating_point_v<Scalar>, "RotaryEmbedding needs a floating-point Scalar");

 public:
  /// head_dim: D (even); max_positions: positions the tables cover. Throws InvalidArgument otherwise.
  RotaryEmbedding(Index head_dim, Index max_positions, double base = 10000.0, RotaryLayout layout = RotaryLayout::half)
      : head_dim_(head_dim), max_positions_(max_positions), layout_(layout) {
    constexpr std::string_view where = "elm::nn::RotaryEmbedding";
    ELM_EXPECT(head_dim > 0 && head_dim % 2 == 0, InvalidArgument, where, ": head_dim = ", head_dim,
               ", expected a positive even number");
    ELM_EXPECT(max_positions > 0, InvalidArgument, where, ": max_positions = ", max_positions, ", expected > 0");
    ELM_EXPECT(base > 1.0, InvalidArgument, where, ": base = ", base, ", expected > 1");
    const Index half = head_dim / 2;
    cos_.resize(half, max_positions);
    sin_.resize(half, max_positions);
    for (Index p = 0; p < max_positions; ++p)
      for (Index i = 0; i < half; ++i) {
        const double angle = double(p) * std::pow(base, -2.0 * double(i) / double(head_dim));
        cos_(i, p) = static_cast<Scalar>(std::cos(angle));
        sin_(i, p) = static_cast<Scalar>(std::sin(angle));
      }
  }

  Index head_dim() const noexcept { return head_dim_; }
  Index max_positions() const noexcept { return max_positions_; }
  RotaryLayout layout() const noexcept { return layout_; }

  /// Rotates x in place: x is (H * D, B * T) (H heads of D rows, B sequences of T columns); column
  /// b * T + t is at position offset + t. Throws ShapeError / RangeError (position beyond max_positions).
  void apply(Matrix<Scalar>& x, Index batch, Index offset = 0) const { rotate(x, batch, offset, Scalar(1)); }

  /// Backward of apply, in place: the rotation is orthogonal, so dx = R^T dy (rotation by -theta).
  void apply_backward(Matrix<Scalar>& dy, Index batch, Index offset = 0) const { rotate(dy, batch, offset, Scalar(-1)); }

 private:
  void rotate(Matrix<Scalar>& x, Index batch, Index offset, Scalar sign) const {
    constexpr std::string_view where = "elm::nn::RotaryEmbedding::apply";
    ELM_EXPECT(x.rows() % head_dim_ == 0, ShapeError, where, ": x has ", x.rows(),
               " rows, expected a multiple of head_dim = ", head_dim_);
    ELM_EXPECT(batch > 0 && x.cols() % batch == 0, ShapeError, where, ": x has ", x.cols(),
               " columns, expected a multiple of B = ", batch);
    const Index T = x.cols() / batch;
    ELM_EXPECT(offset >= 0 && offset + T <= max_positions_, RangeError, where, ": positions ", offset, "..",
               offset + T - 1, " exceed max_positions = ", max_positions_);
    const Index half = head_dim_ / 2, heads = x.rows() / head_dim_;
    for (Index c = 0; c < x.cols(); ++c) {
      const Index p = offset + c % T;
      for (Index h = 0; h < heads; ++h) {
        Scalar* head = x.col(c).data() + h * head_dim_;
        for (Index i = 0; i < half; ++i) {
          const Index a = layout_ == RotaryLayout::half ? i : 2 * i;
          const Index b = layout_ == RotaryLayout::half ? i + half : 2 * i + 1;
          const Scalar cs = cos_(i, p), sn = sign * sin_(i, p);
          const Scalar xa = head[a], xb = head[b];
          head[a] = xa * cs - xb * sn;
          head[b] = xb * cs + xa * sn;
        }
      }
    }
  }

  Index head_dim_, max_positions_;
  RotaryLayout layout_;
  Matrix<Scalar> cos_, sin_;  // (D / 2, max_positions)
};

}  // namespace elm::nn
