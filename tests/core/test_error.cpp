// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"

using Catch::Matchers::Contains;

TEST_CASE("check_shape names the argument, the expected and the received shape", "[core][error]") {
  elm::Matrix<float> m(3, 4);
  REQUIRE_NOTHROW(elm::check_shape(m, 3, 4, "f", "x"));
  REQUIRE_NOTHROW(elm::check_shape(m, -1, 4, "f", "x"));
  REQUIRE_THROWS_MATCHES(elm::check_shape(m, 3, 5, "elm::f", "x"), elm::ShapeError,
                         Catch::Matchers::Message("elm::f: x is 3x4, expected 3x5"));
  REQUIRE_THROWS_MATCHES(elm::check_shape(m, 2, -1, "g", "y"), elm::ShapeError,
                         Catch::Matchers::Message("g: y is 3x4, expected 2xany"));
}

TEST_CASE("check_id rejects ids outside [0, size)", "[core][error]") {
  REQUIRE_NOTHROW(elm::check_id(0, 1, "f", "id"));
  REQUIRE_THROWS_AS(elm::check_id(1, 1, "f", "id"), elm::RangeError);
  REQUIRE_THROWS_AS(elm::check_id(-1, 1, "f", "id"), elm::RangeError);
  REQUIRE_THROWS_WITH(elm::check_id(7, 5, "elm::Embedding::forward", "token id"),
                      Contains("token id = 7 is out of range") && Contains("< 5"));
}

TEST_CASE("every elm exception is an elm::Error and a std::runtime_error", "[core][error]") {
  REQUIRE_THROWS_AS(throw elm::FormatError("x"), elm::Error);
  REQUIRE_THROWS_AS(throw elm::IoError("x"), std::runtime_error);
  REQUIRE_THROWS_AS(throw elm::NumericalError("x"), elm::Error);
  REQUIRE_THROWS_AS(throw elm::InvalidArgument("x"), elm::Error);
}
