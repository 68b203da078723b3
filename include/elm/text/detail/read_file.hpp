// SPDX-License-Identifier: MIT
// Reads a whole file into a string with C stdio, throwing IoError naming the file.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "elm/core/error.hpp"

namespace elm::text::detail {

inline std::string read_file(const std::string& path, const char* where) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ELM_EXPECT(f != nullptr, IoError, where, ": cannot open '", path, "': ", std::strerror(errno));
  std::string out;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  ELM_EXPECT(!failed, IoError, where, ": error while reading '", path, "'");
  return out;
}

}  // namespace elm::text::detail
