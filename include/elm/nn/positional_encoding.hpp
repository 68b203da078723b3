// SPDX-License-Identifier: MIT
// Absolute positional information added to token vectors: the fixed sinusoidal encoding of the original
// Transformer and the learned position embedding of GPT-2 and BERT.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

namespace detail {
/// Checks x: (C, B * T) and positions offset..offset + T - 1 < max_positions; returns T.
template <typename Scalar>
Index check_positions(std::string_view where, const Eigen::Ref<const Matrix<Scalar>>& x, Index width, Index batch,
                      Index offset, Index max_positions) {
  ELM_EXPECT(x.rows() == width, ShapeError, where, ": x has ", x.rows(), " rows, expected C = ", width);
  ELM_EXPECT(batch > 0 && x.cols() % batch == 0, ShapeError, where, ": x has ", x.cols(),
             " columns, expected a multiple of B = ", batch);
  const Index T = x.cols() / batch;
  ELM_EXPECT(offset >= 0 && offset + T <= max_positions, RangeError, where, ": positions ", offset, "..",
             offset + T - 1, " exceed max_positions = ", max_positions, " (sequence too long)");
  return T;
}
}  // namespace detail

/// PE(p, 2i) = sin(p / 10000^(2i / C)), PE(p, 2i + 1) = cos(p / 10000^(2i / C)), added to x. No parameters.
/// Reference: Vaswani et al. 2017, section 3.5.
template <typename Scalar = float>
class SinusoidalPositionalEncoding {
  static_assert(std::is_floating_point_v<Scalar>, "SinusoidalPositionalEncoding needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// Nothing: the backward is the identity.
  struct Cache {};

  /// width: C (even); max_positions: table length. Throws InvalidArgument otherwise.
  SinusoidalPositionalEncoding(Index width, Index max_positions) : table_(width, max_positions) {
    ELM_EXPECT(width > 0 && width % 2 == 0 && max_positions > 0, InvalidArgument,
               "elm::nn::SinusoidalPositionalEncoding: expected an even width > 0 and max_positions > 0, got C = ",
               width, ", max_positions = ", max_positions);
    for (Index p = 0; p < max_positions; ++p)
      for (Index i = 0; i < width / 2; ++i) {
        const double angle = double(p) * std::exp(-std::log(10000.0) * double(2 * i) / double(width));
        table_(2 * i, p) = static_cast<Scalar>(std::sin(angle));
        table_(2 * i + 1, p) = static_cast<Scalar>(std::cos(angle));
      }
  }

  Index width() const noexcept { return table_.rows(); }
  Index max_positions() const noexcept { return table_.cols(); }
  /// The table, (C, max_positions): column p is PE(p, .).
  const Matrix<Scalar>& table() const noexcept { return table_; }

  /// y = x + PE. x: (C, B * T), column b * T + t at position offset + t -> y: (C, B * T).
  /// Throws ShapeError, or RangeError when offset + T > max_positions.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Index offset, Matrix<Scalar>& y,
               Cache* = nullptr, const ForwardContext& = {}) const {
    const Index T = detail::check_positions<Scalar>("elm::nn::SinusoidalPositionalEncoding::forward", x, width(), batch,
                                                   offset, max_positions());
    y = x;
    for (Index b = 0; b < batch; ++b) y.middleCols(b * T, T) += table_.middleCols(offset, T);
  }

  /// dx = dy.
  void backward(const Cache&, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) { dx = dy; }

  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}

 private:
  Matrix<Scalar> table_;
};

/// A learned vector per position added to x: y_t = x_t + W[offset + t]. Parameter "weight" of PyTorch
/// shape (max_positions, C) (GPT-2's wpe, BERT's position_embeddings); Eigen value (C, max_positions).
template <typename Scalar = float>
class LearnedPositionalEmbedding {
  static_assert(std::is_floating_point_v<Scalar>, "LearnedPositionalEmbedding needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// Where forward's columns sat: backward adds each into its position's gradient.
  struct Cache {
    Index batch = 0;
    Index offset = 0;
    std::vector<Index> positions;  // the per-column positions when forward was given them
  };

  /// Zero-initialised (see reset_parameters). Throws InvalidArgument unless both sizes are positive.
  LearnedPositionalEmbedding(Index max_positions, Index width) {
    ELM_EXPECT(width > 0 && max_positions > 0, InvalidArgument,
               "elm::nn::LearnedPositionalEmbedding: expected positive max_positions and width, got ", max_positions,
               " and ", width);
    weight_ = Parameter<Scalar>({max_positions, width});
  }

  Index width() const noexcept { return weight_.value.rows(); }
  Index max_positions() const noexcept { return weight_.value.cols(); }

  /// nn.Embedding's initialisation, N(0, 1) (GPT-2 and BERT draw theirs from N(0, 0.02^2): their models do).
  void reset_parameters(Rng& rng) { rng.fill_normal(weight_.value, 0.0, 1.0); }

  /// y = x + W[offset + t] per column. x: (C, B * T), column b * T + t at position offset + t -> y: (C, B * T).
  /// Throws ShapeError, or RangeError when offset + T > max_positions.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Index offset, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    const Index T = detail::check_positions<Scalar>("elm::nn::LearnedPositionalEmbedding::forward", x, width(), batch,
                                                   offset, max_positions());
    y = x;
    for (Index b = 0; b < batch; ++b) y.middleCols(b * T, T) += weight_.value.middleCols(offset, T);
    if (cache) *cache = Cache{batch, offset, {}};
  }

  /// y = x + W[positions[n]] per column n: any position in any column (a left-padded batch's, Hugging Face's
  /// position_ids). x: (C, N), positions: N entries -> y: (C, N). Throws ShapeError when the counts differ,
  /// RangeError for a position outside [0, max_positions).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const std::vector<Index>& positions, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::LearnedPositionalEmbedding::forward";
    check_shape(x, width(), to_index(positions.size()), where, "x (one column per position)");
    for (Index p : positions)
      ELM_EXPECT(p >= 0 && p < max_positions(), RangeError, where, ": position ", p,
                 " is out of range, expected 0 <= position < max_positions = ", max_positions());
    y = x;
    for (std::size_t n = 0; n < positions.size(); ++n) y.col(to_index(n)) += weight_.value.col(positions[n]);
    if (cache) *cache = Cache{1, 0, positions};
  }

  /// dx = dy (overwritten); adds each column of dy into the gradient of its position's vector.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    if (!cache.positions.empty()) {
      check_shape(dy, width(), to_index(cache.positions.size()), "elm::nn::LearnedPositionalEmbedding::backward", "dy");
      dx = dy;
      Matrix<Scalar>& grad = weight_.gradient();
      for (std::size_t n = 0; n < cache.positions.size(); ++n) grad.col(cache.positions[n]) += dy.col(to_index(n));
      return;
    }
    const Index T = detail::check_positions<Scalar>("elm::nn::LearnedPositionalEmbedding::backward", dy, width(),
                                                   cache.batch, cache.offset, max_positions());
    dx = dy;
    Matrix<Scalar>& grad = weight_.gradient();
    for (Index b = 0; b < cache.batch; ++b) grad.middleCols(cache.offset, T) += dy.middleCols(b * T, T);
  }

  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    f(join_name(prefix, "weight"), weight_);
  }
  void zero_grad() { weight_.zero_grad(); }
  Parameter<Scalar>& weight() noexcept { return weight_; }
  const Parameter<Scalar>& weight() const noexcept { return weight_; }

 private:
  Parameter<Scalar> weight_;
};

}  // namespace elm::nn
