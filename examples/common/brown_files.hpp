// SPDX-License-Identifier: MIT
// The Brown corpus's files read from a folder, in the order of the corpus's train/held-out split.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::examples {

/// The Brown files of a folder (ca01 ... cr09, in the NLTK layout), as (name, text) sorted by name, so that file i
/// is the i-th of classic::brown_held_out's split. Throws IoError naming `program` and the folder when it holds none
/// or a file cannot be read.
inline std::vector<std::pair<std::string, std::string>> read_brown_files(const std::string& dir,
                                                                         std::string_view program) {
  std::vector<std::pair<std::string, std::string>> files;
  const std::regex name("c[a-r][0-9][0-9]");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file() && std::regex_match(entry.path().filename().string(), name))
      files.emplace_back(entry.path().filename().string(), std::string());
  ELM_EXPECT(!ec && !files.empty(), IoError, program, ": no Brown files (ca01 ... cr09) in \"", dir, "\"",
             ec ? ": " + ec.message() : std::string());
  std::sort(files.begin(), files.end());
  for (auto& [file, text] : files) {
    std::ifstream in(std::filesystem::path(dir) / file, std::ios::binary);
    ELM_EXPECT(in.is_open(), IoError, program, ": cannot open \"", dir, "/", file, "\" for reading");
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  return files;
}

}  // namespace elm::examples
