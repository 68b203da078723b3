// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

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

static_assert(elm::nn::is_layer_v<MultiHeadAttention<float>>, "MultiHeadAttention keeps the layer contract");

namespace {

template <typename Scalar>
AttentionMask<Scalar> fixture_mask(const Fixture& f) {
  AttentionMask<Scalar> mask;
  mask.causal = f.meta.at("causal").get<bool>();
  mask.key_lengths = f.lengths();
  // PyTorch's (L, S) attn_mask has the bytes of elm's (T_k, T_q) mask, its (B * H, L, S) those of (T_k, B * H * T_q),
  // its (B, S) key_padding_mask those of (T_k, B). nn.MultiheadAttention's boolean masks say True = not allowed,
  // the sense of elm's `hidden` fields.
  if (f.has("additive")) mask.additive = f.matrix<Scalar>("additive");
  if (f.has("attn_mask_bool")) mask.hidden = f.bool_matrix("attn_mask_bool");
  if (f.has("key_padding_mask")) mask.key_padding_hidden = f.bool_matrix("key_padding_mask");
  if (f.has("key_padding_mask_float")) mask.key_padding_additive = f.matrix<Scalar>("key_padding_mask_float");
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
  // the weights are asked of the plain path only (asking forces it)
  const bool need_weights = f.meta.at("need_weights").get<bool>() && path != AttentionPath::blocked;
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
    mha.forward(query, B, mask, y, &cache, {}, options);
  else
    mha.forward(query, f.matrix<Scalar>("key"), f.matrix<Scalar>("value"), B, mask, y, &cache, {}, options);
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
  SECTION("blocked path") { run_mha_fixture<TestType>(name, AttentionPath::blocked); }
}

TEMPLATE_TEST_CASE("MultiHeadAttention matches torch.nn.MultiheadAttention with key padding at any position and "
                   "boolean and float masks per batch and head",
                   "[attention][mha][mask][parity]", float, double) {
  // key_padding_mask with holes and left padding (boolean, per-head weights), float key_padding_mask with -inf
  // holes (cross-attention), boolean attn_mask (B * H, L, S) with a key padding hole, float attn_mask
  // (B * H, L, S) with -inf entries under the causal mask
  const std::string name = GENERATE(as<std::string>{}, "mha_key_padding_holes", "mha_key_padding_float",
                                    "mha_bool_mask_heads", "mha_float_mask_heads_causal");
  SECTION("plain path") { run_mha_fixture<TestType>(name, AttentionPath::plain); }
  SECTION("blocked path") { run_mha_fixture<TestType>(name, AttentionPath::blocked); }
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
              nullptr, {}, options);
  // The reference has NaN in sequence 1 (no valid key) and at query 2 of sequence 0; relative_error
  // requires NaN exactly there.
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < parity_tolerance<TestType>());
  if (path == AttentionPath::plain)
    CHECK(relative_error<TestType>("weights", weights, f.matrix<double>("weights")) < parity_tolerance<TestType>());
  CHECK(std::isnan(y(0, masked)));
  CHECK(std::isfinite(y(0, 0)));
}

TEST_CASE("MultiHeadAttention's constructor taking an Rng is construction then reset_parameters", "[attention][mha]") {
  const auto layout = GENERATE(QkvLayout::torch, QkvLayout::gpt2);
  MultiHeadAttentionConfig config{8, 2};
  config.layout = layout;
  elm::Rng a(3), b(3);
  const MultiHeadAttention<double> direct(config, a);
  MultiHeadAttention<double> reset(config);
  reset.reset_parameters(b);
  const auto values = parameter_values<double>(direct);
  CHECK(values.size() == 4);
  CHECK(values == parameter_values<double>(reset));
}

