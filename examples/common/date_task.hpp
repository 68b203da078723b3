// SPDX-License-Identifier: MIT
// Date normalisation, a sequence-to-sequence task made by a seeded generator: a date written one of many ways
// ("29 Nov 2026", "November 29th, 2026", "29/11/2026", "2026年11月29日", "the twenty-ninth of November 2026", ...)
// to its ISO 8601 form "2026-11-29". Some formats are held out of training entirely, so the held-out split
// measures whether a model composed what it learnt (a weekday prefix seen with other layouts, a layout seen with
// other separators) rather than memorised each format.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"

namespace elm::examples {

/// A calendar date of the proleptic Gregorian calendar.
struct CalendarDate {
  int year = 2000, month = 1, day = 1;
};

inline bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

inline int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : days[std::size_t(month - 1)];
}

/// Days since 1970-01-01 (negative before), by Hinnant's days_from_civil: exact for every Gregorian date.
inline std::int64_t days_since_epoch(const CalendarDate& d) {
  const std::int64_t y = d.year - (d.month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t year_of_era = y - era * 400;
  const std::int64_t day_of_year = (153 * (d.month + (d.month > 2 ? -3 : 9)) + 2) / 5 + d.day - 1;
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

/// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
inline int weekday(const CalendarDate& d) {
  const std::int64_t days = days_since_epoch(d);
  return int(((days % 7) + 7 + 3) % 7);
}

/// "2026-11-29": the target of every example.
inline std::string iso_date(const CalendarDate& d) { return fmt::format("{:04d}-{:02d}-{:02d}", d.year, d.month, d.day); }

namespace detail {

inline constexpr std::array<std::string_view, 12> month_names{"January", "February", "March",     "April",
                                                              "May",     "June",     "July",      "August",
                                                              "September", "October", "November", "December"};
inline constexpr std::array<std::string_view, 7> weekday_names{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                               "Friday", "Saturday", "Sunday"};

/// "1st", "2nd", "3rd", "4th", ..., "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"
inline std::string ordinal_suffixed(int n) {
  const int tens = n % 100, ones = n % 10;
  const char* suffix = (tens >= 11 && tens <= 13) ? "th" : ones == 1 ? "st" : ones == 2 ? "nd" : ones == 3 ? "rd" : "th";
  return fmt::format("{}{}", n, suffix);
}

/// "first" ... "thirty-first"
inline std::string ordinal_words(int n) {
  static constexpr std::array<std::string_view, 20> below_twenty{
      "",        "first",    "second",     "third",      "fourth",     "fifth",    "sixth",
      "seventh", "eighth",   "ninth",      "tenth",      "eleventh",   "twelfth",  "thirteenth",
      "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"};
  static constexpr std::array<std::string_view, 4> tens_ordinal{"", "", "twentieth", "thirtieth"};
  static constexpr std::array<std::string_view, 4> tens_cardinal{"", "", "twenty", "thirty"};
  if (n < 20) return std::string(below_twenty[std::size_t(n)]);
  const int tens = n / 10, ones = n % 10;
  if (ones == 0) return std::string(tens_ordinal[std::size_t(tens)]);
  return fmt::format("{}-{}", tens_cardinal[std::size_t(tens)], below_twenty[std::size_t(ones)]);
}

inline std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return out;
}

}  // namespace detail

/// One way of writing a date; `held_out` formats never appear in the training split.
struct DateFormat {
  std::string_view name;     // the layout, e.g. "d Mon yyyy"
  std::string_view example;  // 2026-11-29 written this way (checked by the tests)
  bool held_out;
};

/// Every format the generator writes, in a fixed order (a format's index is its id). Held out: three layouts whose
/// parts all occur in training formats, each part with more than one partner, so that a model can learn that the
/// parts vary independently: "yyyy/mm/dd" (the year-first order seen with "-", "." and " ", the slash in
/// dd/mm/yyyy and dd/Mon/yyyy), "d-Mon-yyyy" (day and abbreviated month seen with " ", "/" and ".", the hyphen in
/// dd-mm-yyyy and the ISO form), "Weekday, Month dth, yyyy" (a weekday prefix seen before five other layouts, one
/// of them "Month d, yyyy"; "Month dth, yyyy" seen without it).
inline const std::vector<DateFormat>& date_formats() {
  static const std::vector<DateFormat> formats{
      {"d Mon yyyy", "29 Nov 2026", false},
      {"Month dth, yyyy", "November 29th, 2026", false},
      {"dd/mm/yyyy", "29/11/2026", false},
      {"yyyy年m月d日", "2026年11月29日", false},
      {"the dth-in-words of Month yyyy", "the twenty-ninth of November 2026", false},
      {"Mon d, yyyy", "Nov 29, 2026", false},
      {"d Month yyyy", "29 November 2026", false},
      {"yyyy-mm-dd", "2026-11-29", false},
      {"dd.mm.yyyy", "29.11.2026", false},
      {"Weekday, d Month yyyy", "Sunday, 29 November 2026", false},
      {"MONTH d yyyy", "NOVEMBER 29 2026", false},
      {"dth of Month, yyyy", "29th of November, 2026", false},
      {"yyyy.mm.dd", "2026.11.29", false},
      {"dd-mm-yyyy", "29-11-2026", false},
      {"dd/Mon/yyyy", "29/Nov/2026", false},
      {"Weekday dd.mm.yyyy", "Sunday 29.11.2026", false},
      {"Weekday, Mon d, yyyy", "Sunday, Nov 29, 2026", false},
      {"Weekday yyyy-mm-dd", "Sunday 2026-11-29", false},
      {"Month d, yyyy", "November 29, 2026", false},
      {"Weekday, Month d, yyyy", "Sunday, November 29, 2026", false},
      {"d.Mon.yyyy", "29.Nov.2026", false},
      {"yyyy mm dd", "2026 11 29", false},
      {"dd mm yyyy", "29 11 2026", false},
      {"yyyy/mm/dd", "2026/11/29", true},
      {"d-Mon-yyyy", "29-Nov-2026", true},
      {"Weekday, Month dth, yyyy", "Sunday, November 29th, 2026", true},
  };
  return formats;
}

/// The date written in format `format` (an index into date_formats()). Throws RangeError for an unknown format
/// or an invalid date.
inline std::string write_date(const CalendarDate& d, std::size_t format) {
  using namespace detail;
  ELM_EXPECT(format < date_formats().size(), RangeError, "elm::examples::write_date: format ", format,
             " out of range, expected < ", date_formats().size());
  ELM_EXPECT(d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= days_in_month(d.year, d.month), RangeError,
             "elm::examples::write_date: no such date ", d.year, "-", d.month, "-", d.day);
  const std::string_view month = month_names[std::size_t(d.month - 1)];
  const std::string_view mon = month.substr(0, 3);
  const std::string_view day_name = weekday_names[std::size_t(weekday(d))];
  switch (format) {
    case 0: return fmt::format("{} {} {}", d.day, mon, d.year);
    case 1: return fmt::format("{} {}, {}", month, ordinal_suffixed(d.day), d.year);
    case 2: return fmt::format("{:02d}/{:02d}/{}", d.day, d.month, d.year);
    case 3: return fmt::format("{}年{}月{}日", d.year, d.month, d.day);
    case 4: return fmt::format("the {} of {} {}", ordinal_words(d.day), month, d.year);
    case 5: return fmt::format("{} {}, {}", mon, d.day, d.year);
    case 6: return fmt::format("{} {} {}", d.day, month, d.year);
    case 7: return iso_date(d);
    case 8: return fmt::format("{:02d}.{:02d}.{}", d.day, d.month, d.year);
    case 9: return fmt::format("{}, {} {} {}", day_name, d.day, month, d.year);
    case 10: return fmt::format("{} {} {}", upper(month), d.day, d.year);
    case 11: return fmt::format("{} of {}, {}", ordinal_suffixed(d.day), month, d.year);
    case 12: return fmt::format("{}.{:02d}.{:02d}", d.year, d.month, d.day);
    case 13: return fmt::format("{:02d}-{:02d}-{}", d.day, d.month, d.year);
    case 14: return fmt::format("{:02d}/{}/{}", d.day, mon, d.year);
    case 15: return fmt::format("{} {:02d}.{:02d}.{}", day_name, d.day, d.month, d.year);
    case 16: return fmt::format("{}, {} {}, {}", day_name, mon, d.day, d.year);
    case 17: return fmt::format("{} {}", day_name, iso_date(d));
    case 18: return fmt::format("{} {}, {}", month, d.day, d.year);
    case 19: return fmt::format("{}, {} {}, {}", day_name, month, d.day, d.year);
    case 20: return fmt::format("{}.{}.{}", d.day, mon, d.year);
    case 21: return fmt::format("{} {:02d} {:02d}", d.year, d.month, d.day);
    case 22: return fmt::format("{:02d} {:02d} {}", d.day, d.month, d.year);
    case 23: return fmt::format("{}/{:02d}/{:02d}", d.year, d.month, d.day);
    case 24: return fmt::format("{}-{}-{}", d.day, mon, d.year);
    default: return fmt::format("{}, {} {}, {}", day_name, month, ordinal_suffixed(d.day), d.year);
  }
}

/// A source sentence and the output a model should produce for it.
struct Seq2SeqExample {
  std::string source, target;
};

/// The examples of the date task.
struct DateTaskSplit {
  std::vector<Seq2SeqExample> train;     // training formats only, dates of training years
  std::vector<Seq2SeqExample> held_out;  // every format, dates never seen in training
};

/// Years the generator draws from: 1900 to 2099.
inline constexpr int first_date_year = 1900, last_date_year = 2099;

/// A uniformly drawn date between 1900-01-01 and 2099-12-31.
inline CalendarDate random_date(Rng& rng) {
  const std::int64_t first = days_since_epoch({first_date_year, 1, 1});
  const std::int64_t last = days_since_epoch({last_date_year, 12, 31});
  std::int64_t days = first + std::int64_t(rng.below(std::uint64_t(last - first + 1)));
  // civil_from_days (Hinnant), the inverse of days_since_epoch
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t mp = (5 * day_of_year + 2) / 153;
  CalendarDate d;
  d.day = int(day_of_year - (153 * mp + 2) / 5 + 1);
  d.month = int(mp < 10 ? mp + 3 : mp - 9);
  d.year = int(year_of_era + era * 400 + (d.month <= 2 ? 1 : 0));
  return d;
}

/// `train_size` training and `held_out_size` held-out examples from `seed`. Training examples use the formats not
/// held out, drawn uniformly; held-out examples cycle through every format (so each format has held_out_size /
/// formats examples to report on). A date is held out by its day number (every date whose days_since_epoch is a
/// multiple of 10), so no held-out date appears in training in any format.
inline DateTaskSplit make_date_task(std::uint64_t seed, std::size_t train_size, std::size_t held_out_size) {
  Rng rng(seed);
  std::vector<std::size_t> training_formats;
  for (std::size_t f = 0; f < date_formats().size(); ++f)
    if (!date_formats()[f].held_out) training_formats.push_back(f);
  const auto held_out_date = [](const CalendarDate& d) { return days_since_epoch(d) % 10 == 0; };
  DateTaskSplit split;
  while (split.train.size() < train_size) {
    const CalendarDate d = random_date(rng);
    if (held_out_date(d)) continue;
    const std::size_t format = training_formats[std::size_t(rng.below(training_formats.size()))];
    split.train.push_back({write_date(d, format), iso_date(d)});
  }
  for (std::size_t i = 0; split.held_out.size() < held_out_size;) {
    const CalendarDate d = random_date(rng);
    if (!held_out_date(d)) continue;
    split.held_out.push_back({write_date(d, i % date_formats().size()), iso_date(d)});
    ++i;
  }
  return split;
}

}  // namespace elm::examples
