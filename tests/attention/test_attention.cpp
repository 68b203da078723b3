// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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
using elm::nn::ForwardContext;
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
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, AttentionMask<S>{}, out, &cache, {},
                                           opts);
  CHECK_THAT(double(out(0, 0)), WithinAbs(7.0, 1e-6));
  CHECK_THAT(double(cache.weights(0, 0)), WithinAbs(0.25, 1e-7));
  CHECK_THAT(double(cache.weights(1, 0)), WithinAbs(0.75, 1e-7));
  AttentionMask<S> causal;
  causal.causal = true;
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, causal, out, &cache, {}, opts);
  CHECK(out(0, 0) == S(4));
  CHECK(cache.weights(1, 0) == S(0));
  CHECK_THAT(double(out(0, 1)), WithinAbs(7.0, 1e-6));
  // A key length of 1 hides key 1 from both queries.
  AttentionMask<S> padded;
  padded.key_lengths = {1};
  elm::nn::scaled_dot_product_attention<S>(q, k, v, AttentionDims{1, 1, 2, 2}, padded, out, nullptr, {}, opts);
  CHECK(out(0, 0) == S(4));
  CHECK(out(0, 1) == S(4));
}

namespace {

/// out of both paths for one mask; the blocked path's tiles are 1 x 1 so that the mask is applied tile by tile.
template <typename S>
std::pair<Matrix<S>, Matrix<S>> both_paths(const Matrix<S>& q, const Matrix<S>& k, const Matrix<S>& v,
                                           const AttentionDims& dims, const AttentionMask<S>& mask, S scale = S(0)) {
  AttentionOptions<S> opts;
  opts.scale = scale;
  BlockedAttentionOptions<S> bopts;
  bopts.scale = scale;
  bopts.query_block = 1;
  bopts.key_block = 1;
  Matrix<S> plain, blocked;
  elm::nn::scaled_dot_product_attention<S>(q, k, v, dims, mask, plain, nullptr, {}, opts);
  elm::nn::blocked_attention<S>(q, k, v, dims, mask, blocked, nullptr, bopts);
  return {plain, blocked};
}

}  // namespace

TEMPLATE_TEST_CASE("each kind of mask on the case worked by hand, on both paths", "[attention][sdpa][mask]", float,
                   double) {
  using S = TestType;
  // The case above: scores of each query (0, ln 3) over values (4, 8) give 7 without a mask.
  Matrix<S> q(1, 2), k(1, 2), v(1, 2);
  q << S(1), S(1);
  k << S(0), std::log(S(3));
  v << S(4), S(8);
  const AttentionDims dims{1, 1, 2, 2};
  auto check = [&](const AttentionMask<S>& mask, double out0, double out1) {
    const auto [plain, blocked] = both_paths<S>(q, k, v, dims, mask, S(1));
    CHECK_THAT(double(plain(0, 0)), WithinAbs(out0, 1e-6));
    CHECK_THAT(double(plain(0, 1)), WithinAbs(out1, 1e-6));
    CHECK_THAT(double(blocked(0, 0)), WithinAbs(out0, 1e-6));
    CHECK_THAT(double(blocked(0, 1)), WithinAbs(out1, 1e-6));
  };
  SECTION("key padding at key 0 (not a suffix): both queries see key 1 alone") {
    AttentionMask<S> mask;
    mask.key_padding_hidden = Matrix<bool>(2, 1);
    mask.key_padding_hidden << true, false;
    check(mask, 8.0, 8.0);
  }
  SECTION("additive key padding (ln 3, 0): scores (ln 3, ln 3), weights (1/2, 1/2)") {
    AttentionMask<S> mask;
    mask.key_padding_additive = Matrix<S>(2, 1);
    mask.key_padding_additive << std::log(S(3)), S(0);
    check(mask, 6.0, 6.0);
  }
  SECTION("a boolean per-score mask hiding key 1 from query 1 only") {
    AttentionMask<S> mask;
    mask.hidden = Matrix<bool>::Zero(2, 2);
    mask.hidden(1, 1) = true;  // (key 1, query 1)
    check(mask, 7.0, 4.0);
  }
  SECTION("an additive per-score mask of -ln 3 on key 1 of query 0: weights (1/2, 1/2)") {
    AttentionMask<S> mask;
    mask.additive = Matrix<S>::Zero(2, 2);
    mask.additive(1, 0) = -std::log(S(3));
    check(mask, 6.0, 7.0);
  }
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
  const auto training = elm::nn::ForwardContext::train(rng);
  auto loss = [&]() {
    rng.reseed(5);
    Matrix<double> out;
    elm::nn::scaled_dot_product_attention<double>(q, k, v, dims, mask, out, nullptr, training, opts);
    return (out.array() * g.array()).sum();
  };
  rng.reseed(5);
  AttentionCache<double> cache;
  Matrix<double> out, dq, dk, dv;
  elm::nn::scaled_dot_product_attention<double>(q, k, v, dims, mask, out, &cache, training, opts);
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
  AttentionCache<float> cache;
  Matrix<float> out;
  elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{1, 1, T, T}, AttentionMask<float>{}, out, &cache,
                                               elm::nn::ForwardContext::train(rng), opts);
  const double zeros = double((cache.keep.array() == 0.0f).count()) / double(cache.keep.size());
  CHECK_THAT(zeros, WithinAbs(0.25, 0.02));  // 4096 draws: 3 standard deviations is 0.02
  CHECK(cache.keep.maxCoeff() == 1.0f / 0.75f);
  // v = 1: each output is the sum of the kept, rescaled weights, whose expectation is 1.
  CHECK_THAT(double(out.mean()), WithinAbs(1.0, 0.05));
  // In inference no dropout happens.
  elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{1, 1, T, T}, AttentionMask<float>{}, out, &cache,
                                               elm::nn::ForwardContext::inference(), opts);
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
  // the masks at any position, never hiding key 0, which every query keeps (no fully masked query: its NaN
  // gradients differ between the paths)
  auto random_hidden = [&](Index cols) {
    Matrix<bool> m(Tk, cols);
    for (Index c = 0; c < cols; ++c)
      for (Index j = 0; j < Tk; ++j) m(j, c) = j > 0 && rng.below(3) == 0;
    return m;
  };
  const Index score_cols[] = {Tq, B * Tq, B * H * Tq};
  if (seed % 3 != 0) mask.hidden = random_hidden(score_cols[seed % 3]);
  if (seed % 2 == 1) mask.key_padding_hidden = random_hidden(B);
  if (seed % 4 == 2) mask.key_padding_additive = random_matrix(rng, Tk, B).cast<S>();
  if (seed == 5) mask.additive = random_matrix(rng, Tk, B * H * Tq).cast<S>();
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

