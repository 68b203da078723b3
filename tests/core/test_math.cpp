// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "elm/core/math.hpp"

TEMPLATE_TEST_CASE("softmax columns sum to one and survive huge logits", "[core][math]", float, double) {
  elm::Matrix<TestType> x(3, 2);
  x << 1, 1000, 2, 1000, 3, -1000;
  elm::Matrix<TestType> y, logy;
  elm::softmax_columns<TestType>(x, y);
  elm::log_softmax_columns<TestType>(x, logy);
  // Column 0 by hand: e^1, e^2, e^3 over their sum: 0.0900306, 0.2447285, 0.6652410.
  CHECK_THAT(static_cast<double>(y(0, 0)), Catch::Matchers::WithinAbs(0.09003057317038046, 1e-6));
  CHECK_THAT(static_cast<double>(y(2, 0)), Catch::Matchers::WithinAbs(0.6652409557748219, 1e-6));
  // Column 1: two equal logits of 1000 share the mass; exp(-2000) is negligible (Eigen clamps it to the
  // smallest normal rather than 0) and nothing overflows to inf or NaN.
  CHECK(static_cast<double>(y(0, 1)) == Approx(0.5));
  CHECK(static_cast<double>(y(2, 1)) < 1e-30);
  CHECK(static_cast<double>(logy(0, 1)) == Approx(-std::log(2.0)));
  for (elm::Index t = 0; t < 2; ++t) CHECK(static_cast<double>(y.col(t).sum()) == Approx(1.0));
  CHECK(std::isinf(elm::log_sum_exp(elm::Vector<TestType>())));
}