TEST_CASE("the gpt2 layout is the torch layout with transposed weights", "[attention][mha]") {
  elm::Rng rng(11);
  MultiHeadAttentionConfig tc{12, 3};
  MultiHeadAttentionConfig gc = tc;
  gc.layout = QkvLayout::gpt2;
  MultiHeadAttention<double> torch_mha(tc), gpt2_mha(gc);
  torch_mha.reset_parameters(rng);
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
  mha.reset_parameters(rng);
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
  mha.reset_parameters(rng);
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
  mha.reset_parameters(rng);
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

TEMPLATE_TEST_CASE("a left-padded batch equals each sequence run alone, forward and backward, on both paths",
                   "[attention][mha][mask][property]", float, double) {
  using S = TestType;
  const auto path = GENERATE(AttentionPath::plain, AttentionPath::blocked);
  // causal with Hugging Face's finite additive padding (a padded query then sees only padding, uniformly, and
  // stays finite), or bidirectional with boolean padding (a padded query sees the real keys)
  const bool causal = GENERATE(false, true);
  elm::Rng rng(17);
  const Index C = 8, T = 5;
  MultiHeadAttentionConfig config{C, 2};
  config.path = path;
  MultiHeadAttention<S> mha(config, rng);
  const std::vector<Index> lengths{5, 3, 1};
  const Index B = Index(lengths.size());
  // Sequence b's real tokens are the last lengths[b] positions; the padding positions hold random vectors.
  const Matrix<S> x = random_matrix(rng, C, B * T).cast<S>();
  Matrix<S> dy = random_matrix(rng, C, B * T).cast<S>();
  AttentionMask<S> mask;
  mask.causal = causal;
  if (causal)
    mask.key_padding_additive = Matrix<S>::Zero(T, B);
  else
    mask.key_padding_hidden = Matrix<bool>::Zero(T, B);
  for (Index b = 0; b < B; ++b) {
    const Index pad = T - lengths[std::size_t(b)];
    dy.middleCols(b * T, pad).setZero();  // no loss on padding
    if (causal)
      mask.key_padding_additive.col(b).head(pad).setConstant(std::numeric_limits<S>::lowest());
    else
      mask.key_padding_hidden.col(b).head(pad).setConstant(true);
  }
  typename MultiHeadAttention<S>::Cache cache;
  Matrix<S> y, dx;
  mha.zero_grad();
  mha.forward(x, B, mask, y, &cache);
  mha.backward(cache, dy, dx);
  MultiHeadAttention<S> alone = mha;  // the same weights, gradients summed over the sequences run one by one
  alone.zero_grad();
  const double tol = parity_tolerance<S>();
  for (Index b = 0; b < B; ++b) {
    const Index len = lengths[std::size_t(b)], pad = T - len;
    AttentionMask<S> m;
    m.causal = causal;
    typename MultiHeadAttention<S>::Cache c;
    Matrix<S> y1, dx1;
    alone.forward(x.middleCols(b * T + pad, len), 1, m, y1, &c);
    alone.backward(c, dy.middleCols(b * T + pad, len), dx1);
    INFO("sequence " << b);
    CHECK(relative_error<S>("y", Matrix<S>(y.middleCols(b * T + pad, len)), y1.template cast<double>()) < tol);
    CHECK(relative_error<S>("dx", Matrix<S>(dx.middleCols(b * T + pad, len)), dx1.template cast<double>()) < tol);
    if (pad == 0) continue;
    CHECK(y.middleCols(b * T, pad).allFinite());
    // Padding is neither seen nor scored: its gradient is 0, or, with the finite padding, the weight Eigen's
    // vectorised exp gives a score of -3e38 (about 1e-38 in float, where PyTorch's exp gives 0) times O(1).
    CHECK(double(dx.middleCols(b * T, pad).cwiseAbs().maxCoeff()) <= (causal ? 1e-30 : 0.0));
  }
  const auto summed = parameter_values<S>(alone, /*gradients=*/true);
  mha.for_each_parameter("", [&](const std::string& n, elm::nn::Parameter<S>& p) {
    CHECK(relative_error<S>("grad." + n, p.grad, summed.at(n)) < tol);
  });
}

TEMPLATE_TEST_CASE("batched generation from left-padded prompts equals each prompt decoded alone",
                   "[attention][kv_cache][mask][property]", float, double) {
  using S = TestType;
  elm::Rng rng(19);
  const Index C = 8, P = 4, steps = 3;
  MultiHeadAttention<S> mha(MultiHeadAttentionConfig{C, 2}, rng);
  const std::vector<Index> prompt{4, 2};  // real prompt lengths; sequence 1 has 2 padding positions first
  const Index B = 2;
  const Matrix<S> x = random_matrix(rng, C, B * P).cast<S>();                // padded prompts
  const Matrix<S> next = random_matrix(rng, C, B * steps).cast<S>();         // the tokens decoded after them
  // batched: the prompts in one call, then one token per step, the padding keys hidden at every step
  elm::nn::KvCache<S> kv(C, B, P + steps);
  Matrix<bool> padding = Matrix<bool>::Zero(P + steps, B);
  for (Index b = 0; b < B; ++b) padding.col(b).head(P - prompt[std::size_t(b)]).setConstant(true);
  AttentionMask<S> mask;
  mask.key_padding_hidden = padding.topRows(P);
  Matrix<S> y_prompt, step_y, y_steps(C, B * steps);
  mha.forward_incremental(x, kv, mask, y_prompt);
  for (Index t = 0; t < steps; ++t) {
    mask.key_padding_hidden = padding.topRows(P + t + 1);
    Matrix<S> token(C, B);
    for (Index b = 0; b < B; ++b) token.col(b) = next.col(b * steps + t);
    mha.forward_incremental(token, kv, mask, step_y);
    for (Index b = 0; b < B; ++b) y_steps.col(b * steps + t) = step_y.col(b);
  }
  // alone: each real prompt and its continuation as one causal sequence
  const double tol = parity_tolerance<S>();
  for (Index b = 0; b < B; ++b) {
    const Index len = prompt[std::size_t(b)], pad = P - len;
    Matrix<S> seq(C, len + steps), y1;
    seq.leftCols(len) = x.middleCols(b * P + pad, len);
    seq.rightCols(steps) = next.middleCols(b * steps, steps);
    AttentionMask<S> causal;
    causal.causal = true;
    mha.forward(seq, 1, causal, y1);
    INFO("sequence " << b);
    CHECK(relative_error<S>("prompt", Matrix<S>(y_prompt.middleCols(b * P + pad, len)),
                            Matrix<double>(y1.leftCols(len).template cast<double>())) < tol);
    CHECK(relative_error<S>("steps", Matrix<S>(y_steps.middleCols(b * steps, steps)),
                            Matrix<double>(y1.rightCols(steps).template cast<double>())) < tol);
  }
}

TEST_CASE("dropout on the weights runs in a training context only, and needs its generator",
          "[attention][mha][dropout]") {
  elm::Rng rng(4);
  MultiHeadAttentionConfig config{8, 2};
  config.dropout = 0.5;
  MultiHeadAttention<double> mha(config, rng);
  const Matrix<double> x = random_matrix(rng, 8, 2 * 4);
  const AttentionMask<double> none;
  Matrix<double> y_inference, y_again, y_train;
  mha.forward(x, 2, none, y_inference);
  mha.forward(x, 2, none, y_again, nullptr, elm::nn::ForwardContext::inference());
  CHECK(y_inference == y_again);
  typename MultiHeadAttention<double>::Cache cache;
  mha.forward(x, 2, none, y_train, &cache, elm::nn::ForwardContext::train(rng));
  CHECK_FALSE(cache.used_blocked);
  CHECK(cache.plain.keep.size() != 0);
  CHECK((y_train - y_inference).cwiseAbs().maxCoeff() > 0.0);
  REQUIRE_THROWS_MATCHES(mha.forward(x, 2, none, y_train, nullptr, elm::nn::ForwardContext::train_deterministic()),
                         elm::InvalidArgument,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward: a training forward that "
                                                  "draws random numbers needs ForwardContext::train(rng), got no "
                                                  "generator"));
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
                                                  "expected 3x3 (T_k x T_q), 3x6 (T_k x B * T_q) or 3x12 "
                                                  "(T_k x B * H * T_q)"));
  AttentionMask<float> wrong_heads;  // (T_k, B * H * T_q) for B = 2, H = 2 is 3x12
  wrong_heads.hidden = Matrix<bool>::Zero(3, 8);
  REQUIRE_THROWS_MATCHES(mha.forward(x, 2, wrong_heads, y), elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward: hidden mask is 3x8, "
                                                  "expected 3x3 (T_k x T_q), 3x6 (T_k x B * T_q) or 3x12 "
                                                  "(T_k x B * H * T_q)"));
  AttentionMask<float> wrong_padding;  // cross-attention: T_k = 5 keys
  wrong_padding.key_padding_hidden = Matrix<bool>::Zero(3, 2);
  REQUIRE_THROWS_MATCHES(mha.forward(x, Matrix<float>::Zero(8, 10), Matrix<float>::Zero(8, 10), 2, wrong_padding, y),
                         elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward: key_padding_hidden (T_k x B) "
                                                  "is 3x2, expected 5x2"));
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
  mha.reset_parameters(rng);
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
  // the mask covers the cached positions after the append: T_k = 1 + 2 here, not 2
  elm::nn::KvCache<float> fresh(8, 1, 4);
  mha.forward_incremental(Matrix<float>::Ones(8, 1), fresh, y);
  AttentionMask<float> short_mask;
  short_mask.key_padding_hidden = Matrix<bool>::Zero(2, 1);
  REQUIRE_THROWS_MATCHES(mha.forward_incremental(Matrix<float>::Ones(8, 2), fresh, short_mask, y), elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::MultiHeadAttention::forward_incremental: "
                                                  "key_padding_hidden (T_k x B) is 2x1, expected 3x1"));
  CHECK(fresh.length() == 1);
  REQUIRE_THROWS_AS(elm::nn::KvCache<float>(8, 1, 0), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(kv.append(Matrix<float>::Ones(7, 1), Matrix<float>::Ones(8, 1)), Contains("k_new is 7x1"));
}