TEMPLATE_TEST_CASE("masks that hide the same scores give the same outputs, whichever form says it",
                   "[attention][mask][property]", float, double) {
  using S = TestType;
  const std::uint64_t seed = GENERATE(1u, 2u, 3u, 4u);
  elm::Rng rng(seed);
  const Index B = 1 + Index(rng.below(3)), H = 1 + Index(rng.below(3)), Tq = 1 + Index(rng.below(6));
  const Index Tk = Tq + Index(rng.below(4)), D = 1 + Index(rng.below(4));
  const AttentionDims dims{B, H, Tq, Tk};
  const Matrix<S> q = random_matrix(rng, H * D, B * Tq).cast<S>(), k = random_matrix(rng, H * D, B * Tk).cast<S>();
  const Matrix<S> v = random_matrix(rng, H * 2, B * Tk).cast<S>();
  constexpr S neg_inf = -std::numeric_limits<S>::infinity();
  // 1) padding of a suffix: key_lengths, the boolean and the additive key padding, and the per-score masks of
  // each shape hiding the same keys
  std::vector<Index> lengths;
  for (Index b = 0; b < B; ++b) lengths.push_back(1 + Index(rng.below(std::uint64_t(Tk))));
  AttentionMask<S> by_lengths, by_key_hidden, by_key_additive, by_hidden_batch, by_hidden_heads, by_additive_heads;
  by_lengths.key_lengths = lengths;
  by_key_hidden.key_padding_hidden = Matrix<bool>::Zero(Tk, B);
  by_key_additive.key_padding_additive = Matrix<S>::Zero(Tk, B);
  by_hidden_batch.hidden = Matrix<bool>::Zero(Tk, B * Tq);
  by_hidden_heads.hidden = Matrix<bool>::Zero(Tk, B * H * Tq);
  by_additive_heads.additive = Matrix<S>::Zero(Tk, B * H * Tq);
  for (Index b = 0; b < B; ++b) {
    const Index pad = Tk - lengths[std::size_t(b)];
    by_key_hidden.key_padding_hidden.col(b).tail(pad).setConstant(true);
    by_key_additive.key_padding_additive.col(b).tail(pad).setConstant(neg_inf);
    by_hidden_batch.hidden.block(Tk - pad, b * Tq, pad, Tq).setConstant(true);
    by_hidden_heads.hidden.block(Tk - pad, b * H * Tq, pad, H * Tq).setConstant(true);
    by_additive_heads.additive.block(Tk - pad, b * H * Tq, pad, H * Tq).setConstant(neg_inf);
  }
  const auto [plain, blocked] = both_paths<S>(q, k, v, dims, by_lengths);
  for (const AttentionMask<S>* m :
       {&by_key_hidden, &by_key_additive, &by_hidden_batch, &by_hidden_heads, &by_additive_heads}) {
    const auto [p, b] = both_paths<S>(q, k, v, dims, *m);
    CHECK(p == plain);
    CHECK(b == blocked);
  }
  // 2) one additive (T_k, T_q) mask shared by the batch equals its copies per sequence and per head
  AttentionMask<S> shared, per_batch, per_head;
  shared.additive = random_matrix(rng, Tk, Tq).cast<S>();
  per_batch.additive = shared.additive.replicate(1, B);
  per_head.additive = shared.additive.replicate(1, B * H);
  const auto [sp, sb] = both_paths<S>(q, k, v, dims, shared);
  CHECK(both_paths<S>(q, k, v, dims, per_batch).first == sp);
  CHECK(both_paths<S>(q, k, v, dims, per_head).first == sp);
  CHECK(both_paths<S>(q, k, v, dims, per_batch).second == sb);
  CHECK(both_paths<S>(q, k, v, dims, per_head).second == sb);
}

