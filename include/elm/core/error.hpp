// SPDX-License-Identifier: MIT
// The exceptions elm throws, and ELM_EXPECT, the check that throws them with a full message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace elm {

/// Base of every exception elm throws. The message names the function or file, what was expected
/// and what was received.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A tensor or matrix whose dimensions disagree with what the operation needs.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An argument outside its documented domain (a negative order, a probability above one).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// An index or id outside its valid range (a token id >= V, a state id >= N).
class RangeError : public Error {
 public:
  using Error::Error;
};

/// A file or text whose contents are malformed or incompatible (bad header, bad UTF-8, bad ARPA).
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be opened, read, written or renamed.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A computation that produced a non-finite value or cannot proceed numerically.
class NumericalError : public Error {
 public:
  using Error::Error;
};

namespace detail {

/// Builds a message from its parts with operator<<, so messages need no formatting library.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  out.precision(17);
  (out << ... << parts);
  return out.str();
}

}  // namespace detail
}  // namespace elm

/// Throws ExceptionType(concat(parts...)) when cond is false. For user input: active in every build.
#define ELM_EXPECT(cond, ExceptionType, ...)                        \
  do {                                                              \
    if (!(cond)) throw ExceptionType(::elm::detail::concat(__VA_ARGS__)); \
  } while (false)

/// Internal invariant; compiled away under NDEBUG. Never guards user input.
#ifdef NDEBUG
#define ELM_ASSERT(cond) ((void)0)
#else
#include <cassert>
#define ELM_ASSERT(cond) assert(cond)
#endif
