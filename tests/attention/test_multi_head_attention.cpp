// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "elm/nn/kv_cache.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "fixture.hpp"

using namespace attention_test;
using elm::nn::AttentionMask;
using elm::nn::AttentionPath;
using elm::nn::MultiHeadAttention;
using elm::nn::MultiHeadAttentionConfig;
using elm::nn::QkvLayout;
using Catch::Matchers::Contains;

namespace {

template <typename Scalar>
AttentionMask<Scalar> fixture_mask(const Fixture& f) {
  AttentionMask<Scalar> mask;
  mask.causal = f.meta.at("causal").get<bool>();
  mask.key_lengths = f.lengths();
  // PyTorch's (L, S) attn_mask has the bytes of elm's (T_k, T_q) additive mask.
  if (f.has("additive")) mask.additive = f.matrix<Scalar>("additive");
  return mask;
}

template <typename Scalar>
void run_mha_fixture(const std::string& name, AttentionPath path) {
  const Fixture f = load_fixture(name);
  const double tol = parity_tolerance<Scalar>();
  MultiHeadAttentionConfig config;
  config.width = f.dim("C");
  config.heads = f.dim("H");
  config.path = path;
  MultiHeadAttention<Scalar> mha(config);
  load_parameters<Scalar>(mha, f);
  const Index B = f.dim("B");
  const bool self = f.meta.at("self").get<bool>();
  const bool need_weights = f.meta.at("need_weights").get<bool>();
  const AttentionMask<Scalar> mask = fixture_mask<Scalar>(f);

  typename MultiHeadAttention<Scalar>::Cache cache;
  typename MultiHeadAttention<Scalar>::ForwardOptions options;
  Matrix<Scalar> y, weights;
  if (need_weights) {
    options.weights = &weights;
    options.average_weights = f.meta.at("average_weights").get<bool>();
  }
  const Matrix<Scalar> query = f.matrix<Scalar>("query");
  if (self)
    mha.forward(query, B, mask, y, &cache, options);
  else
    mha.forward(query, f.matrix<Scalar>("key"), f.matrix<Scalar>("value"), B, mask, y, &cache, options);
  CHECK(relative_error<Scalar>("y", y, f.matrix<double>("y")) < tol);
  if (need_weights) CHECK(relative_error<Scalar>("weights", weights, f.matrix<double>("weights")) < tol);
  if (path == AttentionPath::blocked) CHECK(cache.used_blocked);

  const Matrix<Scalar> g = f.matrix<Scalar>("g");
  mha.zero_grad();
  if (self) {
    Matrix<Scalar> dx;
    mha.backward(cache, g, dx);
    CHECK(relative_error<Scalar>("grad.query", dx, f.matrix<double>("grad.query")) < tol);
  } else {
    Matrix<Scalar> dq, dk, dv;
    mha.backward(cache, g, dq, dk, dv);
    CHECK(relative_error<Scalar>("grad.query", dq, f.matrix<double>("grad.query")) < tol);
    CHECK(relative_error<Scalar>("grad.key", dk, f.matrix<double>("grad.key")) < tol);
    CHECK(relative_error<Scalar>("grad.value", dv, f.matrix<double>("grad.value")) < tol);
  }
  check_parameter_grads<Scalar>(mha, f, tol);
}

}  // namespace

TEMPLATE_TEST_CASE("MultiHeadAttention matches torch.nn.MultiheadAttention: outputs, weights, all gradients",
                   "[attention][mha][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "mha_self", "mha_self_causal", "mha_self_padding",
                                    "mha_self_causal_padding_heads", "mha_cross", "mha_cross_h4");
  SECTION("plain path") { run_mha_fixture<TestType>(name, AttentionPath::plain); }
  SECTION("blocked path") {
    const Fixture f = load_fixture(name);
    if (!f.meta.at("need_weights").get<bool>()) run_mha_fixture<TestType>(name, AttentionPath::blocked);
  }
}

