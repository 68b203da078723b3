// SPDX-License-Identifier: MIT
// count_ngrams_bounded: n-gram counts of a text streamed line by line, counted in parts whose tables stay within a
// memory budget, each part written to disk as a sorted run, the runs merged; the counts of NgramCounts::add_lines.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/core/error.hpp"

namespace elm::classic {

/// The smallest budget count_ngrams_bounded accepts: below it a part holds too few n-grams to be worth a file.
inline constexpr std::size_t min_ngram_memory = std::size_t(256) << 10;  // 256 KiB

/// Options of count_ngrams_bounded.
struct BoundedCountOptions {
  int order = 3;
  bool chars = false;         // sentences of code points instead of words (NgramCounts::add_char_line)
  std::size_t memory = 0;     // bytes of the counting tables of one part (>= min_ngram_memory)
  std::string temp_dir = {};  // where the runs go (a fresh folder inside it); empty: the system's temporary folder
  std::size_t max_open_runs = 128;  // runs merged at once (open files, >= 2); more are first merged in rounds
};

/// Parses a byte count with an optional binary suffix: "1048576", "512K", "64M", "2G" (K = 1024). Throws
/// InvalidArgument otherwise.
inline std::size_t parse_memory_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string_view suffix = text.substr(digits);
  int shift = -1;
  if (suffix.empty() || suffix == "B" || suffix == "b") shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  if (suffix == "M" || suffix == "m") shift = 20;
  if (suffix == "G" || suffix == "g") shift = 30;
  ELM_EXPECT(digits > 0 && digits <= 12 && shift >= 0, InvalidArgument, "elm::classic::parse_memory_size: '", text,
             "', expected a byte count with an optional suffix K, M or G (e.g. 64M)");
  std::size_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) value = value * 10 + std::size_t(text[i] - '0');
  ELM_EXPECT(value <= (std::size_t(1) << (62 - shift)), InvalidArgument, "elm::classic::parse_memory_size: '", text,
             "' is too large, expected at most 2^62 bytes");
  return value << shift;
}

}  // namespace elm::classic

namespace elm::classic::detail {

/// A run file: header = magic (8 bytes), order N (uint32), sort key (uint32: 0 words, 1 first appearance),
/// records (uint64); then the records, each n (uint32), N word ids (uint32, those past n are 0), the raw count
/// (int64) and the first appearance (uint64), little-endian as the machine writes them. Runs live and die
/// within one count_ngrams_bounded call, on the machine that wrote them.
inline constexpr char ngram_run_magic[8] = {'E', 'L', 'M', 'N', 'R', 'U', 'N', '1'};
inline constexpr std::size_t ngram_run_header_bytes = 24;
inline std::size_t ngram_run_record_bytes(int order) { return 4 + 4 * std::size_t(order) + 16; }

enum class NgramRunOrder : std::uint32_t { words = 0, first = 1 };

/// One n-gram of a run: its order, words, raw count and first appearance (part << 32 | entry in that part: the
/// parts are consecutive, so this orders n-grams of one order as their first appearance in the whole text).
struct NgramRunRecord {
  std::uint32_t n = 0;
  WordId words[max_ngram_order] = {};
  std::int64_t count = 0;
  std::uint64_t first = 0;
};

inline bool ngram_run_less(const NgramRunRecord& a, const NgramRunRecord& b, NgramRunOrder by) {
  if (a.n != b.n) return a.n < b.n;
  if (by == NgramRunOrder::first) return a.first < b.first;
  return std::lexicographical_compare(a.words, a.words + a.n, b.words, b.words + b.n);
}

/// Writes a run to path + ".part", then renames it to path, so a run file on disk is always complete.
class NgramRunWriter {
 public:
  NgramRunWriter(std::string path, int order, NgramRunOrder by)
      : path_(std::move(path)), part_(path_ + ".part"), order_(order), by_(by) {
    out_.open(part_, std::ios::binary | std::ios::trunc);
    ELM_EXPECT(out_.good(), IoError, "elm::classic::count_ngrams_bounded: cannot create the run file ", part_);
    write_header(0);
  }
  void add(const NgramRunRecord& r) {
    append(r.n);
    buffer_.append(reinterpret_cast<const char*>(r.words), sizeof(WordId) * r.n);
    buffer_.append(sizeof(WordId) * (std::size_t(order_) - r.n), '\0');
    append(r.count);
    append(r.first);
    ++records_;
    if (buffer_.size() >= (std::size_t(64) << 10)) drain();  // a small share of the smallest budget
  }
  void finish() {
    drain();
    out_.seekp(0);
    write_header(records_);
    drain();
    out_.close();
    ELM_EXPECT(!out_.fail(), IoError, "elm::classic::count_ngrams_bounded: writing the run file ", part_,
               " failed (disk full?)");
    std::error_code ec;
    std::filesystem::rename(part_, path_, ec);
    ELM_EXPECT(!ec, IoError, "elm::classic::count_ngrams_bounded: cannot rename ", part_, " to ", path_, ": ",
               ec.message());
  }

