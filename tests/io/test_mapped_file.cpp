// SPDX-License-Identifier: MIT
// Tests of io/mapped_file.hpp: the library's one reader of whole files.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "elm/io/mapped_file.hpp"

using Catch::Matchers::Contains;

namespace {

std::filesystem::path scratch_file(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

}  // namespace

TEST_CASE("MappedFile holds a file's bytes", "[io][mapped_file]") {
  const std::string content("line one\nline two\0with a zero byte\n", 35);
  const auto path = scratch_file("elm_mapped_file_test.txt", content);
  elm::io::MappedFile file(path.string());
  CHECK(file.size() == content.size());
  CHECK(file.text() == content);
  const elm::io::MappedFile moved(std::move(file));
  CHECK(moved.text() == content);
  std::filesystem::remove(path);

  const auto empty = scratch_file("elm_mapped_file_empty.txt", "");
  CHECK(elm::io::MappedFile(empty.string()).text().empty());
  std::filesystem::remove(empty);
}

#if defined(__unix__) || defined(__APPLE__)
TEST_CASE("MappedFile reads what it cannot map (a character device)", "[io][mapped_file]") {
  CHECK(elm::io::MappedFile("/dev/null").size() == 0);
}
#endif

TEST_CASE("MappedFile names the entry point and the file when it cannot read", "[io][mapped_file]") {
  const auto missing = [] { elm::io::MappedFile("/nonexistent/vocab.json", "elm::text::BpeTokenizer::from_files"); };
  REQUIRE_THROWS_AS(missing(), elm::IoError);
  REQUIRE_THROWS_WITH(missing(), Contains("elm::text::BpeTokenizer::from_files: cannot open '/nonexistent/vocab.json'"));
  REQUIRE_THROWS_WITH(elm::io::MappedFile(std::filesystem::temp_directory_path().string()),
                      Contains("elm::io::MappedFile: error while reading"));
}
