// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>

#include "elm/nn/transformer_block.hpp"
#include "fixture.hpp"

using namespace attention_test;
using elm::nn::ActivationKind;
using elm::nn::AttentionMask;
using elm::nn::TransformerConfig;
using elm::nn::TransformerDecoder;
using elm::nn::TransformerDecoderLayer;
using elm::nn::TransformerEncoder;
using elm::nn::TransformerEncoderLayer;
using Catch::Matchers::Contains;

namespace {

TransformerConfig fixture_config(const Fixture& f) {
  TransformerConfig c;
  c.width = f.dim("C");
  c.heads = f.dim("H");
  c.intermediate = f.dim("F");
  c.layers = 1;
  c.dropout = 0.0;
  c.norm_first = f.meta.at("norm_first").get<bool>();
  c.activation = f.meta.at("activation").get<std::string>() == "gelu" ? ActivationKind::gelu : ActivationKind::relu;
  return c;
}

TransformerConfig small_config(bool norm_first, ActivationKind act, double dropout) {
  TransformerConfig c;
  c.width = 6;
  c.heads = 2;
  c.intermediate = 10;
  c.layers = 2;
  c.dropout = dropout;
  c.norm_first = norm_first;
  c.activation = act;
  c.max_positions = 8;
  return c;
}

template <typename Module>
void randomise(Module& m, elm::Rng& rng) {
  m.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    p.value = random_matrix(rng, p.value.rows(), p.value.cols(), 0.4);
    if (name.find("norm") != std::string::npos && name.find("weight") != std::string::npos) p.value.array() += 1.0;
  });
}

}  // namespace

TEMPLATE_TEST_CASE("TransformerEncoderLayer matches torch.nn.TransformerEncoderLayer (post/pre-norm, relu/gelu)",
                   "[attention][transformer][parity]", float, double) {
  const std::string name =
      GENERATE(as<std::string>{}, "encoder_post_relu", "encoder_post_gelu", "encoder_pre_relu", "encoder_pre_gelu");
  const Fixture f = load_fixture(name);
  const double tol = parity_tolerance<TestType>();
  TransformerEncoderLayer<TestType> layer(fixture_config(f));
  load_parameters<TestType>(layer, f);
  AttentionMask<TestType> mask;
  mask.causal = f.meta.at("causal").get<bool>();
  mask.key_lengths = f.lengths();
  typename TransformerEncoderLayer<TestType>::Cache cache;
  Matrix<TestType> y, dx;
  layer.forward(f.matrix<TestType>("x"), f.dim("B"), mask, y, &cache);
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < tol);
  layer.zero_grad();
  layer.backward(cache, f.matrix<TestType>("g"), dx);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  check_parameter_grads<TestType>(layer, f, tol);
}

TEMPLATE_TEST_CASE("TransformerDecoderLayer matches torch.nn.TransformerDecoderLayer (post/pre-norm, relu/gelu)",
                   "[attention][transformer][parity]", float, double) {
  const std::string name =
      GENERATE(as<std::string>{}, "decoder_post_relu", "decoder_post_gelu", "decoder_pre_relu", "decoder_pre_gelu");
  const Fixture f = load_fixture(name);
  const double tol = parity_tolerance<TestType>();
  TransformerDecoderLayer<TestType> layer(fixture_config(f));
  load_parameters<TestType>(layer, f);
  AttentionMask<TestType> self_mask, memory_mask;
  self_mask.causal = true;
  memory_mask.key_lengths = f.lengths();
  typename TransformerDecoderLayer<TestType>::Cache cache;
  Matrix<TestType> y, dx, dmem;
  layer.forward(f.matrix<TestType>("x"), f.matrix<TestType>("memory"), f.dim("B"), self_mask, memory_mask, y, &cache);
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < tol);
  layer.zero_grad();
  layer.backward(cache, f.matrix<TestType>("g"), dx, dmem);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  CHECK(relative_error<TestType>("grad.memory", dmem, f.matrix<double>("grad.memory")) < tol);
  check_parameter_grads<TestType>(layer, f, tol);
}