 private:
  template <typename T>
  void append(const T& value) {
    buffer_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void write_header(std::uint64_t records) {
    buffer_.append(ngram_run_magic, sizeof ngram_run_magic);
    append(static_cast<std::uint32_t>(order_));
    append(static_cast<std::uint32_t>(by_));
    append(records);
  }
  void drain() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }

  std::string path_, part_;
  int order_;
  NgramRunOrder by_;
  std::ofstream out_;
  std::string buffer_;
  std::uint64_t records_ = 0;
};

/// Reads a run back, checking everything it claims: the magic, order and sort key; the record count against the
/// file's size (before reading any record); each record's order, word ids, count and place in the sort order.
/// Throws FormatError naming the file, what, where, expected and got.
class NgramRunReader {
 public:
  NgramRunReader(std::string path, int order, NgramRunOrder by, std::size_t vocabulary_size)
      : path_(std::move(path)), order_(order), by_(by), vocabulary_size_(vocabulary_size),
        record_bytes_(ngram_run_record_bytes(order)) {
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(path_, ec);
    ELM_EXPECT(!ec, IoError, "elm::classic::count_ngrams_bounded: cannot read the size of the run file ", path_, ": ",
               ec.message());
    in_.open(path_, std::ios::binary);
    ELM_EXPECT(in_.good(), IoError, "elm::classic::count_ngrams_bounded: cannot open the run file ", path_);
    ELM_EXPECT(size >= ngram_run_header_bytes, FormatError, "elm::classic::count_ngrams_bounded: run file ", path_,
               ": header at byte 0: expected ", ngram_run_header_bytes, " bytes, got a file of ", size, " bytes");
    char header[ngram_run_header_bytes];
    read(header, sizeof header, "the header");
    ELM_EXPECT(std::memcmp(header, ngram_run_magic, sizeof ngram_run_magic) == 0, FormatError,
               "elm::classic::count_ngrams_bounded: run file ", path_, ": magic at byte 0: expected ELMNRUN1, got '",
               std::string(header, sizeof ngram_run_magic), "'");
    std::uint32_t file_order = 0, file_by = 0;
    std::memcpy(&file_order, header + 8, 4);
    std::memcpy(&file_by, header + 12, 4);
    std::memcpy(&records_, header + 16, 8);
    ELM_EXPECT(file_order == std::uint32_t(order_) && file_by == std::uint32_t(by_), FormatError,
               "elm::classic::count_ngrams_bounded: run file ", path_, ": order and sort key at byte 8: expected ",
               order_, " and ", std::uint32_t(by_), ", got ", file_order, " and ", file_by);
    const std::uintmax_t body = size - ngram_run_header_bytes;
    ELM_EXPECT(records_ <= body / record_bytes_ && records_ * record_bytes_ == body, FormatError,
               "elm::classic::count_ngrams_bounded: run file ", path_, ": record count at byte 16 claims ", records_,
               " records of ", record_bytes_, " bytes, expected a body of that size, got ", body,
               " bytes (truncated or corrupt)");
  }

  /// The next record in r; false at the end of the run.
  bool next(NgramRunRecord& r) {
    if (read_ == records_) return false;
    char raw[4 + 4 * max_ngram_order + 16];
    const std::uint64_t at = ngram_run_header_bytes + read_ * record_bytes_;
    read(raw, record_bytes_, "a record");
    NgramRunRecord got;
    std::memcpy(&got.n, raw, 4);
    std::memcpy(got.words, raw + 4, 4 * std::size_t(order_));
    std::memcpy(&got.count, raw + 4 + 4 * std::size_t(order_), 8);
    std::memcpy(&got.first, raw + 12 + 4 * std::size_t(order_), 8);
    const auto where = [&] { return elm::detail::concat("run file ", path_, ": record ", read_, " at byte ", at); };
    ELM_EXPECT(got.n >= 1 && got.n <= std::uint32_t(order_), FormatError, "elm::classic::count_ngrams_bounded: ",
               where(), ": order: expected 1 to ", order_, ", got ", got.n);
    for (std::uint32_t k = 0; k < got.n; ++k)
      ELM_EXPECT(got.words[k] < vocabulary_size_, FormatError, "elm::classic::count_ngrams_bounded: ", where(),
                 ": word ", k, ": expected an id below ", vocabulary_size_, ", got ", got.words[k]);
    ELM_EXPECT(got.count >= 1, FormatError, "elm::classic::count_ngrams_bounded: ", where(),
               ": count: expected >= 1, got ", got.count);
    ELM_EXPECT(read_ == 0 || ngram_run_less(last_, got, by_), FormatError, "elm::classic::count_ngrams_bounded: ",
               where(), ": expected the records in strictly increasing order of ",
               by_ == NgramRunOrder::words ? "words" : "first appearance", ", got one out of order");
    r = last_ = got;
    ++read_;
    return true;
  }

