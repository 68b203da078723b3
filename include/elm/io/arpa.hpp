// SPDX-License-Identifier: MIT
// ARPA back-off language model files: a validating reader and a writer in KenLM's layout.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/detail/stream_size.hpp"

namespace elm::io {

namespace detail {

/// Shortest decimal text that reads back as the same float: KenLM stores and prints float32 values.
inline void append_arpa_number(std::string& out, double v) {
  char buf[32];
  const float f = static_cast<float>(v);
  if (f == 0.0f) {  // "-0" from min(0, log10 1) would confuse readers that look for a sign
    out += '0';
    return;
  }
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  out.append(buf, res.ptr);
}

class ArpaLineReader {
 public:
  ArpaLineReader(std::istream& in, std::string_view name) : in_(in), name_(name) {}
  bool next(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  std::int64_t line() const noexcept { return line_; }
  const std::string& name() const noexcept { return name_; }

 private:
  std::istream& in_;
  std::string name_;
  std::int64_t line_ = 0;
};

/// The fewest bytes an n-gram entry takes: a one-digit log10 p, n one-byte words, their separators and the
/// line's end ("0 a\n" for a unigram).
constexpr std::int64_t arpa_min_entry_bytes(int n) { return 2 * std::int64_t(n) + 2; }

/// How many entries to reserve for a section announcing `count`: all of them when the file's size vouched for
/// the count, else (a pipe) no more than a few thousand up front.
inline std::size_t arpa_reserve(std::size_t count, bool checked) {
  return checked ? count : std::min<std::size_t>(count, 4096);
}

inline bool arpa_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

inline double parse_arpa_number(std::string_view field, const ArpaLineReader& r, const char* what) {
  double v = 0.0;
  const char* first = field.data();
  const char* last = field.data() + field.size();
  if (!field.empty() && field[0] == '+') ++first;
  const auto res = std::from_chars(first, last, v);
  ELM_EXPECT(res.ec == std::errc() && res.ptr == last && !std::isnan(v), FormatError, "elm::io::read_arpa: ",
             r.name(), ":", r.line(), ": ", what, " '", field, "' is not a number, expected a log10 value");
  return v;
}

}  // namespace detail

/// Reads an ARPA file (SRILM's and KenLM's text format). Checks the \data\ header, that every section has as
/// many entries as announced, that fields are numeric, that words of higher orders are unigrams, that no
/// n-gram repeats, and that the file ends with \end\. <s> and </s> must be unigrams; a missing <unk> is
/// added with log10 p = -100 (as KenLM does). Throws FormatError naming the file and line. The counts of the
/// \data\ section are claims: on a stream that can seek, counts whose smallest entries (arpa_min_entry_bytes)
/// cannot fit in the bytes left are refused before anything is allocated for them; on a pipe, storage grows
/// with what is read.
inline classic::NgramTables read_arpa(std::istream& in, std::string_view name = "<stream>") {
  using classic::WordId;
  detail::ArpaLineReader r(in, name);
  std::string line;
  const auto fail_eof = [&](const char* where) {
    ELM_EXPECT(false, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": file truncated ", where,
               ", expected more lines");
  };
  // 1) Header.
  do {
    if (!r.next(line)) fail_eof("before \\data\\");
  } while (detail::arpa_blank(line));
  ELM_EXPECT(line == "\\data\\", FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": got '",
             line.substr(0, 40), "', expected the \\data\\ header");
  std::vector<std::size_t> announced;
  const std::int64_t bytes_left = detail::remaining_stream_bytes(in);  // -1: a pipe, the claims cannot be checked
  std::int64_t bytes_claimed = 0;  // the smallest size of the entries announced so far
  for (;;) {
    if (!r.next(line)) fail_eof("in the \\data\\ section");
    if (detail::arpa_blank(line)) {
      if (announced.empty()) continue;
      break;
    }
    std::string_view s(line);
    ELM_EXPECT(s.rfind("ngram ", 0) == 0 && s.find('=') != std::string_view::npos, FormatError,
               "elm::io::read_arpa: ", r.name(), ":", r.line(), ": got '", s.substr(0, 40),
               "', expected 'ngram N=count'");
    const std::string_view lhs = s.substr(6, s.find('=') - 6);
    const std::string_view rhs = s.substr(s.find('=') + 1);
    int n = 0;
    std::size_t c = 0;
    const auto rn = std::from_chars(lhs.data(), lhs.data() + lhs.size(), n);
    const auto rc = std::from_chars(rhs.data(), rhs.data() + rhs.size(), c);
    ELM_EXPECT(rn.ec == std::errc() && rn.ptr == lhs.data() + lhs.size() && rc.ec == std::errc() &&
                   rc.ptr == rhs.data() + rhs.size(),
               FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": got '", s,
               "', expected 'ngram N=count' with integers");
    ELM_EXPECT(n == static_cast<int>(announced.size()) + 1, FormatError, "elm::io::read_arpa: ", r.name(), ":",
               r.line(), ": got the count of order ", n, ", expected order ", announced.size() + 1);
    ELM_EXPECT(n <= classic::max_ngram_order, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(),
               ": order ", n, " is above the supported maximum ", classic::max_ngram_order);
    if (bytes_left >= 0) {
      const std::int64_t min_bytes = detail::arpa_min_entry_bytes(n);
      ELM_EXPECT(c <= static_cast<std::uint64_t>((bytes_left - bytes_claimed) / min_bytes), FormatError,
                 "elm::io::read_arpa: ", r.name(), ":", r.line(), ": '", s, "' announces ", c, " ", n,
                 "-grams, which need at least ", min_bytes, " bytes each, but only ", bytes_left - bytes_claimed,
                 " bytes of the file are left for them (", bytes_left, " after the header line, ", bytes_claimed,
                 " claimed by lower orders)");
      bytes_claimed += static_cast<std::int64_t>(c) * min_bytes;
    }
    announced.push_back(c);
  }
  ELM_EXPECT(!announced.empty() && announced[0] > 0, FormatError, "elm::io::read_arpa: ", r.name(), ":",
             r.line(), ": no unigrams announced, expected 'ngram 1=count' with count > 0");
  const int N = static_cast<int>(announced.size());

  // 2) Sections.
  classic::NgramTables t;
  t.orders.resize(std::size_t(N));
  std::vector<std::string_view> fields;
  std::vector<WordId> ids;
  for (int n = 1; n <= N; ++n) {
    const std::string header = elm::detail::concat("\\", n, "-grams:");
    do {
      if (!r.next(line)) fail_eof(("before " + header).c_str());
    } while (detail::arpa_blank(line));
    ELM_EXPECT(line == header, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": got '",
               line.substr(0, 40), "', expected ", header, (n > 1 ? " (or fewer entries in the previous section)" : ""));
    classic::NgramOrderTable& o = t.orders[std::size_t(n - 1)];
    o.n = n;
    const std::size_t count = announced[std::size_t(n - 1)];
    const std::size_t reserve = detail::arpa_reserve(count, bytes_left >= 0);
    o.words.reserve(reserve * std::size_t(n));
    o.log10_prob.reserve(reserve);
    if (n < N) o.log10_backoff.reserve(reserve);
    elm::classic::detail::NgramStore seen(n);
    seen.reserve(reserve);
    ids.resize(std::size_t(n));
    for (std::size_t i = 0; i < count; ++i) {
      if (!r.next(line)) fail_eof(("in " + header).c_str());
      classic::split_tokens(line, fields);
      ELM_EXPECT(!fields.empty() && fields[0].front() != '\\', FormatError, "elm::io::read_arpa: ", r.name(), ":",
                 r.line(), ": ", header, " has ", i, " entries, expected ", count, " as announced in \\data\\");
      const std::size_t nf = fields.size();
      const bool ok = nf == std::size_t(n) + 1 || (n < N && nf == std::size_t(n) + 2);
      ELM_EXPECT(ok, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": ", nf, " fields, expected ",
                 n + 1, (n < N ? elm::detail::concat(" or ", n + 2) : std::string()),
                 " (log10 p, ", n, " words", (n < N ? ", optional back-off)" : ")"));
      o.log10_prob.push_back(detail::parse_arpa_number(fields[0], r, "probability"));
      if (n < N) o.log10_backoff.push_back(nf == std::size_t(n) + 2 ? detail::parse_arpa_number(fields[nf - 1], r, "back-off") : 0.0);
      for (int k = 0; k < n; ++k) {
        const std::string_view w = fields[std::size_t(k) + 1];
        if (n == 1) {
          const std::size_t before = t.vocabulary.size();
          ids[0] = t.vocabulary.add(w);
          ELM_EXPECT(t.vocabulary.size() != before, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(),
                     ": duplicate unigram '", w, "'");
        } else {
          ELM_EXPECT(t.vocabulary.find(w, &ids[std::size_t(k)]), FormatError, "elm::io::read_arpa: ", r.name(),
                     ":", r.line(), ": word '", w, "' of a ", n, "-gram is not among the unigrams");
        }
      }
      ELM_EXPECT(seen.insert(ids.data()).second, FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(),
                 ": duplicate ", n, "-gram '", line, "'");
      o.words.insert(o.words.end(), ids.begin(), ids.end());
    }
  }
  do {
    if (!r.next(line)) fail_eof("before \\end\\");
  } while (detail::arpa_blank(line));
  ELM_EXPECT(line == "\\end\\", FormatError, "elm::io::read_arpa: ", r.name(), ":", r.line(), ": got '",
             line.substr(0, 40), "', expected \\end\\ (or a section with as many entries as announced)");

  // 3) Special words.
  WordId id = 0;
  ELM_EXPECT(t.vocabulary.find(classic::bos_symbol, &id) && t.vocabulary.find(classic::eos_symbol, &id),
             FormatError, "elm::io::read_arpa: ", r.name(), ": the unigrams lack <s> or </s>, expected both");
  if (!t.vocabulary.contains(classic::unk_symbol)) {
    const WordId unk = t.vocabulary.add(classic::unk_symbol);
    t.orders[0].words.push_back(unk);
    t.orders[0].log10_prob.push_back(-100.0);
    if (N > 1) t.orders[0].log10_backoff.push_back(0.0);
  }
  return t;
}

/// Reads the ARPA file at path; IoError when it cannot be opened, FormatError (file:line) when malformed.
inline classic::NgramTables read_arpa(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.good(), IoError, "elm::io::read_arpa: cannot open ", path, " for reading");
  return read_arpa(in, path);
}

/// Writes tables as ARPA text, KenLM's layout: counts, then per order "log10p<TAB>words[<TAB>backoff]" in
/// float precision; middle orders always carry a back-off column.
inline void write_arpa(const classic::NgramTables& t, std::ostream& out) {
  const int N = t.order();
  ELM_EXPECT(N >= 1, InvalidArgument, "elm::io::write_arpa: the model has no orders, expected at least unigrams");
  std::string buf = "\\data\\\n";
  for (int n = 1; n <= N; ++n) buf += elm::detail::concat("ngram ", n, "=", t.orders[std::size_t(n - 1)].size(), "\n");
  for (int n = 1; n <= N; ++n) {
    const classic::NgramOrderTable& o = t.orders[std::size_t(n - 1)];
    ELM_EXPECT(o.words.size() == o.size() * std::size_t(n) && (n == N || o.log10_backoff.size() == o.size()),
               InvalidArgument, "elm::io::write_arpa: order ", n, " has inconsistent sizes (", o.words.size(),
               " word ids, ", o.size(), " probabilities, ", o.log10_backoff.size(), " back-offs)");
    buf += elm::detail::concat("\n\\", n, "-grams:\n");
    for (std::size_t i = 0; i < o.size(); ++i) {
      detail::append_arpa_number(buf, o.log10_prob[i]);
      buf += '\t';
      for (int k = 0; k < n; ++k) {
        if (k) buf += ' ';
        buf += t.vocabulary.word(o.ngram(i)[k]);
      }
      if (n < N) {
        buf += '\t';
        detail::append_arpa_number(buf, o.log10_backoff[i]);
      }
      buf += '\n';
      if (buf.size() > (1u << 20)) {
        out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
        buf.clear();
      }
    }
  }
  buf += "\n\\end\\\n";
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

/// Writes tables to path atomically (temporary file, then rename). Throws IoError on failure.
inline void write_arpa(const classic::NgramTables& t, const std::string& path) {
  write_atomically(path, [&](std::ostream& out) { write_arpa(t, out); });
}

}  // namespace elm::io