TEMPLATE_TEST_CASE("fully masked queries give NaN outputs and weights, as in PyTorch, and leave others intact",
                   "[attention][mha][parity]", float, double) {
  const Fixture f = load_fixture("mha_fully_masked");
  const Index B = f.dim("B"), Tq = f.dim("Tq"), Tk = f.dim("Tk"), masked = f.dim("masked_query");
  const auto path = GENERATE(AttentionPath::plain, AttentionPath::blocked);
  MultiHeadAttentionConfig config{f.dim("C"), f.dim("H")};
  config.path = path;
  MultiHeadAttention<TestType> mha(config);
  load_parameters<TestType>(mha, f);
  AttentionMask<TestType> mask;
  mask.key_lengths = f.lengths();
  mask.additive = Matrix<TestType>::Zero(Tk, Tq);
  mask.additive.col(masked).setConstant(-std::numeric_limits<TestType>::infinity());
  Matrix<TestType> y, weights;
  typename MultiHeadAttention<TestType>::ForwardOptions options;
  if (path == AttentionPath::plain) options.weights = &weights;
  mha.forward(f.matrix<TestType>("query"), f.matrix<TestType>("key"), f.matrix<TestType>("value"), B, mask, y,
              nullptr, options);
  // The reference has NaN in sequence 1 (no valid key) and at query 2 of sequence 0; relative_error
  // requires NaN exactly there.
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < parity_tolerance<TestType>());
  if (path == AttentionPath::plain)
    CHECK(relative_error<TestType>("weights", weights, f.matrix<double>("weights")) < parity_tolerance<TestType>());
  CHECK(std::isnan(y(0, masked)));
  CHECK(std::isfinite(y(0, 0)));
}

TEST_CASE("the gpt2 layout is the torch layout with transposed weights", "[attention][mha]") {
  elm::Rng rng(11);
  MultiHeadAttentionConfig tc{12, 3};
  MultiHeadAttentionConfig gc = tc;
  gc.layout = QkvLayout::gpt2;
  MultiHeadAttention<double> torch_mha(tc), gpt2_mha(gc);
  torch_mha.init(rng);
  // c_attn.weight (C, 3C) is in_proj_weight (3C, C) transposed: Eigen values are transposes as well.
  std::map<std::string, Matrix<double>> values;
  torch_mha.for_each_parameter("", [&](const std::string& n, elm::nn::Parameter<double>& p) {
    p.value.setRandom();
    values[n] = p.value;
  });
  gpt2_mha.for_each_parameter("", [&](const std::string& n, elm::nn::Parameter<double>& p) {
    if (n == "c_attn.weight") p.value = values["in_proj_weight"].transpose();
    if (n == "c_attn.bias") p.value = values["in_proj_bias"];
    if (n == "c_proj.weight") p.value = values["out_proj.weight"].transpose();
    if (n == "c_proj.bias") p.value = values["out_proj.bias"];
  });
  const Matrix<double> x = random_matrix(rng, 12, 2 * 5);
  AttentionMask<double> mask;
  mask.causal = true;
  Matrix<double> y1, y2;
  torch_mha.forward(x, 2, mask, y1);
  gpt2_mha.forward(x, 2, mask, y2);
  CHECK((y1 - y2).cwiseAbs().maxCoeff() < 1e-13);
}