 private:
  void read(char* out, std::size_t bytes, const char* what) {
    in_.read(out, static_cast<std::streamsize>(bytes));
    ELM_EXPECT(static_cast<std::size_t>(in_.gcount()) == bytes, FormatError,
               "elm::classic::count_ngrams_bounded: run file ", path_, ": ", what, ": expected ", bytes,
               " bytes, got ", in_.gcount(), " (the file shrank while being read)");
  }

  std::string path_;
  int order_;
  NgramRunOrder by_;
  std::size_t vocabulary_size_;
  std::size_t record_bytes_;
  std::ifstream in_;
  std::uint64_t records_ = 0, read_ = 0;
  NgramRunRecord last_;
};

/// Calls f(record) for the records of every run in the sort order, records of the same n-gram in several runs as
/// one (counts summed, the earliest first appearance): a k-way merge, one open file and one record per run in memory.
template <typename F>
void merge_ngram_runs(const std::vector<std::string>& paths, int order, NgramRunOrder by, std::size_t vocabulary_size,
                      F&& f) {
  std::vector<std::unique_ptr<NgramRunReader>> readers;
  std::vector<NgramRunRecord> heads(paths.size());
  const auto later = [&](std::size_t a, std::size_t b) { return ngram_run_less(heads[b], heads[a], by); };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> queue(later);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    readers.push_back(std::make_unique<NgramRunReader>(paths[i], order, by, vocabulary_size));
    if (readers.back()->next(heads[i])) queue.push(i);
  }
  std::optional<NgramRunRecord> pending;
  while (!queue.empty()) {
    const std::size_t i = queue.top();
    queue.pop();
    const NgramRunRecord& r = heads[i];
    if (pending && !ngram_run_less(*pending, r, by)) {  // the same n-gram (the records come in order)
      pending->count += r.count;
      pending->first = std::min(pending->first, r.first);
    } else {
      if (pending) f(static_cast<const NgramRunRecord&>(*pending));
      pending = r;
    }
    if (readers[i]->next(heads[i])) queue.push(i);
  }
  if (pending) f(static_cast<const NgramRunRecord&>(*pending));
}

/// A fresh folder for the runs inside parent (the system's temporary folder when empty), removed with everything
/// in it when the object goes, on success and on failure alike.
class NgramRunFolder {
 public:
  explicit NgramRunFolder(const std::string& parent) {
    std::error_code ec;
    const std::filesystem::path base =
        parent.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(parent);
    ELM_EXPECT(!ec, IoError, "elm::classic::count_ngrams_bounded: no temporary folder: ", ec.message());
    std::random_device seed;
    for (int attempt = 0; attempt < 100 && path_.empty(); ++attempt) {
      const std::filesystem::path p = base / elm::detail::concat("elm-ngram-runs-", seed());
      if (std::filesystem::create_directory(p, ec)) path_ = p.string();
      ELM_EXPECT(!ec, IoError, "elm::classic::count_ngrams_bounded: cannot create a folder in ", base.string(), ": ",
                 ec.message());
    }
    ELM_EXPECT(!path_.empty(), IoError, "elm::classic::count_ngrams_bounded: cannot create a fresh folder in ",
               base.string());
  }
  NgramRunFolder(const NgramRunFolder&) = delete;
  NgramRunFolder& operator=(const NgramRunFolder&) = delete;
  ~NgramRunFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const noexcept { return path_; }
  /// Path of a new run file in the folder.
  std::string next_file(const char* stage) { return elm::detail::concat(path_, "/", stage, "-", files_++, ".run"); }

 private:
  std::string path_;
  std::size_t files_ = 0;
};

