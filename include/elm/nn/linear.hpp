// SPDX-License-Identifier: MIT
// Linear: the affine layer y = W x + b over the columns of an activation, with its backward pass.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/dense_products.hpp"
#include "elm/nn/detail/inference_weight.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// How a dense layer's weight is stored, in the tensor shapes the checkpoints use.
enum class WeightLayout {
  out_in,  ///< PyTorch's nn.Linear: weight (out, in), applied as x W^T
  in_out,  ///< GPT-2's Conv1D: weight (in, out), applied as x W
};

/// Fully connected layer, PyTorch's nn.Linear (or GPT-2's Conv1D with WeightLayout::in_out). Parameters `weight`
/// (out, in) (Conv1D: (in, out)) and `bias` (out), stored as Eigen (in, out) (Conv1D: (out, in)) and (out, 1)
/// matrices (see Parameter), so y = A x + bias with A = weight.value^T (Conv1D: weight.value).
template <typename Scalar = float>
class Linear {
  static_assert(std::is_floating_point_v<Scalar>, "Linear needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the input of forward (and the product kernel's buffers, kept between calls and
  /// not copied with the cache).
  struct Cache {
    Matrix<Scalar> x;
    elm::detail::Workspace<detail::PackedLhs<Scalar>> products;
  };

  /// Zero-initialised layer (load or set the parameters afterwards, or call reset_parameters).
  Linear(Index in_features, Index out_features, bool bias = true, WeightLayout layout = WeightLayout::out_in)
      : has_bias_(bias), layout_(layout) {
    ELM_EXPECT(in_features > 0 && out_features > 0, InvalidArgument,
               "elm::nn::Linear: expected in_features > 0 and out_features > 0, got ", in_features, " and ",
               out_features);
    weight_ = layout == WeightLayout::out_in ? Parameter<Scalar>({out_features, in_features})
                                             : Parameter<Scalar>({in_features, out_features});
    if (has_bias_) bias_ = Parameter<Scalar>({out_features});
  }

  /// Shorthand for the zero-initialised layer followed by reset_parameters(rng).
  Linear(Index in_features, Index out_features, Rng& rng, bool bias = true,
         WeightLayout layout = WeightLayout::out_in)
      : Linear(in_features, out_features, bias, layout) {
    reset_parameters(rng);
  }

  /// PyTorch's default initialisation: weight and bias uniform in [-1/sqrt(in), 1/sqrt(in)).
  void reset_parameters(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features()));
    rng.fill_uniform(weight_.value, -bound, bound);
    if (has_bias_) rng.fill_uniform(bias_.value, -bound, bound);
  }

  Index in_features() const { return layout_ == WeightLayout::out_in ? weight_.value.rows() : weight_.value.cols(); }
  Index out_features() const { return layout_ == WeightLayout::out_in ? weight_.value.cols() : weight_.value.rows(); }
  bool has_bias() const { return has_bias_; }
  WeightLayout layout() const { return layout_; }
  Parameter<Scalar>& weight() { return weight_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  /// The bias; empty (0x0) when the layer has none.
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// y = W x + b per column.  x: (in, N) -> y: (out, N). Throws ShapeError when x has the wrong rows.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    check_shape(x, in_features(), -1, "elm::nn::Linear::forward", "x");
    detail::PackedLhs<Scalar> local_products;  // inference without a cache: buffers for this call only
    const Scalar* bias = has_bias_ ? bias_.value.data() : nullptr;
    detail::PackedLhs<Scalar>& products = cache ? *cache->products : local_products;
    if (detail::inference_product<Scalar>(weight_.inference, x, 0, out_features(), y, bias)) {
      // the weight's inference storage (bf16, int8) served the product
    } else if (layout_ == WeightLayout::out_in) {
      detail::dense_forward<Scalar>(weight_.value.transpose(), x, y, bias, products);
    } else {
      detail::dense_forward<Scalar>(weight_.value, x, y, bias, products);
    }
    if (cache) {  // over column chunks on OpenMP threads, as the bias (x is 3 MB at GPT-2's MLP, N = 1024)
      cache->x.resize(x.rows(), x.cols());
      elm::detail::parallel_chunks(x.cols(), elm::detail::column_chunk(x.rows()), [&](Index, Index c0, Index c1) {
        cache->x.middleCols(c0, c1 - c0) = x.middleCols(c0, c1 - c0);
      });
    }
  }

  /// dx = W^T dy (overwritten); dW += dy x^T and db += sum_n dy (added).  dy: (out, N) -> dx: (in, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    check_shape(dy, out_features(), cache.x.cols(), "elm::nn::Linear::backward", "dy");
    accumulate_parameter_grads(cache, dy);
    if (layout_ == WeightLayout::out_in)
      detail::dense_input_grad<Scalar>(weight_.value.transpose(), dy, dx, /*accumulate=*/false, *products_);
    else
      detail::dense_input_grad<Scalar>(weight_.value, dy, dx, /*accumulate=*/false, *products_);
  }

  /// Adds the parameter gradients only, for a first layer whose input needs no gradient.
  void accumulate_parameter_grads(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy) {
    check_shape(dy, out_features(), cache.x.cols(), "elm::nn::Linear::backward", "dy");
    const bool bias_grad = has_bias_ && bias_.trainable;
    if (weight_.trainable)  // the bias gradient comes with the weight's, from the same pass over dy
      detail::dense_add_weight_grad<Scalar>(cache.x, dy, weight_.gradient(),
                                            /*grad_transposed=*/layout_ == WeightLayout::out_in,
                                            bias_grad ? bias_.gradient().data() : nullptr, *products_);
    else if (bias_grad)
      bias_.gradient().col(0) += elm::row_sums(dy);
  }

  /// Visits `weight` and `bias` as f(name, parameter); the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
    if (has_bias_) f(join_name(prefix, "bias"), bias_);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    f(join_name(prefix, "weight"), weight_);
    if (has_bias_) f(join_name(prefix, "bias"), bias_);
  }

  void zero_grad() {
    weight_.zero_grad();
    if (has_bias_) bias_.zero_grad();
  }

 private:
  Parameter<Scalar> weight_;
  Parameter<Scalar> bias_;
  bool has_bias_ = true;
  WeightLayout layout_ = WeightLayout::out_in;
  elm::detail::Workspace<detail::PackedLhs<Scalar>> products_;  // the backward products' buffers
};

}  // namespace elm::nn
