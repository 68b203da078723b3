// SPDX-License-Identifier: MIT
// Writing several files together: all replaced, or none, whatever step fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "elm/io/atomic_file.hpp"

namespace atomic_file_test {

namespace fs = std::filesystem;

fs::path fresh_directory(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("elm-tests-atomic-file-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

elm::io::FileContent text_file(const fs::path& path, const std::string& text) {
  return {path.string(), [text](std::ostream& out) { out << text; }};
}

std::vector<std::string> file_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_CASE("write_files_atomically replaces every file, or none, and leaves nothing behind", "[io][atomic-file]") {
  const fs::path dir = fresh_directory("replace");
  write_text(dir / "a", "old a");
  write_text(dir / "b", "old b");
  write_text(dir / "other", "kept");

  SECTION("success: both new, the other file untouched, no temporary or backup left") {
    elm::io::write_files_atomically({text_file(dir / "a", "new a"), text_file(dir / "b", "new b")});
    CHECK(read_text(dir / "a") == "new a");
    CHECK(read_text(dir / "b") == "new b");
    CHECK(read_text(dir / "other") == "kept");
    CHECK(file_names(dir) == std::vector<std::string>{"a", "b", "other"});
  }
  SECTION("a writer that throws after the first file is complete: both keep their old content") {
    const elm::io::FileContent failing{(dir / "b").string(), [](std::ostream& out) {
                                         out << "partial";
                                         throw elm::IoError("simulated failure mid-write");
                                       }};
    REQUIRE_THROWS_WITH(elm::io::write_files_atomically({text_file(dir / "a", "new a"), failing}),
                        Catch::Matchers::Contains("simulated failure mid-write"));
    CHECK(read_text(dir / "a") == "old a");
    CHECK(read_text(dir / "b") == "old b");
    CHECK(file_names(dir) == std::vector<std::string>{"a", "b", "other"});
  }
  SECTION("the last rename fails: the files renamed before it are put back") {
    fs::remove(dir / "b");
    fs::create_directories(dir / "b" / "occupied");  // a file cannot replace a directory, even for root
    REQUIRE_THROWS_AS(elm::io::write_files_atomically({text_file(dir / "a", "new a"), text_file(dir / "b", "new b")}),
                      elm::IoError);
    CHECK(read_text(dir / "a") == "old a");
    CHECK(fs::is_directory(dir / "b" / "occupied"));
    CHECK(file_names(dir) == std::vector<std::string>{"a", "b", "other"});
  }
  SECTION("the last rename fails and the first file did not exist before: it is removed again") {
    fs::remove(dir / "a");
    fs::remove(dir / "b");
    fs::create_directories(dir / "b" / "occupied");
    REQUIRE_THROWS_AS(elm::io::write_files_atomically({text_file(dir / "a", "new a"), text_file(dir / "b", "new b")}),
                      elm::IoError);
    CHECK(file_names(dir) == std::vector<std::string>{"b", "other"});
  }
  SECTION("a folder that does not exist: IoError naming the file, nothing written") {
    REQUIRE_THROWS_WITH(
        elm::io::write_files_atomically({text_file(dir / "a", "new a"), text_file(dir / "missing" / "b", "new b")}),
        Catch::Matchers::Contains("cannot create") && Catch::Matchers::Contains("missing"));
    CHECK(read_text(dir / "a") == "old a");
    CHECK(file_names(dir) == std::vector<std::string>{"a", "b", "other"});
  }
  fs::remove_all(dir);
}

}  // namespace atomic_file_test
