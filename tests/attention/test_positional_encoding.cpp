// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>

#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/rotary_embedding.hpp"
#include "fixture.hpp"

using namespace attention_test;
using elm::nn::LearnedPositionalEmbedding;
using elm::nn::RotaryEmbedding;
using elm::nn::RotaryLayout;
using elm::nn::SinusoidalPositionalEncoding;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

TEMPLATE_TEST_CASE("the sinusoidal table matches the Annotated Transformer's", "[attention][positional][parity]",
                   float, double) {
  const Fixture f = load_fixture("sinusoidal");
  SinusoidalPositionalEncoding<TestType> pe(f.dim("C"), f.dim("P"));
  CHECK(relative_error<TestType>("pe", pe.table(), f.matrix<double>("pe")) < parity_tolerance<TestType>());
  // By hand: position 0 is (sin 0, cos 0, ...) = (0, 1, 0, 1, ...); position 1, pair 0 is (sin 1, cos 1).
  CHECK(pe.table()(0, 0) == TestType(0));
  CHECK(pe.table()(1, 0) == TestType(1));
  CHECK_THAT(double(pe.table()(0, 1)), WithinAbs(std::sin(1.0), 1e-7));
  // forward adds the table to each sequence of the batch, starting at the offset
  const Matrix<TestType> x = Matrix<TestType>::Ones(f.dim("C"), 2 * 3);
  Matrix<TestType> y;
  pe.forward(x, 2, 4, y);
  CHECK(y.col(3) == (pe.table().col(4).array() + TestType(1)).matrix());
  REQUIRE_THROWS_MATCHES(pe.forward(x, 2, 5, y), elm::RangeError,
                         Catch::Matchers::Message("elm::nn::SinusoidalPositionalEncoding::forward: positions 5..7 "
                                                  "exceed max_positions = 7 (sequence too long)"));
  REQUIRE_THROWS_AS(SinusoidalPositionalEncoding<TestType>(5, 3), elm::InvalidArgument);
}

TEST_CASE("learned positional embedding adds rows and accumulates their gradients", "[attention][positional][grad]") {
  elm::Rng rng(2);
  LearnedPositionalEmbedding<double> wpe(6, 3);
  wpe.reset_parameters(rng);
  CHECK(wpe.weight().shape == std::vector<Index>{6, 3});
  Matrix<double> x = random_matrix(rng, 3, 2 * 4);
  const Matrix<double> g = random_matrix(rng, 3, 2 * 4);
  auto loss = [&]() {
    Matrix<double> y;
    wpe.forward(x, 2, 1, y);
    return (y.array() * g.array()).sum();
  };
  Matrix<double> y, dx;
  LearnedPositionalEmbedding<double>::Cache cache;
  wpe.forward(x, 2, 1, y, &cache);
  CHECK(y.col(5) == x.col(5) + wpe.weight().value.col(2));
  wpe.zero_grad();
  wpe.backward(cache, g, dx);
  CHECK(dx == g);
  CHECK(wpe.weight().grad.col(0).isZero());
  CHECK(wpe.weight().grad.col(1) == g.col(0) + g.col(4));
  check_gradient("weight", wpe.weight().value, loss, wpe.weight().grad);
  REQUIRE_THROWS_WITH(wpe.forward(x, 2, 3, y), Contains("positions 3..6 exceed max_positions = 6"));
  REQUIRE_THROWS_WITH(wpe.forward(Matrix<double>::Zero(4, 2), 1, 0, y), Contains("x has 4 rows, expected C = 3"));
}

TEST_CASE("learned positional embedding takes any position per column, as a left-padded batch numbers them",
          "[attention][positional][grad]") {
  elm::Rng rng(3);
  LearnedPositionalEmbedding<double> wpe(6, 3);
  wpe.reset_parameters(rng);
  const Matrix<double> x = random_matrix(rng, 3, 2 * 4);
  const Matrix<double> g = random_matrix(rng, 3, 2 * 4);
  // two sequences of 4: the first counts 1..4 (the offset form's), the second is left-padded by two (0, 0, 0, 1)
  const std::vector<Index> positions{1, 2, 3, 4, 0, 0, 0, 1};
  Matrix<double> y, y_offset, dx;
  LearnedPositionalEmbedding<double>::Cache cache;
  wpe.forward(x, positions, y, &cache);
  wpe.forward(x, 2, 1, y_offset);
  CHECK(y.leftCols(4) == y_offset.leftCols(4));
  CHECK(y.col(7) == x.col(7) + wpe.weight().value.col(1));
  wpe.zero_grad();
  wpe.backward(cache, g, dx);
  CHECK(dx == g);
  CHECK(wpe.weight().grad.col(0) == g.col(4) + g.col(5) + g.col(6));
  CHECK(wpe.weight().grad.col(5).isZero());
  auto loss = [&]() {
    Matrix<double> out;
    wpe.forward(x, positions, out);
    return (out.array() * g.array()).sum();
  };
  check_gradient("weight", wpe.weight().value, loss, wpe.weight().grad);
  REQUIRE_THROWS_WITH(wpe.forward(x, std::vector<Index>(8, 6), y), Contains("position 6 is out of range"));
  REQUIRE_THROWS_AS(wpe.forward(x, std::vector<Index>(7, 0), y), elm::ShapeError);
}

TEMPLATE_TEST_CASE("rotary embedding matches the LLaMA references in both layouts", "[attention][rotary][parity]", float,
                   double) {
  const Fixture f = load_fixture("rotary");
  const Index B = f.dim("B"), D = f.dim("D"), offset = f.dim("offset");
  for (const auto& [layout, name] : {std::pair{RotaryLayout::half, "half"}, std::pair{RotaryLayout::interleaved, "interleaved"}}) {
    RotaryEmbedding<TestType> rope(D, 16, f.meta.at("base").get<double>(), layout);
    Matrix<TestType> x = f.matrix<TestType>("x");
    rope.apply(x, B, offset);
    CHECK(relative_error<TestType>(name, x, f.matrix<double>(name)) < parity_tolerance<TestType>());
    rope.apply_backward(x, B, offset);  // the inverse rotation
    CHECK(relative_error<TestType>("round trip", x, f.matrix<double>("x")) < parity_tolerance<TestType>());
  }
}

TEST_CASE("rotated query-key products depend only on the relative position", "[attention][rotary][property]") {
  elm::Rng rng(3);
  RotaryEmbedding<double> rope(8, 32);
  const Matrix<double> q0 = random_matrix(rng, 8, 1), k0 = random_matrix(rng, 8, 1);
  auto score = [&](Index pq, Index pk) {
    Matrix<double> q = q0, k = k0;
    rope.apply(q, 1, pq);
    rope.apply(k, 1, pk);
    return q.col(0).dot(k.col(0));
  };
  CHECK_THAT(score(5, 2), WithinAbs(score(13, 10), 1e-12));
  CHECK_THAT(score(0, 0), WithinAbs(q0.col(0).dot(k0.col(0)), 1e-12));
  Matrix<double> x = Matrix<double>::Zero(8, 3);
  REQUIRE_THROWS_AS(rope.apply(x, 1, 30), elm::RangeError);
  Matrix<double> odd = Matrix<double>::Zero(6, 3);
  REQUIRE_THROWS_WITH(rope.apply(odd, 1), Contains("expected a multiple of head_dim = 8"));
  REQUIRE_THROWS_AS(RotaryEmbedding<double>(7, 4), elm::InvalidArgument);
}