TEST_CASE("MultiHeadAttention gradients pass a double-precision finite-difference check", "[attention][mha][grad]") {
  const auto layout = GENERATE(QkvLayout::torch, QkvLayout::gpt2);
  const auto path = GENERATE(AttentionPath::plain, AttentionPath::blocked);
  const bool rotary = GENERATE(false, true);
  elm::Rng rng(5);
  MultiHeadAttentionConfig config{8, 2};
  config.layout = layout;
  config.path = path;
  if (rotary) config.rotary_positions = 16;
  MultiHeadAttention<double> mha(config);
  mha.init(rng);
  mha.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<double>& p) {
    p.value = random_matrix(rng, p.value.rows(), p.value.cols(), 0.5);
  });
  const Index B = 2, T = 4;
  Matrix<double> x = random_matrix(rng, 8, B * T);
  const Matrix<double> g = random_matrix(rng, 8, B * T);
  AttentionMask<double> mask;
  mask.causal = true;
  mask.key_lengths = {4, 3};
  auto loss = [&]() {
    Matrix<double> y;
    mha.forward(x, B, mask, y);
    return (y.array() * g.array()).sum();
  };
  typename MultiHeadAttention<double>::Cache cache;
  Matrix<double> y, dx;
  mha.forward(x, B, mask, y, &cache);
  mha.zero_grad();
  mha.backward(cache, g, dx);
  check_gradient("dx", x, loss, dx);
  mha.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEST_CASE("cross-attention gradients pass a finite-difference check", "[attention][mha][grad]") {
  elm::Rng rng(6);
  MultiHeadAttention<double> mha(MultiHeadAttentionConfig{6, 3});
  mha.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<double>& p) {
    p.value = random_matrix(rng, p.value.rows(), p.value.cols(), 0.5);
  });
  const Index B = 2, Tq = 3, Tk = 5;
  Matrix<double> q = random_matrix(rng, 6, B * Tq), k = random_matrix(rng, 6, B * Tk), v = random_matrix(rng, 6, B * Tk);
  const Matrix<double> g = random_matrix(rng, 6, B * Tq);
  AttentionMask<double> mask;
  mask.key_lengths = {2, 5};
  mask.additive = random_matrix(rng, Tk, Tq);
  auto loss = [&]() {
    Matrix<double> y;
    mha.forward(q, k, v, B, mask, y);
    return (y.array() * g.array()).sum();
  };
  typename MultiHeadAttention<double>::Cache cache;
  Matrix<double> y, dq, dk, dv;
  mha.forward(q, k, v, B, mask, y, &cache);
  mha.zero_grad();
  mha.backward(cache, g, dq, dk, dv);
  check_gradient("dquery", q, loss, dq);
  check_gradient("dkey", k, loss, dk);
  check_gradient("dvalue", v, loss, dv);
  mha.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
}

TEMPLATE_TEST_CASE("a cached decode of N steps equals one causal forward over the same tokens",
                   "[attention][kv_cache][property]", float, double) {
  const std::uint64_t seed = GENERATE(1u, 2u, 3u);
  const Index step = GENERATE(1, 2, 3);
  const bool rotary = GENERATE(false, true);
  elm::Rng rng(seed);
  MultiHeadAttentionConfig config{16, 4};
  config.layout = seed == 2 ? QkvLayout::gpt2 : QkvLayout::torch;
  if (rotary) config.rotary_positions = 12;
  MultiHeadAttention<TestType> mha(config);
  mha.init(rng);
  const Index B = 2, N = 9;
  const Matrix<TestType> x = random_matrix(rng, 16, B * N).template cast<TestType>();
  AttentionMask<TestType> mask;
  mask.causal = true;
  Matrix<TestType> full;
  mha.forward(x, B, mask, full);

  elm::nn::KvCache<TestType> kv(16, B, 12);
  Matrix<TestType> decoded(16, B * N), chunk, y;
  for (Index t0 = 0; t0 < N; t0 += step) {
    const Index n = std::min(step, N - t0);
    chunk.resize(16, B * n);
    for (Index b = 0; b < B; ++b) chunk.middleCols(b * n, n) = x.middleCols(b * N + t0, n);
    mha.forward_incremental(chunk, kv, y);
    for (Index b = 0; b < B; ++b) decoded.middleCols(b * N + t0, n) = y.middleCols(b * n, n);
  }
  CHECK(kv.length() == N);
  const double tol = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
  CHECK(double((decoded - full).cwiseAbs().maxCoeff()) <= tol * double(full.cwiseAbs().maxCoeff()));
  kv.reset();
  CHECK(kv.length() == 0);
}

TEST_CASE("causal self-attention: changing token t+1 leaves outputs 0..t unchanged", "[attention][mha][property]") {
  elm::Rng rng(9);
  MultiHeadAttention<double> mha(MultiHeadAttentionConfig{8, 2});
  mha.init(rng);
  const Index T = 6;
  Matrix<double> x = random_matrix(rng, 8, T), y0, y1;
  AttentionMask<double> mask;
  mask.causal = true;
  mha.forward(x, 1, mask, y0);
  const Index t = GENERATE(0, 2, 4);
  x.col(t + 1).setRandom();
  mha.forward(x, 1, mask, y1);
  CHECK((y0.leftCols(t + 1) - y1.leftCols(t + 1)).cwiseAbs().maxCoeff() == 0.0);
  CHECK((y0.col(t + 1) - y1.col(t + 1)).cwiseAbs().maxCoeff() > 0.0);
}

