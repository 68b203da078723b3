// SPDX-License-Identifier: MIT
// How many bytes a stream has left: the bound against which a loader checks the counts a file announces.
#pragma once

#include <cstdint>
#include <istream>

namespace elm::io::detail {

/// The size of what is left in `in` from the current position, or -1 when the stream cannot seek (a pipe).
/// A loader compares an announced count with it before allocating for that count.
inline std::int64_t remaining_stream_bytes(std::istream& in) {
  // At the end already (a last line without '\n'): nothing is left, and tellg would fail on the eof state.
  if (in.eof()) return 0;
  const std::istream::pos_type here = in.tellg();
  if (here == std::istream::pos_type(-1)) return -1;
  in.seekg(0, std::ios::end);
  const std::istream::pos_type end = in.tellg();
  in.seekg(here);
  if (end == std::istream::pos_type(-1) || !in.good()) {
    in.clear();
    in.seekg(here);
    return -1;
  }
  return static_cast<std::int64_t>(end - here);
}

}  // namespace elm::io::detail
