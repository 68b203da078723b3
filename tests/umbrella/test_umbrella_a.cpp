// SPDX-License-Identifier: MIT
// Two translation units include the umbrella header and link into one program: a missing `inline` on a
// namespace-scope function or variable in any header fails this link with a duplicate symbol.
#include <catch2/catch.hpp>

#include <elm/elm.hpp>

int umbrella_b_value();

TEST_CASE("two translation units that include elm.hpp link together", "[hygiene]") {
  CHECK(std::string(elm::version_string) == "0.1.0");
  CHECK(umbrella_b_value() == ELM_VERSION_MAJOR * 100 + ELM_VERSION_MINOR);
}