TEMPLATE_TEST_CASE("scaled dot-product attention matches F.scaled_dot_product_attention with (B, 1, L, S) masks",
                   "[attention][sdpa][parity]", float, double) {
  using S = TestType;
  const std::string name = GENERATE(as<std::string>{}, "sdpa_bool_batch", "sdpa_float_batch");
  const Fixture f = load_fixture(name);
  const double tol = parity_tolerance<S>();
  const AttentionDims dims{f.dim("B"), f.dim("H"), f.dim("L"), f.dim("S")};
  const Matrix<S> q = f.matrix<S>("q"), k = f.matrix<S>("k"), v = f.matrix<S>("v"), g = f.matrix<S>("g");
  // (B, 1, L, S) has the bytes of elm's per-sequence (T_k, B * T_q) mask. PyTorch's boolean sense here is
  // true = takes part, so the mask is negated into `hidden`.
  AttentionMask<S> mask;
  if (f.meta.at("boolean").get<bool>())
    mask.hidden = (!f.bool_matrix("attn_mask").array()).matrix();
  else
    mask.additive = f.matrix<S>("attn_mask");
  Matrix<S> out, dq, dk, dv;
  SECTION("plain path") {
    AttentionCache<S> cache;
    elm::nn::scaled_dot_product_attention<S>(q, k, v, dims, mask, out, &cache);
    elm::nn::scaled_dot_product_attention_backward<S>(q, k, v, cache, g, dq, dk, dv);
  }
  SECTION("blocked path") {
    BlockedAttentionCache<S> cache;
    BlockedAttentionOptions<S> bopts;
    bopts.query_block = 3;  // tiles that split both the queries and the keys
    bopts.key_block = 2;
    elm::nn::blocked_attention<S>(q, k, v, dims, mask, out, &cache, bopts);
    elm::nn::blocked_attention_backward<S>(q, k, v, mask, out, cache, g, dq, dk, dv);
  }
  CHECK(relative_error<S>("out", out, f.matrix<double>("out")) < tol);
  CHECK(relative_error<S>("grad.q", dq, f.matrix<double>("grad.q")) < tol);
  CHECK(relative_error<S>("grad.k", dk, f.matrix<double>("grad.k")) < tol);
  CHECK(relative_error<S>("grad.v", dv, f.matrix<double>("grad.v")) < tol);
}

