// SPDX-License-Identifier: MIT
// FeedForward: the position-wise two-layer network of a Transformer block, fc2(dropout(act(fc1(x)))).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// Sizes, options and parameter names of a FeedForward. Checked by the constructor.
struct FeedForwardConfig {
  Index width = 0;         ///< C, input and output features
  Index intermediate = 0;  ///< F, the hidden width (usually 4C)
  ActivationKind activation = ActivationKind::relu;
  double dropout = 0.0;    ///< on the hidden activation, in training (PyTorch's encoder layer; GPT-2 and BERT: 0)
  bool bias = true;
  WeightLayout layout = WeightLayout::out_in;  ///< nn.Linear's (out, in) weights, or GPT-2's Conv1D (in, out)
  std::string fc1_name = "linear1";            ///< the first layer's parameters: <fc1_name>.weight, .bias
  std::string fc2_name = "linear2";

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(width > 0 && intermediate > 0, InvalidArgument, where,
               ": expected positive width and intermediate, got C = ", width, ", F = ", intermediate);
    ELM_EXPECT(dropout >= 0.0 && dropout < 1.0, InvalidArgument, where, ": dropout = ", dropout,
               ", expected 0 <= dropout < 1");
    ELM_EXPECT(!fc1_name.empty() && !fc2_name.empty() && fc1_name != fc2_name, InvalidArgument, where,
               ": expected two distinct, non-empty parameter names, got \"", fc1_name, "\" and \"", fc2_name, "\"");
  }
};

/// fc2(dropout(act(fc1(x)))), the position-wise feed-forward network of a Transformer block.
/// x: (C, N) -> y: (C, N). Parameters <fc1_name>.{weight, bias} and <fc2_name>.{weight, bias}: PyTorch's
/// linear1/linear2, GPT-2's c_fc/c_proj (Conv1D), BERT's intermediate.dense/output.dense, as the config names them.
template <typename Scalar = float>
class FeedForward {
  static_assert(std::is_floating_point_v<Scalar>, "FeedForward needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename Linear<Scalar>::Cache fc1, fc2;
    typename Activation<Scalar>::Cache act;
    typename Dropout<Scalar>::Cache drop;
    // forward's (F, N) intermediates, kept with the cache so that a training loop reuses their memory:
    // allocated afresh on every call, they would go back to the system and be faulted in again every step
    Matrix<Scalar> hidden, activated, dropped;
  };

  /// Zero-initialised (see reset_parameters). Throws InvalidArgument on a bad config.
  explicit FeedForward(const FeedForwardConfig& config)
      : config_((config.check("elm::nn::FeedForward"), config)),
        fc1_(config.width, config.intermediate, config.bias, config.layout),
        fc2_(config.intermediate, config.width, config.bias, config.layout),
        activation_(config.activation),
        dropout_(config.dropout) {}

  const FeedForwardConfig& config() const noexcept { return config_; }
  Linear<Scalar>& fc1() noexcept { return fc1_; }
  Linear<Scalar>& fc2() noexcept { return fc2_; }
  const Linear<Scalar>& fc1() const noexcept { return fc1_; }
  const Linear<Scalar>& fc2() const noexcept { return fc2_; }

  /// nn.Linear's initialisation of both layers.
  void reset_parameters(Rng& rng) {
    fc1_.reset_parameters(rng);
    fc2_.reset_parameters(rng);
  }

  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    Matrix<Scalar> local_h, local_d;
    Matrix<Scalar>& h = cache ? cache->hidden : local_h;
    // Without a cache (inference) the activation overwrites its input: one (F, N) buffer instead of two. At
    // BERT's sizes it is tens of megabytes, new pages on every call (a one-thread MiniLM forward spent 5 % of
    // its time faulting in the second one).
    Matrix<Scalar>& a = cache ? cache->activated : local_h;
    fc1_.forward(x, h, cache ? &cache->fc1 : nullptr);
    activation_.forward(h, a, cache ? &cache->act : nullptr);
    if (config_.dropout == 0.0) {  // no copy of the (F, N) activation when nothing can drop
      if (cache) cache->drop.mask.resize(0, 0);
      fc2_.forward(a, y, cache ? &cache->fc2 : nullptr);
      return;
    }
    Matrix<Scalar>& d = cache ? cache->dropped : local_d;
    dropout_.forward(a, d, cache ? &cache->drop : nullptr, context);
    fc2_.forward(d, y, cache ? &cache->fc2 : nullptr);
  }

  /// dx (overwritten) from dy; adds into the four parameters' gradients.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    Matrix<Scalar>&dd = scratch_->dd, &da = scratch_->da, &dh = scratch_->dh;
    fc2_.backward(cache.fc2, dy, dd);
    if (cache.drop.mask.size() != 0) {
      dropout_.backward(cache.drop, dd, da);
      activation_.backward(cache.act, da, dh);
    } else {
      activation_.backward(cache.act, dd, dh);
    }
    fc1_.backward(cache.fc1, dh, dx);
  }

  /// Visits <fc1_name>.* and <fc2_name>.*; the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    fc1_.for_each_parameter(join_name(prefix, config_.fc1_name), f);
    fc2_.for_each_parameter(join_name(prefix, config_.fc2_name), f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    fc1_.for_each_parameter(join_name(prefix, config_.fc1_name), f);
    fc2_.for_each_parameter(join_name(prefix, config_.fc2_name), f);
  }
  void zero_grad() {
    fc1_.zero_grad();
    fc2_.zero_grad();
  }

 private:
  // backward's (F, N) gradients, kept between calls for the same reason as the cache's intermediates
  struct BackwardScratch {
    Matrix<Scalar> dd, da, dh;
  };

  FeedForwardConfig config_;
  Linear<Scalar> fc1_, fc2_;
  Activation<Scalar> activation_;
  Dropout<Scalar> dropout_;
  elm::detail::Workspace<BackwardScratch> scratch_;
};

}  // namespace elm::nn