TEST_CASE("encoder layer gradients, dropout included, pass a finite-difference check", "[attention][transformer][grad]") {
  const bool norm_first = GENERATE(false, true);
  const auto act = GENERATE(ActivationKind::relu, ActivationKind::gelu);
  elm::Rng init(17);
  TransformerEncoderLayer<double> layer(small_config(norm_first, act, 0.2));
  randomise(layer, init);
  const Index B = 2, T = 4;
  Matrix<double> x = random_matrix(init, 6, B * T);
  const Matrix<double> g = random_matrix(init, 6, B * T);
  AttentionMask<double> mask;
  mask.key_lengths = {4, 2};
  // The same seed before every forward gives the same dropout masks, so the loss is a smooth function.
  elm::Rng rng;
  auto loss = [&]() {
    rng.reseed(99);
    Matrix<double> y;
    layer.forward(x, B, mask, y, nullptr, elm::nn::ForwardContext::train(rng));
    return (y.array() * g.array()).sum();
  };
  TransformerEncoderLayer<double>::Cache cache;
  Matrix<double> y, dx;
  rng.reseed(99);
  layer.forward(x, B, mask, y, &cache, elm::nn::ForwardContext::train(rng));
  CHECK(cache.d1.mask.size() > 0);
  layer.zero_grad();
  layer.backward(cache, g, dx);
  check_gradient("dx", x, loss, dx);
  layer.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEST_CASE("decoder layer gradients, dropout included, pass a finite-difference check", "[attention][transformer][grad]") {
  const bool norm_first = GENERATE(false, true);
  elm::Rng init(18);
  TransformerDecoderLayer<double> layer(small_config(norm_first, ActivationKind::gelu, 0.2));
  randomise(layer, init);
  const Index B = 2, T = 3, S = 4;
  Matrix<double> x = random_matrix(init, 6, B * T), mem = random_matrix(init, 6, B * S);
  const Matrix<double> g = random_matrix(init, 6, B * T);
  AttentionMask<double> self_mask, memory_mask;
  self_mask.causal = true;
  memory_mask.key_lengths = {3, 4};
  elm::Rng rng;
  auto loss = [&]() {
    rng.reseed(7);
    Matrix<double> y;
    layer.forward(x, mem, B, self_mask, memory_mask, y, nullptr, elm::nn::ForwardContext::train(rng));
    return (y.array() * g.array()).sum();
  };
  TransformerDecoderLayer<double>::Cache cache;
  Matrix<double> y, dx, dmem;
  rng.reseed(7);
  layer.forward(x, mem, B, self_mask, memory_mask, y, &cache, elm::nn::ForwardContext::train(rng));
  layer.zero_grad();
  layer.backward(cache, g, dx, dmem);
  check_gradient("dx", x, loss, dx);
  check_gradient("dmemory", mem, loss, dmem);
  layer.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEST_CASE("TransformerEncoder stacks layers with PyTorch's names and passes a gradient check",
          "[attention][transformer][grad]") {
  TransformerConfig c = small_config(true, ActivationKind::gelu, 0.0);
  c.final_norm = true;
  TransformerEncoder<double> enc(c);
  elm::Rng rng(4);
  enc.reset_parameters(rng);
  std::vector<std::string> names;
  enc.for_each_parameter("encoder", [&](const std::string& n, elm::nn::Parameter<double>&) { names.push_back(n); });
  REQUIRE(names.size() == 2 * 12 + 2);
  CHECK(names.front() == "encoder.layers.0.self_attn.in_proj_weight");
  CHECK(names[12] == "encoder.layers.1.self_attn.in_proj_weight");
  CHECK(names.back() == "encoder.norm.bias");
  // 4 C^2 + 4 C (attention) + 2 C F + F + C (feed-forward) + 4 C (norms) per layer, C = 6, F = 10, + 2 C final norm
  CHECK(elm::nn::count_parameters(enc) == 2 * (4 * 36 + 24 + 120 + 10 + 6 + 24) + 12);

  randomise(enc, rng);
  const Index B = 1, T = 5;
  Matrix<double> x = random_matrix(rng, 6, B * T);
  const Matrix<double> g = random_matrix(rng, 6, B * T);
  AttentionMask<double> mask;
  mask.causal = true;
  auto loss = [&]() {
    Matrix<double> y;
    enc.forward(x, B, mask, y);
    return (y.array() * g.array()).sum();
  };
  TransformerEncoder<double>::Cache cache;
  Matrix<double> y, dx;
  enc.forward(x, B, mask, y, &cache);
  enc.zero_grad();
  enc.backward(cache, g, dx);
  check_gradient("dx", x, loss, dx);
  enc.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEST_CASE("Transformer configs and inputs are checked", "[attention][transformer][bad-input]") {
  TransformerConfig c = small_config(false, ActivationKind::relu, 0.1);
  c.heads = 4;
  REQUIRE_THROWS_MATCHES(TransformerEncoderLayer<float>(c), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::nn::TransformerBlock: heads H = 4 does not divide the "
                                                  "width C = 6, expected C % H == 0"));
  c = small_config(false, ActivationKind::tanh, 0.1);
  REQUIRE_THROWS_WITH(TransformerDecoderLayer<float>(c), Contains("expected a relu, gelu or gelu_tanh activation"));
  c = small_config(false, ActivationKind::relu, 1.5);
  REQUIRE_THROWS_AS(TransformerEncoder<float>(c), elm::InvalidArgument);
  c = small_config(false, ActivationKind::relu, 0.0);
  c.layers = 0;
  REQUIRE_THROWS_AS(TransformerEncoder<float>(c), elm::InvalidArgument);

  TransformerEncoder<float> enc(small_config(false, ActivationKind::relu, 0.0));
  Matrix<float> y;
  AttentionMask<float> none;
  REQUIRE_THROWS_MATCHES(enc.forward(Matrix<float>::Zero(6, 9), 1, none, y), elm::RangeError,
                         Catch::Matchers::Message("elm::nn::TransformerEncoder::forward: sequence length T = 9 "
                                                  "exceeds max_positions = 8"));
  REQUIRE_THROWS_WITH(enc.forward(Matrix<float>::Zero(5, 4), 1, none, y), Contains("x is 5x4, expected 6xany"));
  AttentionMask<float> bad;
  bad.additive = Matrix<float>::Zero(4, 3);
  REQUIRE_THROWS_AS(enc.forward(Matrix<float>::Zero(6, 4), 1, bad, y), elm::ShapeError);
}

TEST_CASE("TransformerDecoder stacks decoder layers and passes a gradient check", "[attention][transformer][grad]") {
  TransformerConfig c = small_config(false, ActivationKind::relu, 0.0);
  c.final_norm = true;
  TransformerDecoder<double> dec(c);
  elm::Rng rng(8);
  randomise(dec, rng);
  std::vector<std::string> names;
  dec.for_each_parameter("", [&](const std::string& n, elm::nn::Parameter<double>&) { names.push_back(n); });
  CHECK(names.front() == "layers.0.self_attn.in_proj_weight");
  CHECK(names[4] == "layers.0.multihead_attn.in_proj_weight");
  CHECK(names.back() == "norm.bias");
  const Index B = 2, T = 3, S = 2;
  Matrix<double> x = random_matrix(rng, 6, B * T), mem = random_matrix(rng, 6, B * S);
  const Matrix<double> g = random_matrix(rng, 6, B * T);
  AttentionMask<double> self_mask, memory_mask;
  self_mask.causal = true;
  memory_mask.key_lengths = {2, 1};
  auto loss = [&]() {
    Matrix<double> y;
    dec.forward(x, mem, B, self_mask, memory_mask, y);
    return (y.array() * g.array()).sum();
  };
  TransformerDecoder<double>::Cache cache;
  Matrix<double> y, dx, dmem;
  dec.forward(x, mem, B, self_mask, memory_mask, y, &cache);
  dec.zero_grad();
  dec.backward(cache, g, dx, dmem);
  check_gradient("dx", x, loss, dx);
  check_gradient("dmemory", mem, loss, dmem);
  // The layers were checked one by one above; here the parameters whose gradients cross the stack (the
  // first layer's, behind the second) and the final norm's.
  dec.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    if (name.rfind("layers.0.multihead_attn", 0) == 0 || name.rfind("layers.0.norm", 0) == 0 ||
        name.rfind("norm.", 0) == 0)
      check_gradient(name, p.value, loss, p.grad);
  });
  REQUIRE_THROWS_WITH(dec.forward(Matrix<double>::Zero(6, 9), mem.leftCols(2), 1, self_mask, {}, y),
                      Contains("sequence length T = 9 exceeds max_positions = 8"));
}

