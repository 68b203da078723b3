// SPDX-License-Identifier: MIT
// AdamW: Adam with decoupled weight decay (PyTorch's torch.optim.AdamW).
#pragma once

#include "elm/nn/optim/adam.hpp"

namespace elm::nn {

/// Settings of AdamW with PyTorch's defaults (weight_decay 0.01).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

/// torch.optim.AdamW: p *= 1 - lr wd, then the Adam update of the raw gradient (Loshchilov and Hutter 2019).
template <typename Scalar = float>
class AdamW : public Adam<Scalar> {
 public:
  explicit AdamW(const AdamWOptions& o = {})
      : Adam<Scalar>(AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true}) {}
};

}  // namespace elm::nn
