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

TEST_CASE("MappedFile::release leaves the bytes readable, and ignores ranges outside the file", "[io][mapped_file]") {
  std::string content(3 * 4096 + 123, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 26);
  const auto path = scratch_file("elm_mapped_file_release.bin", content);
  const elm::io::MappedFile file(path.string());
  REQUIRE(file.text() == content);
  file.release(0, file.size());       // every whole page leaves resident memory
  file.release(100, 5000);            // a range of partial pages
  file.release(10, 5);                // empty, and past the end: nothing
  file.release(0, file.size() + 4096);
  CHECK(file.text() == content);      // read again from the file
  std::filesystem::remove(path);
  elm::io::MappedFile("/dev/null").release(0, 0);  // read into memory: nothing to release
}
