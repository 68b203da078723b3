// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "elm/core/error.hpp"
#include "elm/io/line_shard.hpp"

namespace {

// The lines as std::getline splits them: what one process reading the whole file sees.
std::vector<std::string> getline_lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::filesystem::path line_file(const std::string& name, const std::string& text) {
  const std::filesystem::path dir = elm_test::fresh_directory("line-shard-" + name);
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / name;
  elm_test::write_bytes(path, text);
  return path;
}

}  // namespace

TEST_CASE("read_line_shard: a line belongs to the byte range it starts in", "[io][line_shard]") {
  using elm::io::read_line_shard;
  // 9 bytes in 3 ranges [0, 3) [3, 6) [6, 9): one line each
  const std::string even = line_file("even.txt", "ab\ncd\nef\n").string();
  CHECK(read_line_shard(even, 0, 3) == std::vector<std::string>{"ab"});
  CHECK(read_line_shard(even, 1, 3) == std::vector<std::string>{"cd"});
  CHECK(read_line_shard(even, 2, 3) == std::vector<std::string>{"ef"});
  // 11 bytes in [0, 5) [5, 11): the long first line starts in the first range and is read there whole; the second
  // range starts inside it, so its first line is the next one
  const std::string long_line = line_file("long.txt", "abcdefgh\nx\n").string();
  CHECK(read_line_shard(long_line, 0, 2) == std::vector<std::string>{"abcdefgh"});
  CHECK(read_line_shard(long_line, 1, 2) == std::vector<std::string>{"x"});
  // one line over four ranges: the others are empty
  const std::string one = line_file("one.txt", "only line").string();
  CHECK(read_line_shard(one, 0, 4) == std::vector<std::string>{"only line"});
  for (int s = 1; s < 4; ++s) CHECK(read_line_shard(one, s, 4).empty());
}

TEST_CASE("read_line_shard: the shards together are the file's lines, for any number of shards", "[io][line_shard]") {
  std::minstd_rand gen(7);
  std::vector<std::string> texts{"", "\n", "\n\n", "a", "a\n", "a\nb", "\n\nx\n", "x\r\ny\r\n", "word\n\n\nlast"};
  for (int k = 0; k < 20; ++k) {  // random texts of words, spaces and newlines, some ending without '\n'
    std::string t;
    const auto length = gen() % 200;
    for (unsigned i = 0; i < length; ++i) t += "ab \n"[gen() % 4];
    texts.push_back(t);
  }
  for (std::size_t k = 0; k < texts.size(); ++k) {
    const std::string path = line_file("random.txt", texts[k]).string();
    const std::vector<std::string> expected = getline_lines(texts[k]);
    for (int shards = 1; shards <= 7; ++shards) {
      INFO("text " << k << " (" << texts[k].size() << " bytes), " << shards << " shards");
      std::vector<std::string> joined;
      for (int s = 0; s < shards; ++s) {
        const auto part = elm::io::read_line_shard(path, s, shards);
        joined.insert(joined.end(), part.begin(), part.end());
      }
      CHECK(joined == expected);
    }
  }
}

TEST_CASE("read_line_shard: bad shard numbers and missing files", "[io][line_shard]") {
  const std::string path = line_file("small.txt", "a\nb\n").string();
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { elm::io::read_line_shard(path, 2, 2); }),
             Catch::Matchers::Contains("shard 2 of 2, expected 0 <= shard < shards"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { elm::io::read_line_shard(path, 0, 0); }),
             Catch::Matchers::Contains("expected 0 <= shard < shards"));
  CHECK_THAT(elm_test::error_message<elm::IoError>([&] { elm::io::read_line_shard(path + ".missing", 0, 1); }),
             Catch::Matchers::Contains("cannot open"));
}