TEMPLATE_TEST_CASE("a stack configured as GPT-2 matches Hugging Face GPT2Model's blocks, by their own names",
                   "[attention][transformer][parity][gpt2]", float, double) {
  const Fixture f = load_fixture("gpt2_stack");
  const double tol = parity_tolerance<TestType>();
  TransformerConfig c = TransformerConfig::gpt2(f.dim("C"), f.dim("layers"), f.dim("H"), f.dim("positions"));
  c.dropout = 0.0;
  TransformerEncoder<TestType> stack(c);
  // Every parameter is read under the checkpoint's own name (h.0.attn.c_attn.weight, Conv1D (in, out)): no map.
  load_parameters<TestType>(stack, f);
  typename TransformerEncoder<TestType>::Cache cache;
  Matrix<TestType> y, dx;
  stack.forward(f.matrix<TestType>("x"), f.dim("B"), AttentionMask<TestType>{}, y, &cache);  // causal by config
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < tol);
  stack.zero_grad();
  stack.backward(cache, f.matrix<TestType>("g"), dx);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  check_parameter_grads<TestType>(stack, f, tol);
}

TEST_CASE("a KV-cached decode through a causal stack equals the full forward", "[attention][transformer][kv-cache]") {
  const bool norm_first = GENERATE(true, false);
  TransformerConfig c = TransformerConfig::gpt2(8, 3, 2, 12);
  c.norm_first = norm_first;
  c.dropout = 0.0;
  TransformerEncoder<double> stack(c);
  elm::Rng rng(31);
  randomise(stack, rng);
  const Index B = 2, T = 7;
  const Matrix<double> x = random_matrix(rng, 8, B * T);
  Matrix<double> full;
  stack.forward(x, B, AttentionMask<double>{}, full);
  // Feed the positions in chunks of 1, 2, 3, 1: each chunk's outputs are the full forward's columns.
  auto kv = stack.make_kv_caches(B, 10);
  Index t0 = 0;
  for (const Index chunk : {Index(1), Index(2), Index(3), Index(1)}) {
    Matrix<double> step(8, B * chunk), y;
    for (Index b = 0; b < B; ++b) step.middleCols(b * chunk, chunk) = x.middleCols(b * T + t0, chunk);
    stack.forward_incremental(step, kv, y);
    for (Index b = 0; b < B; ++b)
      CHECK((y.middleCols(b * chunk, chunk) - full.middleCols(b * T + t0, chunk)).cwiseAbs().maxCoeff() < 1e-12);
    t0 += chunk;
  }
  CHECK(kv.front().length() == T);
  // Overflow is refused before any cache changes; a wrong number of caches and a bidirectional stack are refused.
  Matrix<double> y;
  REQUIRE_THROWS_WITH(stack.forward_incremental(Matrix<double>::Zero(8, B * 4), kv, y),
                      Contains("would exceed its max_length = 10"));
  CHECK(kv.back().length() == T);
  auto too_few = stack.make_kv_caches(B, 10);
  too_few.pop_back();
  REQUIRE_THROWS_WITH(stack.forward_incremental(Matrix<double>::Zero(8, B), too_few, y),
                      Contains("expected one per block (3)"));
  TransformerConfig bidirectional = c;
  bidirectional.causal = false;
  TransformerEncoder<double> encoder(bidirectional);
  auto kv2 = encoder.make_kv_caches(B, 10);
  REQUIRE_THROWS_WITH(encoder.forward_incremental(Matrix<double>::Zero(8, B), kv2, y), Contains("expected a causal block"));
}

