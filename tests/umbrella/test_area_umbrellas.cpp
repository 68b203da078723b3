// SPDX-License-Identifier: MIT
// The per-area umbrellas: each covers every public header of its area, compiles no unrelated area (a user of
// n-grams does not parse the Unicode tables or the attention kernels), and elm.hpp is their union.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path include_root = fs::path(ELM_SOURCE_DIR) / "include";

/// The library headers a header includes directly, as include paths ("elm/nn/linear.hpp").
std::vector<std::string> direct_includes(const std::string& header) {
  std::ifstream in(include_root / header);
  REQUIRE(in.good());
  static const std::regex include_line(R"re(^\s*#\s*include\s*"(elm/[^"]+)")re");
  std::vector<std::string> found;
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, include_line)) found.push_back(match[1].str());
  }
  return found;
}

/// Every library header a translation unit that includes `header` parses, `header` among them.
std::set<std::string> include_closure(const std::string& header) {
  std::set<std::string> seen{header};
  std::vector<std::string> pending{header};
  while (!pending.empty()) {
    const std::string next = pending.back();
    pending.pop_back();
    for (const auto& included : direct_includes(next)) {
      if (seen.insert(included).second) pending.push_back(included);
    }
  }
  return seen;
}

/// The public headers of an area: every header below include/elm/<area>/ outside its detail/ folders.
std::set<std::string> public_headers(const std::string& area) {
  std::set<std::string> headers;
  for (const auto& entry : fs::recursive_directory_iterator(include_root / "elm" / area)) {
    if (entry.path().extension() != ".hpp") continue;
    const std::string path = fs::relative(entry.path(), include_root).generic_string();
    if (path.find("/detail/") == std::string::npos) headers.insert(path);
  }
  return headers;
}

bool reaches_area(const std::set<std::string>& closure, const std::string& area) {
  const std::string prefix = "elm/" + area + "/";
  for (const auto& header : closure) {
    if (header.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

const std::vector<std::string> areas{"core", "text", "classic", "dist", "nn", "io", "models", "train"};
// Public headers no umbrella names: they need a dependency the library does not (<mpi.h>, programs built with ELM_MPI).
const std::set<std::string> optional_headers{"elm/dist/mpi_communicator.hpp"};

}  // namespace

TEST_CASE("each area umbrella includes every public header of its area by name", "[hygiene]") {
  // By name, not through another header: what an umbrella offers must not hang on how its headers include each
  // other. A new public header fails here until its area's umbrella names it.
  for (const auto& area : areas) {
    CAPTURE(area);
    const auto includes = direct_includes("elm/" + area + ".hpp");
    const std::set<std::string> direct(includes.begin(), includes.end());
    for (const auto& header : public_headers(area)) {
      CAPTURE(header);
      if (optional_headers.count(header) != 0) continue;
      CHECK(direct.count(header) == 1);
    }
  }
}

TEST_CASE("the nn, classic and text umbrellas compile no unrelated area; nn and classic no Unicode tables", "[hygiene]") {
  const auto nn = include_closure("elm/nn.hpp");
  for (const std::string other : {"text", "classic", "io", "models", "train"}) {
    CAPTURE(other);
    CHECK_FALSE(reaches_area(nn, other));
  }
  const auto classic = include_closure("elm/classic.hpp");
  for (const std::string other : {"nn", "io", "models", "train"}) {
    CAPTURE(other);
    CHECK_FALSE(reaches_area(classic, other));
  }
  CHECK(classic.count("elm/text/detail/unicode_tables.hpp") == 0);
  const auto text = include_closure("elm/text.hpp");
  for (const std::string other : {"classic", "nn", "models", "train"}) {
    CAPTURE(other);
    CHECK_FALSE(reaches_area(text, other));
  }
  // Of io, the tokenizers read their files through MappedFile, the library's one file reader, and nothing else.
  for (const auto& header : text) {
    if (header.rfind("elm/io/", 0) == 0) CHECK(header == "elm/io/mapped_file.hpp");
  }
}

TEST_CASE("the trainer reaches nn and io, and no model, tokenizer or classic header", "[hygiene]") {
  // Every model's training uses it, so it sits below models/: a model file never needs the trainer, and the
  // trainer knows models only through for_each_parameter and the step function.
  const auto train = include_closure("elm/train.hpp");
  for (const std::string other : {"models", "classic"}) {
    CAPTURE(other);
    CHECK_FALSE(reaches_area(train, other));
  }
  // Of text, only the UTF-8 checks that the safetensors reader applies to its header.
  for (const auto& header : train) {
    if (header.rfind("elm/text/", 0) == 0) CHECK(header == "elm/text/utf8.hpp");
  }
  CHECK(reaches_area(train, "nn"));
  CHECK(reaches_area(train, "io"));
}

TEST_CASE("elm.hpp is the union of the area umbrellas", "[hygiene]") {
  const auto includes = direct_includes("elm/elm.hpp");
  const std::set<std::string> direct(includes.begin(), includes.end());
  std::set<std::string> expected;
  for (const auto& area : areas) expected.insert("elm/" + area + ".hpp");
  CHECK(direct == expected);
}