/// Merges runs sorted by `by` in groups of at most max_open into one run each, round after round, until at most
/// max_open are left, so the final merge opens no more files than that.
inline void merge_ngram_runs_in_rounds(std::vector<std::string>& paths, int order, NgramRunOrder by,
                                       std::size_t vocabulary_size, std::size_t max_open, NgramRunFolder& folder) {
  while (paths.size() > max_open) {
    std::vector<std::string> merged;
    for (std::size_t begin = 0; begin < paths.size(); begin += max_open) {
      const std::vector<std::string> group(paths.begin() + std::ptrdiff_t(begin),
                                           paths.begin() + std::ptrdiff_t(std::min(paths.size(), begin + max_open)));
      if (group.size() == 1) {
        merged.push_back(group[0]);
        continue;
      }
      merged.push_back(folder.next_file("merged"));
      NgramRunWriter out(merged.back(), order, by);
      merge_ngram_runs(group, order, by, vocabulary_size, [&](const NgramRunRecord& r) { out.add(r); });
      out.finish();
      for (const std::string& path : group) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
      }
    }
    paths.swap(merged);
  }
}

/// How many n-grams of the highest order one part holds within memory bytes: per n-gram its words, count, link
/// to the window before (order >= 3) and sort entry (24 bytes), plus the hash slots (8 bytes each, a power of two
/// at least 4/3 of the n-grams); an eighth of the budget is left to the lower orders' windows starting with <s>.
inline std::size_t bounded_part_capacity(int order, std::size_t memory) {
  const std::size_t entry = 4 * std::size_t(order) + 8 + (order >= 3 ? 4 : 0) + 24;
  const std::size_t usable = memory - memory / 8;
  std::size_t slots = 16;
  while (2 * slots * 8 + (3 * (2 * slots) / 4) * entry <= usable) slots *= 2;
  return 3 * slots / 4 - 1;
}

}  // namespace elm::classic::detail