TEST_CASE("MultiHeadAttention rejects bad configurations and inputs", "[attention][mha][bad-input]") {
  REQUIRE_THROWS_MATCHES(MultiHeadAttention<float>(MultiHeadAttentionConfig{10, 3}), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention: heads H = 3 does not divide the width "
                                                  "C = 10, expected C % H == 0"));
  REQUIRE_THROWS_AS(MultiHeadAttention<float>(MultiHeadAttentionConfig{0, 1}), elm::InvalidArgument);
  MultiHeadAttentionConfig bad_dropout{8, 2};
  bad_dropout.dropout = 1.0;
  REQUIRE_THROWS_AS(MultiHeadAttention<float>(bad_dropout), elm::InvalidArgument);

  MultiHeadAttention<float> mha(MultiHeadAttentionConfig{8, 2});
  Matrix<float> y;
  AttentionMask<float> none;
  REQUIRE_THROWS_WITH(mha.forward(Matrix<float>::Zero(7, 4), 1, none, y), Contains("x has 7 rows, expected C = 8"));
  REQUIRE_THROWS_WITH(mha.forward(Matrix<float>::Zero(8, 5), 2, none, y),
                      Contains("expected a positive multiple of B = 2"));

  const Matrix<float> x = Matrix<float>::Zero(8, 2 * 3);
  AttentionMask<float> wrong_additive;
  wrong_additive.additive = Matrix<float>::Zero(3, 4);
  REQUIRE_THROWS_MATCHES(mha.forward(x, 2, wrong_additive, y), elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward: additive mask is 3x4, "
                                                  "expected 3x3"));
  AttentionMask<float> wrong_lengths;
  wrong_lengths.key_lengths = {3};
  REQUIRE_THROWS_WITH(mha.forward(x, 2, wrong_lengths, y), Contains("key_lengths has 1 entries, expected B = 2"));
  wrong_lengths.key_lengths = {3, 4};
  REQUIRE_THROWS_AS(mha.forward(x, 2, wrong_lengths, y), elm::RangeError);

  MultiHeadAttention<float>::Cache cache;
  mha.forward(x, 2, none, y, &cache);
  Matrix<float> dq, dk, dv;
  REQUIRE_THROWS_AS(mha.backward(cache, y, dq, dk, dv), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(mha.backward(cache, Matrix<float>::Zero(8, 5), dq), Contains("dy is 8x5, expected 8x6"));
}

TEST_CASE("KV cache overflow and mismatched caches are errors that leave the cache unchanged",
          "[attention][kv_cache][bad-input]") {
  elm::Rng rng(3);
  MultiHeadAttention<float> mha(MultiHeadAttentionConfig{8, 2});
  mha.init(rng);
  elm::nn::KvCache<float> kv(8, 1, 3);
  Matrix<float> y;
  mha.forward_incremental(Matrix<float>::Ones(8, 2), kv, y);
  REQUIRE_THROWS_MATCHES(mha.forward_incremental(Matrix<float>::Ones(8, 2), kv, y), elm::RangeError,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward_incremental: appending 2 "
                                                  "positions to a cache holding 2 would exceed its max_length = 3"));
  CHECK(kv.length() == 2);
  REQUIRE_THROWS_AS(kv.append(Matrix<float>::Ones(8, 2), Matrix<float>::Ones(8, 2)), elm::RangeError);
  CHECK(kv.length() == 2);
  REQUIRE_NOTHROW(mha.forward_incremental(Matrix<float>::Ones(8, 1), kv, y));
  CHECK(kv.remaining() == 0);
  elm::nn::KvCache<float> other(6, 1, 4);
  REQUIRE_THROWS_WITH(mha.forward_incremental(Matrix<float>::Ones(8, 1), other, y),
                      Contains("the cache has width 6, expected C = 8"));
  REQUIRE_THROWS_AS(elm::nn::KvCache<float>(8, 1, 0), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(kv.append(Matrix<float>::Ones(7, 1), Matrix<float>::Ones(8, 1)), Contains("k_new is 7x1"));
}
