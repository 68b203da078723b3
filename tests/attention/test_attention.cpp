// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>

#include "elm/nn/attention.hpp"
#include "elm/nn/blocked_attention.hpp"
#include "fixture.hpp"

using namespace attention_test;
using elm::nn::AttentionCache;
using elm::nn::AttentionDims;
using elm::nn::AttentionMask;
using elm::nn::AttentionOptions;
using elm::nn::BlockedAttentionCache;
using elm::nn::BlockedAttentionOptions;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

TEMPLATE_TEST_CASE("scaled dot-product attention on a case worked by hand", "[attention][sdpa]", float, double) {
  using S = TestType;
  // One head, D = 1, scale 1: q = 1, keys 0 and ln 3 give scores (0, ln 3), softmax (1/4, 3/4);
  // values 4 and 8 give 4/4 + 24/4 = 7. With the causal mask query 0 sees only key 0: output 4.
  Matrix<S> q(1, 2), k(1, 2), v(1, 2);
  q << S(1), S(1);
  k << S(0), std::log(S(3));
  v << S(4), S(8);
  AttentionOptions<S> opts;
  opts.scale = S(1);
  AttentionCache<S> cache;
  Matrix<S> out;
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, AttentionMask<S>{}, out, &cache, opts);
  CHECK_THAT(double(out(0, 0)), WithinAbs(7.0, 1e-6));
  CHECK_THAT(double(cache.weights(0, 0)), WithinAbs(0.25, 1e-7));
  CHECK_THAT(double(cache.weights(1, 0)), WithinAbs(0.75, 1e-7));
  AttentionMask<S> causal;
  causal.causal = true;
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, causal, out, &cache, opts);
  CHECK(out(0, 0) == S(4));
  CHECK(cache.weights(1, 0) == S(0));
  CHECK_THAT(double(out(0, 1)), WithinAbs(7.0, 1e-6));
  // A key length of 1 hides key 1 from both queries.
  AttentionMask<S> padded;
  padded.key_lengths = {1};
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, padded, out, nullptr, opts);
  CHECK(out(0, 0) == S(4));
  CHECK(out(0, 1) == S(4));
}

TEST_CASE("attention weights are distributions over the visible keys", "[attention][sdpa][property]") {
  const std::uint64_t seed = GENERATE(1u, 2u, 3u, 4u);
  elm::Rng rng(seed);
  const Index B = 1 + Index(rng.below(3)), H = 1 + Index(rng.below(3)), Tq = 1 + Index(rng.below(6));
  const Index Tk = Tq + Index(rng.below(3)), D = 1 + Index(rng.below(4));
  const Matrix<double> q = random_matrix(rng, H * D, B * Tq), k = random_matrix(rng, H * D, B * Tk);
  const Matrix<double> v = random_matrix(rng, H * 2, B * Tk);
  AttentionMask<double> mask;
  mask.causal = true;
  for (Index b = 0; b < B; ++b) mask.key_lengths.push_back(Tk - Index(rng.below(std::uint64_t(Tk - Tq + 1))));
  AttentionCache<double> cache;
  Matrix<double> out;
  elm::nn::scaled_dot_product_attention<double>(q, k, v, AttentionDims{B, H, Tq, Tk}, mask, out, &cache);
  for (Index c = 0; c < cache.weights.cols(); ++c) {
    const Index b = c / (H * Tq), i = c % Tq;
    CHECK_THAT(cache.weights.col(c).sum(), WithinAbs(1.0, 1e-12));
    for (Index j = 0; j < Tk; ++j)
      if (j > i + Tk - Tq || j >= mask.key_lengths[std::size_t(b)]) CHECK(cache.weights(j, c) == 0.0);
  }
  const Matrix<double> mean = elm::nn::average_heads<double>(cache.weights, cache.dims);
  CHECK(mean.rows() == Tk);
  CHECK(mean.cols() == B * Tq);
  CHECK_THAT(mean.colwise().sum().minCoeff(), WithinAbs(1.0, 1e-12));
}