namespace elm::classic {

/// The counts of NgramCounts::add_lines (chars: add_char_line) over every line of text, with the counting tables
/// held within options.memory bytes: lines are read one at a time and counted in parts; when a part's tables
/// reach the budget, its windows (NgramCounts::for_each_counted) are written to a run file sorted by words, and a
/// new part starts. Then (1) a k-way merge of the runs sums each n-gram's counts and keeps its first appearance,
/// writing runs sorted by first appearance (buffers of at most options.memory bytes), and (2) a k-way merge of
/// those adds the n-grams in order of first appearance to the result (NgramCounts::add_counted), so word ids,
/// entries and every table estimated from them equal those of counting the text in memory. A merge opens at most
/// options.max_open_runs files: more runs are first merged in groups of that many, round after round.
/// Bounded: the text (never held whole) and the counting tables of a part. Not bounded: the vocabulary, one
/// record per open run during the merges, and the returned counts, which hold every n-gram as NgramCounts does
/// (estimation needs them all). Runs go to a fresh folder in options.temp_dir, removed on return and on failure.
/// Throws InvalidArgument for a budget below min_ngram_memory, max_open_runs below 2 or a bad order, what add_line
/// throws (with the line number in the text), IoError when the runs cannot be written, FormatError when a run read
/// back is truncated or corrupt.
inline NgramCounts count_ngrams_bounded(std::istream& text, const BoundedCountOptions& options) {
  ELM_EXPECT(options.memory >= min_ngram_memory, InvalidArgument, "elm::classic::count_ngrams_bounded: memory = ",
             options.memory, " bytes, expected at least ", min_ngram_memory, " (256K)");
  ELM_EXPECT(options.max_open_runs >= 2, InvalidArgument, "elm::classic::count_ngrams_bounded: max_open_runs = ",
             options.max_open_runs, ", expected at least 2");
  const int N = options.order;
  NgramCounts result(N);  // checks the order
  detail::NgramRunFolder folder(options.temp_dir);
  const std::size_t capacity = detail::bounded_part_capacity(N, options.memory);

  // 1) parts of the text, each written out sorted by words, with word ids of the whole text's vocabulary
  NgramVocabulary vocabulary = NgramVocabulary::with_specials();
  std::int64_t sentences = 0, tokens = 0, lines = 0;
  std::vector<std::string> by_words;
  std::optional<NgramCounts> part;
  std::vector<WordId> to_global;
  struct PartEntry {  // a window of the part, to sort
    const WordId* words;
    std::int64_t count;
    std::uint32_t n, index;
  };
  std::vector<PartEntry> order;
  const auto flush = [&] {
    const NgramVocabulary& local = part->vocabulary();
    to_global.resize(local.size());
    for (WordId id = 0; id < local.size(); ++id) to_global[id] = vocabulary.add(local.word(id));
    sentences += part->sentences();
    tokens += part->tokens();
    std::size_t windows = 0;
    for (int n = 1; n <= N; ++n) windows += part->counted_size(n);
    order.reserve(windows);
    part->for_each_counted([&](const WordId* w, int n, std::int64_t count, std::size_t i) {
      if (count > 0) order.push_back({w, count, std::uint32_t(n), std::uint32_t(i)});
    });
    std::sort(order.begin(), order.end(), [&](const PartEntry& a, const PartEntry& b) {
      if (a.n != b.n) return a.n < b.n;
      for (std::uint32_t k = 0; k < a.n; ++k)
        if (a.words[k] != b.words[k]) return to_global[a.words[k]] < to_global[b.words[k]];
      return false;
    });
    by_words.push_back(folder.next_file("words"));
    detail::NgramRunWriter out(by_words.back(), N, detail::NgramRunOrder::words);
    detail::NgramRunRecord r;
    for (const PartEntry& e : order) {
      r.n = e.n;
      for (std::uint32_t k = 0; k < r.n; ++k) r.words[k] = to_global[e.words[k]];
      r.count = e.count;
      r.first = (std::uint64_t(by_words.size() - 1) << 32) | e.index;
      out.add(r);
    }
    out.finish();
    part.reset();
    std::vector<PartEntry>().swap(order);
  };
  std::string line;
  while (std::getline(text, line)) {
    // A line adds at most one window per byte and </s>: start a new part when it might not fit.
    if (part && ((N >= 2 && part->counted_size(N) + line.size() + 1 > capacity) ||
                 part->table_bytes() >= options.memory))
      flush();
    if (!part) {
      part.emplace(N);
      part->skip_line_numbers(lines);
      if (N >= 2) part->reserve_counted(capacity);
    }
    if (options.chars) {
      part->add_char_line(line);
    } else {
      part->add_line(line);
    }
    ++lines;
  }
  ELM_EXPECT(!text.bad(), IoError, "elm::classic::count_ngrams_bounded: error while reading the text after line ",
             lines);
  if (part) flush();

  // 2) merge by words (the records of one n-gram summed), out in runs sorted by first appearance
  std::vector<std::string> by_first;
  std::size_t highest = 0;  // distinct n-grams of the highest order
  {
    std::vector<detail::NgramRunRecord> buffer;
    buffer.reserve(std::max<std::size_t>(1, options.memory / sizeof(detail::NgramRunRecord)));
    const auto write = [&] {
      std::sort(buffer.begin(), buffer.end(), [](const auto& a, const auto& b) {
        return detail::ngram_run_less(a, b, detail::NgramRunOrder::first);
      });
      by_first.push_back(folder.next_file("first"));
      detail::NgramRunWriter out(by_first.back(), N, detail::NgramRunOrder::first);
      for (const auto& r : buffer) out.add(r);
      out.finish();
      buffer.clear();
    };
    detail::merge_ngram_runs_in_rounds(by_words, N, detail::NgramRunOrder::words, vocabulary.size(),
                                       options.max_open_runs, folder);
    detail::merge_ngram_runs(by_words, N, detail::NgramRunOrder::words, vocabulary.size(),
                             [&](const detail::NgramRunRecord& r) {
                               highest += r.n == std::uint32_t(N);
                               if (buffer.size() == buffer.capacity()) write();
                               buffer.push_back(r);
                             });
    if (!buffer.empty()) write();
  }
  for (const std::string& path : by_words) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // the disk space back before the last merge
  }

  // 3) merge by first appearance into the result, after the vocabulary in its order
  for (WordId id = 3; id < vocabulary.size(); ++id) result.add_word(vocabulary.word(id));
  result.add_sentences(sentences, tokens);
  if (N >= 2) result.reserve_counted(highest);  // the largest order's tables at their final size, never doubled
  detail::merge_ngram_runs_in_rounds(by_first, N, detail::NgramRunOrder::first, vocabulary.size(),
                                     options.max_open_runs, folder);
  detail::merge_ngram_runs(by_first, N, detail::NgramRunOrder::first, vocabulary.size(),
                           [&](const detail::NgramRunRecord& r) { result.add_counted(r.words, int(r.n), r.count); });
  return result;
}

}  // namespace elm::classic
