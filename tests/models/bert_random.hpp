// SPDX-License-Identifier: MIT
// Small random BERT models and padded batches for the BERT tests and the transformers round trip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/parameter.hpp"

namespace bert_test {

/// BertConfig's defaults at the sizes given.
inline elm::models::BertConfig config_of(elm::Index vocab, elm::Index positions, elm::Index width, elm::Index layers,
                                         elm::Index heads, elm::Index intermediate) {
  elm::models::BertConfig c;
  c.vocab_size = vocab;
  c.max_position_embeddings = positions;
  c.hidden_size = width;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.intermediate_size = intermediate;
  return c;
}

/// Hugging Face's initialisation, then every parameter moved off it by N(0, 0.1^2) noise (LayerNorms off one and
/// zero, biases off zero), so that each tensor's place in a file shows in the outputs.
template <typename Model>
Model random_model(const elm::models::BertConfig& config, std::uint64_t seed) {
  using Scalar = typename Model::scalar_type;
  elm::Rng rng(seed);
  Model model(config, rng);
  model.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<Scalar>& p) {
    elm::Matrix<Scalar> noise(p.value.rows(), p.value.cols());
    rng.fill_normal(noise, 0.0, 0.1);
    p.value += noise;
  });
  return model;
}

/// B sequences of the given lengths, ids (7 k + 3 b + 1) mod V, the second half of each of token type 1 (when the
/// model has two types), padded at the end.
inline elm::models::BertBatch fixed_batch(const elm::models::BertConfig& config,
                                          const std::vector<elm::Index>& lengths) {
  std::vector<std::vector<elm::Index>> ids, types;
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    ids.emplace_back();
    types.emplace_back();
    for (elm::Index k = 0; k < lengths[b]; ++k) {
      ids.back().push_back((7 * k + 3 * elm::Index(b) + 1) % config.vocab_size);
      types.back().push_back(config.type_vocab_size > 1 && 2 * k >= lengths[b] ? 1 : 0);
    }
  }
  return elm::models::BertBatch::pad(ids, types, config.pad_token_id.value_or(0));
}

}  // namespace bert_test