TEST_CASE("scaled dot-product attention gradients pass a finite-difference check, with dropout",
          "[attention][sdpa][grad]") {
  const double dropout = GENERATE(0.0, 0.3);
  elm::Rng init(21);
  const Index B = 2, H = 2, Tq = 3, Tk = 4, D = 3, Dv = 2;
  Matrix<double> q = random_matrix(init, H * D, B * Tq), k = random_matrix(init, H * D, B * Tk);
  Matrix<double> v = random_matrix(init, H * Dv, B * Tk);
  const Matrix<double> g = random_matrix(init, H * Dv, B * Tq);
  AttentionMask<double> mask;
  mask.causal = true;
  mask.key_lengths = {4, 3};
  mask.additive = random_matrix(init, Tk, Tq);
  const AttentionDims dims{B, H, Tq, Tk};
  elm::Rng rng;
  AttentionOptions<double> opts;
  opts.dropout = dropout;
  opts.rng = &rng;
  auto loss = [&]() {
    rng.reseed(5);
    Matrix<double> out;
    elm::nn::scaled_dot_product_attention<double>(q, k, v, dims, mask, out, nullptr, opts);
    return (out.array() * g.array()).sum();
  };
  rng.reseed(5);
  AttentionCache<double> cache;
  Matrix<double> out, dq, dk, dv;
  elm::nn::scaled_dot_product_attention<double>(q, k, v, dims, mask, out, &cache, opts);
  CHECK((cache.keep.size() != 0) == (dropout > 0.0));
  elm::nn::scaled_dot_product_attention_backward<double>(q, k, v, cache, g, dq, dk, dv);
  check_gradient("dq", q, loss, dq);
  check_gradient("dk", k, loss, dk);
  check_gradient("dv", v, loss, dv);
}

TEST_CASE("dropout on the weights zeroes a fraction p and scales survivors by 1/(1-p)", "[attention][sdpa][dropout]") {
  elm::Rng rng(8);
  const Index T = 64;
  const Matrix<float> q = random_matrix(rng, 4, T).cast<float>(), k = random_matrix(rng, 4, T).cast<float>();
  const Matrix<float> v = Matrix<float>::Ones(1, T);
  AttentionOptions<float> opts;
  opts.dropout = 0.25f;
  opts.rng = &rng;
  AttentionCache<float> cache;
  Matrix<float> out;
  elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{1, 1, T, T}, AttentionMask<float>{}, out, &cache,
                                               opts);
  const double zeros = double((cache.keep.array() == 0.0f).count()) / double(cache.keep.size());
  CHECK_THAT(zeros, WithinAbs(0.25, 0.02));  // 4096 draws: 3 standard deviations is 0.02
  CHECK(cache.keep.maxCoeff() == 1.0f / 0.75f);
  // v = 1: each output is the sum of the kept, rescaled weights, whose expectation is 1.
  CHECK_THAT(double(out.mean()), WithinAbs(1.0, 0.05));
  // Without an rng (inference) no dropout happens.
  opts.rng = nullptr;
  elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{1, 1, T, T}, AttentionMask<float>{}, out, &cache,
                                               opts);
  CHECK(cache.keep.size() == 0);
  CHECK_THAT(double(out.maxCoeff()), WithinAbs(1.0, 1e-6));
}

