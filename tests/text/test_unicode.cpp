// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>

#include "elm/text/unicode.hpp"
#include "text_fixtures.hpp"

using elm::text::GeneralCategory;

namespace {
const char* category_name(GeneralCategory c) {
  static const char* names[] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
                                "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
  return names[static_cast<int>(c)];
}
}  // namespace

TEST_CASE("Unicode tables: version and hand-checked properties", "[text][unicode]") {
  CHECK(elm::text::unicode_version() == "15.0.0");
  CHECK(elm::text::general_category(U'A') == GeneralCategory::Lu);
  CHECK(elm::text::general_category(U'中') == GeneralCategory::Lo);
  CHECK(elm::text::general_category(0x31350) == GeneralCategory::Lo);  // CJK Extension H, new in 15.0
  CHECK(elm::text::general_category(0x0378) == GeneralCategory::Cn);
  CHECK(elm::text::general_category(0x110000) == GeneralCategory::Cn);
  CHECK(elm::text::is_white_space(0x3000));
  CHECK(elm::text::is_white_space(0x85));
  CHECK_FALSE(elm::text::is_white_space(0x200B));  // zero width space is Cf, not White_Space
  CHECK(elm::text::canonical_combining_class(0x301) == 230);
  CHECK(elm::text::canonical_combining_class(0x317) == 220);
  // U+1E69 (s with dot below and dot above) -> s U+0323 U+0307; reordering puts ccc 220 before ccc 230.
  CHECK(elm::text::to_nfd(U"\u1E69") == U"s\u0323\u0307");
  CHECK(elm::text::to_nfd(U"a\u0301\u0317") == U"a\u0317\u0301");
  // Hangul: 한 U+D55C = L U+1112, V U+1161, T U+11AB.
  CHECK(elm::text::to_nfd(U"\uD55C") == U"\u1112\u1161\u11AB");
  std::u32string lower;
  elm::text::append_lowercase(0x130, lower);
  CHECK(lower == U"i\u0307");
}

TEST_CASE("Unicode tables agree with Python's unicodedata on sampled code points", "[text][unicode]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("unicode_cases.json"));
  std::size_t category_diffs = 0, nfd_diffs = 0, lower_diffs = 0;
  for (const auto& row : fixture["rows"]) {
    const auto cp = row[0].get<char32_t>();
    const std::string cat = row[1];
    std::u32string nfd, lower;
    for (const auto& v : row[2]) nfd.push_back(v.get<char32_t>());
    for (const auto& v : row[3]) lower.push_back(v.get<char32_t>());
    if (category_name(elm::text::general_category(cp)) != cat) {
      ++category_diffs;
      UNSCOPED_INFO("U+" << std::hex << static_cast<unsigned>(cp) << " category " << cat);
    }
    if (elm::text::to_nfd(std::u32string(1, cp)) != nfd) ++nfd_diffs;
    std::u32string ours;
    elm::text::append_lowercase(cp, ours);
    // Python's str.lower adds conditional special casing only for U+0130 too; other multi-character lower-case
    // mappings do not exist, so the two agree wherever both versions know the character.
    if (ours != lower) ++lower_diffs;
  }
  INFO(fixture["rows"].size() << " code points from unicodedata " << fixture["unicodedata"].get<std::string>());
  CHECK(category_diffs == 0);
  CHECK(nfd_diffs == 0);
  CHECK(lower_diffs == 0);
}
