// SPDX-License-Identifier: MIT
// The docs cannot rot: every ```cpp block in docs/ is a compiled and run file of docs/snippets/, every
// ```text block that follows one is that program's checked output, and every ```cmake block is a CMake file of
// the suite (the consumer project, built and run by CTest).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Block {
  std::string language;
  std::string body;
  std::size_t line = 0;
};

std::vector<Block> fenced_blocks(const std::string& text) {
  std::vector<Block> blocks;
  std::istringstream in(text);
  std::string line;
  std::size_t number = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```", 0) == 0) {
      if (open == nullptr) {
        blocks.push_back({line.substr(3), "", number});
        open = &blocks.back();
      } else {
        open = nullptr;
      }
    } else if (open != nullptr) {
      open->body += line + "\n";
    }
  }
  return blocks;
}

}  // namespace

TEST_CASE("every C++ block in docs/ is a compiled snippet, and its shown output is the checked output", "[docs]") {
  const fs::path root = fs::path(ELM_SOURCE_DIR) / "docs";
  std::size_t pages = 0, snippets = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".md") continue;
    ++pages;
    const auto blocks = fenced_blocks(read_file(entry.path()));
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const Block& b = blocks[i];
      if (b.language == "cmake") {
        // A CMake block names, on its first line, the file of the suite that it shows.
        INFO(entry.path().string() << " line " << b.line);
        REQUIRE(b.body.rfind("# ", 0) == 0);
        const fs::path file = fs::path(ELM_SOURCE_DIR) / b.body.substr(2, b.body.find('\n') - 2);
        REQUIRE(fs::exists(file));
        CHECK(read_file(file) == b.body);
        continue;
      }
      if (b.language != "cpp" && b.language != "c++") continue;
      INFO(entry.path().string() << " line " << b.line);
      const std::string marker = "// docs/snippets/";
      REQUIRE(b.body.rfind(marker, 0) == 0);  // the block names its file on its first line
      const std::string relative = b.body.substr(3, b.body.find('\n') - 3);
      const fs::path file = fs::path(ELM_SOURCE_DIR) / relative;
      REQUIRE(fs::exists(file));
      CHECK(read_file(file) == b.body);
      ++snippets;
      if (i + 1 < blocks.size() && blocks[i + 1].language == "text") {
        fs::path out = file;
        out.replace_extension(".out");
        REQUIRE(fs::exists(out));
        CHECK(read_file(out) == blocks[i + 1].body);
      }
    }
  }
  CHECK(pages > 0);
  CHECK(snippets > 0);
}