TEMPLATE_TEST_CASE("blocked attention equals the plain path, forward and backward", "[attention][blocked][property]",
                   float, double) {
  using S = TestType;
  const std::uint64_t seed = GENERATE(range(1u, 9u));
  elm::Rng rng(seed);
  const Index B = 1 + Index(rng.below(2)), H = 1 + Index(rng.below(3)), D = 2 + Index(rng.below(5));
  const Index Tq = 1 + Index(rng.below(40)), Tk = Tq + Index(rng.below(20));
  const Matrix<S> q = random_matrix(rng, H * D, B * Tq).cast<S>(), k = random_matrix(rng, H * D, B * Tk).cast<S>();
  const Matrix<S> v = random_matrix(rng, H * 3, B * Tk).cast<S>(), g = random_matrix(rng, H * 3, B * Tq).cast<S>();
  AttentionMask<S> mask;
  mask.causal = seed % 2 == 0;
  if (seed % 3 == 0) mask.additive = random_matrix(rng, Tk, Tq).cast<S>();
  if (seed % 4 != 1)
    for (Index b = 0; b < B; ++b) mask.key_lengths.push_back(Tk - Index(rng.below(std::uint64_t(Tk - Tq + 1))));
  const AttentionDims dims{B, H, Tq, Tk};
  BlockedAttentionOptions<S> bopts;
  bopts.query_block = 1 + Index(rng.below(16));
  bopts.key_block = 1 + Index(rng.below(16));
  AttentionCache<S> pc;
  BlockedAttentionCache<S> bc;
  Matrix<S> out_p, out_b, dq_p, dk_p, dv_p, dq_b, dk_b, dv_b;
  elm::nn::scaled_dot_product_attention<S>(q, k, v, dims, mask, out_p, &pc);
  elm::nn::blocked_attention<S>(q, k, v, dims, mask, out_b, &bc, bopts);
  CHECK(bc.lse.size() == B * H * Tq);  // what backward keeps is linear in T
  elm::nn::scaled_dot_product_attention_backward<S>(q, k, v, pc, g, dq_p, dk_p, dv_p);
  elm::nn::blocked_attention_backward<S>(q, k, v, mask, out_b, bc, g, dq_b, dk_b, dv_b);
  const double tol = std::is_same_v<S, float> ? 1e-5 : 1e-12;
  INFO("B=" << B << " H=" << H << " D=" << D << " Tq=" << Tq << " Tk=" << Tk << " blocks " << bopts.query_block << "x"
            << bopts.key_block);
  CHECK(relative_error<S>("out", out_b, out_p.template cast<double>()) < tol);
  CHECK(relative_error<S>("dq", dq_b, dq_p.template cast<double>()) < tol);
  CHECK(relative_error<S>("dk", dk_b, dk_p.template cast<double>()) < tol);
  CHECK(relative_error<S>("dv", dv_b, dv_p.template cast<double>()) < tol);
}