TEST_CASE("gradients with per-head and key-padding masks pass a finite-difference check, on both paths",
          "[attention][mask][grad]") {
  elm::Rng init(23);
  const Index B = 2, H = 2, Tq = 3, Tk = 5, D = 2, Dv = 3;
  Matrix<double> q = random_matrix(init, H * D, B * Tq), k = random_matrix(init, H * D, B * Tk);
  Matrix<double> v = random_matrix(init, H * Dv, B * Tk);
  const Matrix<double> g = random_matrix(init, H * Dv, B * Tq);
  const AttentionDims dims{B, H, Tq, Tk};
  AttentionMask<double> mask;
  mask.hidden = Matrix<bool>::Zero(Tk, B * H * Tq);
  mask.hidden(3, 1) = mask.hidden(1, 4) = mask.hidden(4, 8) = mask.hidden(2, 11) = true;
  mask.key_padding_hidden = Matrix<bool>::Zero(Tk, B);
  mask.key_padding_hidden(0, 1) = mask.key_padding_hidden(2, 0) = true;  // left padding and a hole
  mask.key_padding_additive = random_matrix(init, Tk, B);
  mask.additive = random_matrix(init, Tk, B * Tq);
  const bool blocked = GENERATE(false, true);
  BlockedAttentionOptions<double> bopts;
  bopts.query_block = 2;
  bopts.key_block = 2;
  auto forward = [&](Matrix<double>& out, AttentionCache<double>* pc, BlockedAttentionCache<double>* bc) {
    if (blocked)
      elm::nn::blocked_attention<double>(q, k, v, dims, mask, out, bc, bopts);
    else
      elm::nn::scaled_dot_product_attention<double>(q, k, v, dims, mask, out, pc);
  };
  auto loss = [&]() {
    Matrix<double> out;
    forward(out, nullptr, nullptr);
    return (out.array() * g.array()).sum();
  };
  AttentionCache<double> pc;
  BlockedAttentionCache<double> bc;
  Matrix<double> out, dq, dk, dv;
  forward(out, &pc, &bc);
  if (blocked)
    elm::nn::blocked_attention_backward<double>(q, k, v, mask, out, bc, g, dq, dk, dv);
  else
    elm::nn::scaled_dot_product_attention_backward<double>(q, k, v, pc, g, dq, dk, dv);
  check_gradient("dq", q, loss, dq);
  check_gradient("dk", k, loss, dk);
  check_gradient("dv", v, loss, dv);
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
  // every mask's shape is checked, and the message names the mask: B = 2, H = 2, T_q = T_k = 3
  AttentionMask<float> hidden;
  hidden.hidden = Matrix<bool>::Zero(3, 9);
  REQUIRE_THROWS_MATCHES(
      elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, hidden, out), elm::ShapeError,
      Catch::Matchers::Message("elm::nn::scaled_dot_product_attention: hidden mask is 3x9, expected 3x3 (T_k x T_q), "
                               "3x6 (T_k x B * T_q) or 3x12 (T_k x B * H * T_q)"));
  AttentionMask<float> key_hidden;
  key_hidden.key_padding_hidden = Matrix<bool>::Zero(2, 3);
  REQUIRE_THROWS_MATCHES(
      elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, key_hidden, out), elm::ShapeError,
      Catch::Matchers::Message("elm::nn::blocked_attention: key_padding_hidden (T_k x B) is 2x3, expected 3x2"));
  AttentionMask<float> key_additive;
  key_additive.key_padding_additive = Matrix<float>::Zero(3, 1);
  REQUIRE_THROWS_MATCHES(
      elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, key_additive, out),
      elm::ShapeError,
      Catch::Matchers::Message("elm::nn::scaled_dot_product_attention: key_padding_additive (T_k x B) is 3x1, "
                               "expected 3x2"));
  // and again by the backward of the blocked path, which takes the mask
  BlockedAttentionCache<float> bc;
  elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out, &bc);
  Matrix<float> dq, dk, dv;
  REQUIRE_THROWS_WITH(elm::nn::blocked_attention_backward<float>(q, k, v, key_hidden, out, bc, out, dq, dk, dv),
                      Contains("elm::nn::blocked_attention_backward: key_padding_hidden (T_k x B) is 2x3"));
  AttentionOptions<float> opts;
  opts.dropout = 1.0f;
  REQUIRE_THROWS_AS(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out,
                                                                 nullptr, {}, opts),
                    elm::InvalidArgument);
  // dropout in a training context needs a generator to draw from
  opts.dropout = 0.5f;
  REQUIRE_THROWS_MATCHES(elm::nn::scaled_dot_product_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out,
                                                                      nullptr, ForwardContext::train_deterministic(),
                                                                      opts),
                         elm::InvalidArgument,
                         Catch::Matchers::Message("elm::nn::scaled_dot_product_attention: a training forward that "
                                                  "draws random numbers needs ForwardContext::train(rng), got no "
                                                  "generator"));
  BlockedAttentionOptions<float> bopts;
  bopts.key_block = 0;
  REQUIRE_THROWS_AS(elm::nn::blocked_attention<float>(q, k, v, AttentionDims{2, 2, 3, 3}, none, out, nullptr, bopts),
                    elm::InvalidArgument);
}
