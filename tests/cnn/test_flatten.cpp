// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>

#include "cnn_fixture.hpp"
#include "elm/nn/flatten.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::Flatten;

static_assert(elm::nn::is_layer_v<Flatten<float>>, "Flatten keeps the layer contract");

TEST_CASE("Flatten puts a sample's features in PyTorch's channel-major order", "[cnn][flatten]") {
  // two channels, three positions, one sample: x(c, s) = 10 c + s -> (0, 1, 2, 10, 11, 12)
  Matrix<double> x(2, 3), y, dx;
  x << 0, 1, 2, 10, 11, 12;
  Flatten<double> flatten;
  Flatten<double>::Cache cache;
  flatten.forward(x, 1, y, &cache);
  REQUIRE(y.rows() == 6);
  REQUIRE(y.cols() == 1);
  const double want[] = {0, 1, 2, 10, 11, 12};
  for (Index i = 0; i < 6; ++i) CHECK(y(i, 0) == want[i]);
  flatten.backward(cache, y, dx);
  CHECK(dx == x);
}

TEMPLATE_TEST_CASE("Flatten matches torch.nn.Flatten on images", "[cnn][flatten][parity]", float, double) {
  const Fixture f = load("flatten_image");
  Flatten<TestType> flatten;
  typename Flatten<TestType>::Cache cache;
  Matrix<TestType> y, dx;
  flatten.forward(f.matrix<TestType>("x"), f.dim("batch"), y, &cache);
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) == 0.0);  // a permutation: exact
  flatten.backward(cache, f.matrix<TestType>("g"), dx);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) == 0.0);
}

TEST_CASE("Flatten rejects bad input with clear errors", "[cnn][flatten][errors]") {
  Flatten<float> flatten;
  Flatten<float>::Cache cache;
  Matrix<float> y, dx;
  CHECK_THAT(error_message<elm::ShapeError>([&] { flatten.forward(Matrix<float>::Zero(3, 10), 3, y); }),
             Contains("elm::nn::Flatten::forward") && Contains("10 columns"));
  CHECK_THROWS_AS(flatten.forward(Matrix<float>::Zero(3, 0), 0, y), elm::ShapeError);
  CHECK_THROWS_AS(flatten.backward(cache, Matrix<float>::Zero(1, 1), dx), elm::InvalidArgument);
  flatten.forward(Matrix<float>::Zero(3, 8), 2, y, &cache);
  CHECK_THAT(error_message<elm::ShapeError>([&] { flatten.backward(cache, Matrix<float>::Zero(12, 3), dx); }),
             Contains("expected 12x2"));
}