TEST_CASE("blocked attention at T = 4096 agrees with the plain path within float rounding", "[attention][blocked]") {
  // The blocked path runs the whole causal sequence; the plain path, the reference, computes the last 256
  // queries against all 4096 keys (its causal mask aligns them with the last positions), which are the
  // queries that see every key and go through every tile.
  elm::Rng rng(40);
  const Index T = 4096, D = 8, last = 256;
  const Matrix<float> q = random_matrix(rng, D, T).cast<float>(), k = random_matrix(rng, D, T).cast<float>();
  const Matrix<float> v = random_matrix(rng, D, T).cast<float>();
  AttentionMask<float> mask;
  mask.causal = true;
  Matrix<float> out_p, out_b;
  BlockedAttentionCache<float> bc;
  elm::nn::blocked_attention<float>(q, k, v, AttentionDims{1, 1, T, T}, mask, out_b, &bc);
  CHECK(bc.lse.size() == T);
  elm::nn::scaled_dot_product_attention<float>(q.rightCols(last), k, v, AttentionDims{1, 1, last, T}, mask, out_p);
  const Matrix<float> tail = out_b.rightCols(last);
  CHECK(relative_error<float>("out", tail, out_p.cast<double>()) < 1e-5);
  // and the first queries, which see only a few keys: position 0 sees itself alone
  CHECK((out_b.col(0) - v.col(0)).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("the plain path past its in-place product limit matches the formulas, forward and backward",
          "[attention][sdpa]") {
  // T_k T_q just past plain_in_place_max_scores: the head's products go through Eigen's product instead of
  // tile_product (the other tests stay below the limit)
  using M = Matrix<double>;
  elm::Rng rng(41);
  const Index D = 4, Tq = 3, Tk = elm::nn::detail::plain_in_place_max_scores / Tq + 1;
  REQUIRE(Tk * Tq > elm::nn::detail::plain_in_place_max_scores);
  const M q = random_matrix(rng, D, Tq), k = random_matrix(rng, D, Tk), v = random_matrix(rng, D, Tk);
  const M dout = random_matrix(rng, D, Tq);
  AttentionCache<double> cache;
  M out, dq, dk, dv;
  elm::nn::scaled_dot_product_attention<double>(q, k, v, AttentionDims{1, 1, Tq, Tk}, {}, out, &cache);
  elm::nn::scaled_dot_product_attention_backward<double>(q, k, v, cache, dout, dq, dk, dv);
  const double scale = 1.0 / std::sqrt(double(D));
  M p = scale * k.transpose() * q;
  for (Index c = 0; c < Tq; ++c) {
    p.col(c) = (p.col(c).array() - p.col(c).maxCoeff()).exp().matrix();
    p.col(c) /= p.col(c).sum();
  }
  const M dp = v.transpose() * dout;
  const M ds = (p.array() * (dp.array().rowwise() - (p.array() * dp.array()).colwise().sum())).matrix();
  CHECK(relative_error<double>("out", out, v * p) < 1e-12);
  CHECK(relative_error<double>("dv", dv, dout * p.transpose()) < 1e-12);
  CHECK(relative_error<double>("dq", dq, scale * k * ds) < 1e-10);
  CHECK(relative_error<double>("dk", dk, scale * q * ds.transpose()) < 1e-10);
}

TEST_CASE("attention functions reject inconsistent shapes, masks and options", "[attention][sdpa][bad-input]") {
  const Matrix<float> q = Matrix<float>::Zero(4, 6), k = Matrix<float>::Zero(4, 6), v = Matrix<float>::Zero(4, 6);
  Matrix<float> out;
  const AttentionMask<float> none;
  REQUIRE_THROWS_MATCHES(elm::nn::scaled_dot_product_attention<float>(q, Matrix<float>::Zero(3, 6), v,
                                                                      AttentionDims{2, 2, 3, 3}, none, out),
                         elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::scaled_dot_product_attention: k is 3x6, expected 4x6"));
  REQUIRE_THROWS_WITH(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 3, 3, 3}, none, out),
                      Contains("q has 4 rows, expected a positive multiple of H = 3"));
  REQUIRE_THROWS_WITH(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 2}, none, out),
                      Contains("k is 4x6, expected 4x4"));
  REQUIRE_THROWS_AS(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{0, 2, 3, 3}, none, out),
                    elm::InvalidArgument);
  AttentionMask<float> bad;
  bad.additive = Matrix<float>::Zero(3, 2);
  REQUIRE_THROWS_WITH(elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, bad, out),
                      Contains("elm::nn::blocked_attention: additive mask is 3x2, expected 3x3"));
  bad.additive.resize(0, 0);
  bad.key_lengths = {1, 2, 3};
  REQUIRE_THROWS_WITH(elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, bad, out),
                      Contains("key_lengths has 3 entries, expected B = 2"));
  bad.key_lengths = {1, -1};
  REQUIRE_THROWS_AS(elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, bad, out), elm::RangeError);
  AttentionOptions<float> opts;
  opts.dropout = 1.0f;
  REQUIRE_THROWS_AS(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out,
                                                                 nullptr, opts),
                    elm::InvalidArgument);
  BlockedAttentionOptions<float> bopts;
  bopts.key_block = 0;
  REQUIRE_THROWS_AS(elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out, nullptr, bopts),
                    elm::InvalidArgument);
}