TEST_CASE("A KV cache holding each sequence of another R times decodes as if the repeated prompts had been run",
          "[attention][kv_cache]") {
  elm::Rng rng(5);
  MultiHeadAttention<double> mha(MultiHeadAttentionConfig{8, 2});
  mha.reset_parameters(rng);
  const Index B = 2, R = 3, P = 4;
  const Matrix<double> prompts = random_matrix(rng, 8, B * P), step = random_matrix(rng, 8, B * R);
  Matrix<double> repeated_prompts(8, B * R * P), y, y_repeated, y_run;
  for (Index b = 0; b < B * R; ++b) repeated_prompts.middleCols(b * P, P) = prompts.middleCols((b / R) * P, P);
  elm::nn::KvCache<double> once(8, B, P), repeated(8, B * R, P + 1), run(8, B * R, P + 1);
  mha.forward_incremental(prompts, once, y);
  repeated.assign_repeated(once, R);
  mha.forward_incremental(repeated_prompts, run, y_run);
  CHECK(repeated.length() == P);
  for (Index b = 0; b < B * R; ++b) {
    CHECK(repeated.keys().middleCols(b * (P + 1), P) == once.keys().middleCols((b / R) * P, P));
    CHECK(repeated.values().middleCols(b * (P + 1), P) == once.values().middleCols((b / R) * P, P));
  }
  mha.forward_incremental(step, repeated, y_repeated);
  mha.forward_incremental(step, run, y_run);
  CHECK((y_repeated - y_run).cwiseAbs().maxCoeff() < 1e-12);
  // a cache of another width or batch, or too short, is refused
  elm::nn::KvCache<double> wrong_batch(8, B * R + 1, P), too_short(8, B * R, P - 1), wrong_width(6, B * R, P);
  CHECK_THROWS_WITH(wrong_batch.assign_repeated(once, R), Contains("cannot hold 3 copies of one of C = 8, B = 2, "
                                                                   "expected C = 8, B = 6"));
  CHECK_THROWS_AS(wrong_width.assign_repeated(once, R), elm::ShapeError);
  CHECK_THROWS_WITH(too_short.assign_repeated(once, R), Contains("4 positions would exceed max_length = 3"));
}
