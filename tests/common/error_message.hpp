// SPDX-License-Identifier: MIT
// The message of the exception a call throws, checked to be of the expected type, for matching its text.
#pragma once

#include <catch2/catch.hpp>

#include <string>

namespace elm_test {

/// Calls f() and returns the what() of the Error it throws; fails the test when f throws nothing (an exception
/// of another type propagates, failing the test with its own message).
template <typename Error, typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected an exception, none was thrown");
  return {};
}

}  // namespace elm_test
