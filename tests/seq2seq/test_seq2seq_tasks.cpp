// SPDX-License-Identifier: MIT
// The two tasks the sequence-to-sequence models learn: dates written many ways to ISO 8601, and Austen's
// sentences restored from lower-cased, unpunctuated text.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "../../examples/common/date_task.hpp"
#include "../../examples/common/restoration_task.hpp"

using namespace elm::examples;

TEST_CASE("every date format writes 2026-11-29 as its documented example", "[seq2seq][dates]") {
  const CalendarDate date{2026, 11, 29};
  CHECK(weekday(date) == 6);  // a Sunday
  for (std::size_t f = 0; f < date_formats().size(); ++f) CHECK(write_date(date, f) == date_formats()[f].example);
  CHECK(iso_date(date) == "2026-11-29");
}

TEST_CASE("calendar arithmetic: epoch, leap years, ordinals, weekdays", "[seq2seq][dates]") {
  CHECK(days_since_epoch({1970, 1, 1}) == 0);
  CHECK(days_since_epoch({2000, 3, 1}) - days_since_epoch({2000, 2, 28}) == 2);  // 2000 is a leap year
  CHECK(days_since_epoch({1900, 3, 1}) - days_since_epoch({1900, 2, 28}) == 1);  // 1900 is not
  CHECK(weekday({1970, 1, 1}) == 3);                                             // a Thursday
  CHECK(weekday({1900, 1, 1}) == 0);                                             // a Monday
  CHECK(write_date({2001, 2, 3}, 1) == "February 3rd, 2001");
  CHECK(write_date({2011, 12, 11}, 11) == "11th of December, 2011");
  CHECK(write_date({2022, 5, 22}, 4) == "the twenty-second of May 2022");
  CHECK(write_date({2030, 1, 30}, 4) == "the thirtieth of January 2030");
  CHECK(write_date({2031, 3, 31}, 3) == "2031年3月31日");
  CHECK_THROWS_AS(write_date({2023, 2, 29}, 0), elm::RangeError);
  CHECK_THROWS_AS(write_date({2024, 2, 29}, date_formats().size()), elm::RangeError);
}

TEST_CASE("random dates cover the years and invert days_since_epoch", "[seq2seq][dates]") {
  elm::Rng rng(3);
  int first = 9999, last = 0;
  for (int i = 0; i < 20000; ++i) {
    const CalendarDate d = random_date(rng);
    REQUIRE(d.month >= 1);
    REQUIRE(d.month <= 12);
    REQUIRE(d.day >= 1);
    REQUIRE(d.day <= days_in_month(d.year, d.month));
    // stepping one day from the drawn date lands where the day count says
    const CalendarDate next = d.day < days_in_month(d.year, d.month) ? CalendarDate{d.year, d.month, d.day + 1}
                              : d.month < 12 ? CalendarDate{d.year, d.month + 1, 1}
                                             : CalendarDate{d.year + 1, 1, 1};
    REQUIRE(days_since_epoch(next) == days_since_epoch(d) + 1);
    first = std::min(first, d.year);
    last = std::max(last, d.year);
  }
  CHECK(first == first_date_year);
  CHECK(last == last_date_year);
}

TEST_CASE("the date task keeps held-out formats and dates out of training", "[seq2seq][dates]") {
  const DateTaskSplit split = make_date_task(11, 3000, 600);
  REQUIRE(split.train.size() == 3000);
  REQUIRE(split.held_out.size() == 600);
  std::set<std::string> training_dates;
  for (const auto& example : split.train) training_dates.insert(example.target);
  const auto date_of = [](const std::string& iso) {
    return CalendarDate{std::stoi(iso.substr(0, 4)), std::stoi(iso.substr(5, 2)), std::stoi(iso.substr(8, 2))};
  };
  // held-out example i is written in format i mod formats: every format, the held-out ones included, is reported on
  for (std::size_t i = 0; i < split.held_out.size(); ++i) {
    const auto& example = split.held_out[i];
    CHECK(training_dates.count(example.target) == 0);
    CHECK(write_date(date_of(example.target), i % date_formats().size()) == example.source);
  }
  // a training source never has a held-out format's shape: re-writing its date in each held-out format never
  // gives the source back
  for (const auto& example : split.train) {
    const CalendarDate d = date_of(example.target);
    for (std::size_t f = 0; f < date_formats().size(); ++f)
      if (date_formats()[f].held_out) REQUIRE(write_date(d, f) != example.source);
  }
  // the same seed makes the same task
  const DateTaskSplit again = make_date_task(11, 3000, 600);
  CHECK(again.train.back().source == split.train.back().source);
  CHECK(again.held_out.back().source == split.held_out.back().source);
}

TEST_CASE("restoration sources are the targets lower-cased without punctuation", "[seq2seq][restoration]") {
  CHECK(strip_casing_and_punctuation("\"Mr. Knightley,\" said Emma, \"is--to-morrow--here!\"") ==
        "mr knightley said emma is to morrow here");
  const auto sentences = printed_sentences("It was Mr.\nElton.  \"Was it?\" she said; \"yes!\" Then\n\nnothing.");
  REQUIRE(sentences.size() == 3);
  CHECK(sentences[0] == "It was Mr. Elton.");
  CHECK(sentences[1] == "\"Was it?\" she said; \"yes!\"");
  CHECK(sentences[2] == "Then nothing.");
  CHECK(without_double_quotes(sentences[1]) == "Was it? she said; yes!");
  CHECK(without_double_quotes("\" \"").empty());
}

TEST_CASE("the Austen restoration task splits the novels 90/10", "[seq2seq][restoration]") {
  const auto split = make_restoration_task(ELM_SOURCE_DIR "/examples/data/austen", 20, 120);
  CHECK(split.train.size() > 10000);
  const double held_out_share = double(split.held_out.size()) / double(split.train.size() + split.held_out.size());
  CHECK(held_out_share == Approx(0.1).margin(0.01));
  for (const auto& example : split.held_out) {
    REQUIRE(example.target.size() >= 20);
    REQUIRE(example.target.size() <= 120);
    REQUIRE(example.source == strip_casing_and_punctuation(example.target));
    REQUIRE(example.target.find('"') == std::string::npos);
  }
  CHECK_THROWS_AS(make_restoration_task(ELM_SOURCE_DIR "/examples/data/no-such-folder", 20, 120), elm::IoError);
  CHECK_THROWS_AS(make_restoration_task(ELM_SOURCE_DIR "/examples/data/austen", 30, 20), elm::InvalidArgument);
}
