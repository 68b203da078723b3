// SPDX-License-Identifier: MIT
// read_line_shard: the lines of one of several consecutive parts of a text file, each part read on its own (each
// process of a sharded job reads its part of the corpus, not the whole file).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/io/mapped_file.hpp"

namespace elm::io {

/// The lines of shard `shard` of `shards` of a text file. The file's bytes are cut into `shards` ranges of equal
/// size (within one byte) and a line belongs to the range its first byte is in, so the shards hold consecutive
/// lines in shard order, every line in exactly one shard, and shard 0, 1, ... together are the file's lines as
/// std::getline splits them (at '\n', which is dropped; a last line without '\n' is kept; a final '\n' starts no
/// line). A shard may be empty (a line longer than a range, more shards than lines). Only the shard's own bytes are
/// read (the file is mapped), plus the rest of the line that starts before the range when there is one.
/// Throws InvalidArgument for shard outside [0, shards), IoError when the file cannot be opened or read.
inline std::vector<std::string> read_line_shard(const std::string& path, int shard, int shards) {
  ELM_EXPECT(shards >= 1 && shard >= 0 && shard < shards, InvalidArgument, "elm::io::read_line_shard: shard ", shard,
             " of ", shards, ", expected 0 <= shard < shards");
  const MappedFile file(path, "elm::io::read_line_shard");
  const std::string_view text = file.text();
  // offset(k) = floor(size * k / shards), without the product's overflow
  const auto parts = static_cast<std::size_t>(shards);
  const auto offset = [&](std::size_t k) {
    return text.size() / parts * k + text.size() % parts * k / parts;
  };
  std::size_t begin = offset(static_cast<std::size_t>(shard));
  const std::size_t end = offset(static_cast<std::size_t>(shard) + 1);
  // a line that starts before the range belongs to the shard before
  if (begin > 0 && text[begin - 1] != '\n') {
    const std::size_t newline = text.find('\n', begin);
    begin = newline == std::string_view::npos ? text.size() : newline + 1;
  }
  std::vector<std::string> lines;
  for (std::size_t pos = begin; pos < end;) {
    const std::size_t newline = text.find('\n', pos);
    const std::size_t stop = newline == std::string_view::npos ? text.size() : newline;
    lines.emplace_back(text.substr(pos, stop - pos));
    pos = stop + 1;
  }
  return lines;
}

}  // namespace elm::io
