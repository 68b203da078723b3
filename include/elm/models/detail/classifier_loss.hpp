// SPDX-License-Identifier: MIT
// The loss_and_backward of the sequence classifiers (BertForSequenceClassification, TextCnn): forward, the summed
// cross-entropy of the class ids, backward.
#pragma once

#include <utility>
#include <vector>

#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"

namespace elm::models::detail {

/// model.forward(in, logits, &cache, context), the cross-entropy of labels summed over the B examples (a trainer
/// divides by the examples of a whole step), then model.backward(cache, dlogits), which adds into the parameters'
/// gradients. logits, when given, receives the forward's (num_labels, B). Throws what forward and cross_entropy throw.
template <typename Scalar, typename Model, typename Input>
Scalar classifier_loss_and_backward(Model& model, const Input& in, const std::vector<Index>& labels,
                                    const nn::ForwardContext& context, Matrix<Scalar>* logits) {
  typename Model::Cache cache;
  Matrix<Scalar> y, dy;
  model.forward(in, y, &cache, context);
  nn::CrossEntropyOptions options;
  options.reduction = nn::Reduction::sum;
  const Scalar loss = nn::cross_entropy<Scalar>(y, labels, options, &dy);
  model.backward(cache, dy);
  if (logits) *logits = std::move(y);
  return loss;
}

}  // namespace elm::models::detail
