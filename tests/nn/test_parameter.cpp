// SPDX-License-Identifier: MIT
// Tests of nn/parameter.hpp's visitor contract: every layer's const for_each_parameter visits the same tensors
// under the same names as the mutable one, read-only, so a const model can be counted and saved.
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/attention_pooling.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/gru.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/rnn.hpp"
#include "elm/nn/sequential.hpp"
#include "elm/nn/softmax.hpp"

namespace nn = elm::nn;

namespace {

using Visit = std::vector<std::pair<std::string, const void*>>;

/// The names and addresses a module's mutable visitor sees.
template <typename Module>
Visit mutable_visit(Module& module) {
  Visit seen;
  module.for_each_parameter("m", [&](const std::string& name, auto& p) {
    static_assert(!std::is_const_v<std::remove_reference_t<decltype(p)>>, "the mutable visit gives mutable parameters");
    seen.emplace_back(name, &p);
  });
  return seen;
}

/// The names and addresses the const visitor sees, each parameter const.
template <typename Module>
Visit const_visit(const Module& module) {
  Visit seen;
  module.for_each_parameter("m", [&](const std::string& name, auto& p) {
    static_assert(std::is_const_v<std::remove_reference_t<decltype(p)>>, "a const module gives const parameters");
    seen.emplace_back(name, &p);
  });
  return seen;
}

template <typename Module>
void check_const_visit(Module& module, std::size_t expected_count) {
  const Visit mutable_seen = mutable_visit(module);
  CHECK(mutable_seen.size() == expected_count);
  CHECK(const_visit(module) == mutable_seen);
  CHECK(nn::count_parameters(std::as_const(module)) == nn::count_parameters(module));
}

}  // namespace

TEST_CASE("const for_each_parameter visits what the mutable one visits, read-only", "[nn][parameter]") {
  elm::Rng rng(3);
  SECTION("layers") {
    nn::Linear<float> linear(3, 2, rng);
    check_const_visit(linear, 2);
    nn::Linear<float> no_bias(3, 2, rng, false);
    check_const_visit(no_bias, 1);
    nn::Embedding<float> embedding(5, 3, rng);
    check_const_visit(embedding, 1);
    nn::LearnedPositionalEmbedding<float> positions(8, 4);
    check_const_visit(positions, 1);
    nn::AttentionPooling<float> pooling(4, 3);
    check_const_visit(pooling, 3);
  }
  SECTION("recurrent layers") {
    nn::Lstm<float> lstm(3, 4, 2, rng);
    check_const_visit(lstm, 8);
    nn::Gru<float> gru(3, 4, 1, rng);
    check_const_visit(gru, 4);
    nn::Rnn<float> rnn(3, 4, 1, rng);
    check_const_visit(rnn, 4);
  }
  SECTION("attention, in both layouts") {
    for (const auto layout : {nn::QkvLayout::torch, nn::QkvLayout::gpt2}) {
      nn::MultiHeadAttentionConfig config;
      config.width = 4;
      config.heads = 2;
      config.layout = layout;
      nn::MultiHeadAttention<float> attention(config);
      check_const_visit(attention, 4);
    }
  }
  SECTION("Sequential and the layers without parameters") {
    nn::Sequential seq(nn::Linear<float>(4, 6, rng), nn::Dropout<float>(0.5), nn::Linear<float>(6, 3, rng),
                       nn::Softmax<float>());
    check_const_visit(seq, 4);
    CHECK(const_visit(seq).back().first == "m.2.bias");
  }
  SECTION("a model") {
    elm::models::LstmLm<float> lm({7, 3, 4, 2}, rng);
    check_const_visit(lm, 1 + 8 + 2);
  }
}
