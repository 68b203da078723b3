// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>

#include "elm/core/rng.hpp"
#include "elm/text/edit_distance.hpp"

using Catch::Matchers::Contains;

namespace {

// The recursive definition, memoised: the distance of two suffixes is the cheapest of deleting, inserting or
// substituting their first element. A different computation from the library's row-by-row programme.
std::size_t distance_by_definition(const std::string& a, const std::string& b) {
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> memo;
  std::function<std::size_t(std::size_t, std::size_t)> d = [&](std::size_t i, std::size_t j) -> std::size_t {
    if (i == a.size()) return b.size() - j;
    if (j == b.size()) return a.size() - i;
    const auto key = std::make_pair(i, j);
    if (const auto found = memo.find(key); found != memo.end()) return found->second;
    const std::size_t best =
        std::min({d(i + 1, j) + 1, d(i, j + 1) + 1, d(i + 1, j + 1) + (a[i] == b[j] ? 0 : 1)});
    memo[key] = best;
    return best;
  };
  return d(0, 0);
}

std::string random_string(elm::Rng& rng, std::size_t max_length) {
  std::string s(rng.below(max_length + 1), 'a');
  for (char& c : s) c = char('a' + rng.below(3));  // three letters: many repeats, many alignments
  return s;
}

}  // namespace

TEST_CASE("edit distance equals the recursive definition and is a metric", "[text][edit-distance]") {
  using elm::text::edit_distance;
  CHECK(edit_distance(std::string("kitten"), std::string("sitting")) == 3);
  CHECK(edit_distance(std::string(""), std::string("abc")) == 3);
  CHECK(edit_distance(std::string("abc"), std::string("abc")) == 0);
  elm::Rng rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::string a = random_string(rng, 9), b = random_string(rng, 9), c = random_string(rng, 9);
    const std::size_t ab = edit_distance(a, b);
    REQUIRE(ab == distance_by_definition(a, b));
    CHECK(ab == edit_distance(b, a));
    CHECK(edit_distance(a, c) <= ab + edit_distance(b, c));
    CHECK((ab == 0) == (a == b));
  }
}

TEST_CASE("character error rate counts code points over the whole set", "[text][edit-distance]") {
  // "2026年11月29日" has 11 code points; one substituted character is one error, not three bytes' worth
  const auto rate = elm::text::character_error_rate({"2026年11月28日", "abc"}, {"2026年11月29日", "abd"});
  CHECK(rate.errors == 2);
  CHECK(rate.reference_length == 14);
  CHECK(rate.rate() == Approx(2.0 / 14.0));
  CHECK(elm::text::character_error_rate({}, {}).rate() == 0.0);
}

TEST_CASE("character error rate rejects unpaired lists and invalid UTF-8", "[text][edit-distance][bad-input]") {
  CHECK_THROWS_WITH(elm::text::character_error_rate({"a"}, {"a", "b"}),
                    Contains("expected as many hypotheses as references, got 1 hypotheses and 2 references"));
  CHECK_THROWS_AS(elm::text::character_error_rate({"a\xff"}, {"a"}), elm::FormatError);
  CHECK_THROWS_WITH(elm::text::character_error_rate({"a"}, {"\xc3"}), Contains("reference"));
}
