// SPDX-License-Identifier: MIT
// Small random GPT-2 models for the save tests and the transformers round trip: sizes given, every parameter off
// its initial value.
#pragma once

#include <cstdint>
#include <string>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/parameter.hpp"

namespace gpt2_test {

/// GPT2Config's defaults at the sizes given.
inline elm::models::Gpt2Config config_of(elm::Index vocab, elm::Index positions, elm::Index width, elm::Index layers,
                                         elm::Index heads) {
  elm::models::Gpt2Config c;
  c.vocab_size = vocab;
  c.n_positions = positions;
  c.n_embd = width;
  c.n_layer = layers;
  c.n_head = heads;
  return c;
}

/// Hugging Face's initialisation, then every parameter moved off it by N(0, 0.1^2) noise (LayerNorms off one and
/// zero, biases off zero), so that each tensor's place in a file shows in the logits.
template <typename Scalar>
elm::models::Gpt2<Scalar> random_model(const elm::models::Gpt2Config& config, std::uint64_t seed) {
  elm::Rng rng(seed);
  elm::models::Gpt2<Scalar> model(config, rng);
  model.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<Scalar>& p) {
    elm::Matrix<Scalar> noise(p.value.rows(), p.value.cols());
    rng.fill_normal(noise, 0.0, 0.1);
    p.value += noise;
  });
  return model;
}

}  // namespace gpt2_test