TEST_CASE("a block without biases, with Conv1D layouts and post-norm, passes a gradient check",
          "[attention][transformer][grad]") {
  TransformerConfig c = small_config(false, ActivationKind::gelu_tanh, 0.0);
  c.bias = false;
  c.causal = true;
  c.attention_layout = elm::nn::QkvLayout::gpt2;
  c.dense_layout = elm::nn::WeightLayout::in_out;
  elm::nn::TransformerBlock<double> block(c);
  std::vector<std::string> names;
  block.for_each_parameter("", [&](const std::string& n, const elm::nn::Parameter<double>& p) {
    names.push_back(n + " " + std::to_string(p.shape.front()) + "x" + std::to_string(p.shape.back()));
  });
  // no bias anywhere; Conv1D weights are (in, out); LayerNorms keep theirs
  CHECK(names == std::vector<std::string>{"self_attn.c_attn.weight 6x18", "self_attn.c_proj.weight 6x6",
                                          "linear1.weight 6x10", "linear2.weight 10x6", "norm1.weight 6x6",
                                          "norm1.bias 6x6", "norm2.weight 6x6", "norm2.bias 6x6"});
  elm::Rng rng(5);
  randomise(block, rng);
  const Index B = 2, T = 3;
  Matrix<double> x = random_matrix(rng, 6, B * T);
  const Matrix<double> g = random_matrix(rng, 6, B * T);
  auto loss = [&]() {
    Matrix<double> y;
    block.forward(x, B, AttentionMask<double>{}, y);
    return (y.array() * g.array()).sum();
  };
  elm::nn::TransformerBlock<double>::Cache cache;
  Matrix<double> y, dx;
  block.forward(x, B, AttentionMask<double>{}, y, &cache);
  // causal by config: the first position's output depends on the first position only
  Matrix<double> x2 = x;
  x2.col(1).setZero();
  Matrix<double> y2;
  block.forward(x2, B, AttentionMask<double>{}, y2);
  CHECK((y2.col(0) - y.col(0)).cwiseAbs().maxCoeff() < 1e-14);
  block.zero_grad();
  block.backward(cache, g, dx);
  check_gradient("dx", x, loss, dx);
  block.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEMPLATE_TEST_CASE("a stack configured as BERT matches Hugging Face BertModel's encoder, by its own names",
                   "[attention][transformer][parity][bert]", float, double) {
  const Fixture f = load_fixture("bert_stack");
  const double tol = parity_tolerance<TestType>();
  TransformerConfig c = TransformerConfig::bert(f.dim("C"), f.dim("layers"), f.dim("H"), f.dim("F"), f.dim("positions"));
  c.dropout = 0.0;
  TransformerEncoder<TestType> stack(c);
  // encoder.layer.0.attention.self.query.weight ... read under the checkpoint's own names: no map
  load_parameters<TestType>(stack, f);
  AttentionMask<TestType> mask;
  mask.key_lengths = f.lengths();
  typename TransformerEncoder<TestType>::Cache cache;
  Matrix<TestType> y, dx;
  stack.forward(f.matrix<TestType>("x"), f.dim("B"), mask, y, &cache);
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < tol);
  stack.zero_grad();
  stack.backward(cache, f.matrix<TestType>("g"), dx);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  // The key projection's bias has a zero gradient (softmax ignores what every score of a query shares): the
  // reference holds rounding noise (1e-16), so it is compared absolutely, against the input gradient's scale.
  const double scale = f.matrix<double>("grad.x").cwiseAbs().maxCoeff();
  int seen = 0;
  stack.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<TestType>& p) {
    ++seen;
    const Matrix<double> want = f.matrix<double>("grad." + name);
    if (name.size() > 8 && name.compare(name.size() - 8, 8, "key.bias") == 0)
      CHECK((p.grad.template cast<double>() - want).cwiseAbs().maxCoeff() < tol * scale);
    else
      CHECK(relative_error<TestType>("grad." + name, p.grad, want) < tol);
  });
  CHECK(seen == 2 * 16);
}
