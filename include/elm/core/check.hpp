// SPDX-License-Identifier: MIT
// Shape and range checks for public entry points; each throws with what, where, expected and got.
#pragma once

#include <string>
#include <string_view>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm {

/// Throws ShapeError unless m is rows x cols. where: the calling function; what: the argument's name.
/// A dimension given as -1 is not checked.
namespace detail {
inline std::string dim_text(Index n) { return n < 0 ? std::string("any") : std::to_string(n); }
}  // namespace detail

template <typename Derived>
void check_shape(const Eigen::EigenBase<Derived>& m, Index rows, Index cols, std::string_view where,
                 std::string_view what) {
  const bool rows_ok = rows < 0 || m.rows() == rows;
  const bool cols_ok = cols < 0 || m.cols() == cols;
  ELM_EXPECT(rows_ok && cols_ok, ShapeError, where, ": ", what, " is ", m.rows(), "x", m.cols(), ", expected ",
             detail::dim_text(rows), "x", detail::dim_text(cols));
}

/// Throws RangeError unless 0 <= id < size.
inline void check_id(Index id, Index size, std::string_view where, std::string_view what) {
  ELM_EXPECT(id >= 0 && id < size, RangeError, where, ": ", what, " = ", id, " is out of range, expected 0 <= ",
             what, " < ", size);
}

/// Throws InvalidArgument unless cond, with the message parts appended after "where: ".
template <typename... Parts>
void check_argument(bool cond, std::string_view where, const Parts&... parts) {
  ELM_EXPECT(cond, InvalidArgument, where, ": ", parts...);
}

}  // namespace elm
