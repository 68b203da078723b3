// SPDX-License-Identifier: MIT
// Reading and writing word vectors in the word2vec text and binary formats (the original C tool's, gensim's).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/detail/stream_size.hpp"
#include "elm/text/utf8.hpp"

namespace elm::io {

/// Word vectors as a word2vec file holds them: the words in file order and one column per word.
/// `vectors` is (d, V): column j is the vector of words[j], contiguous, the same bytes as a row-major (V, d)
/// array (gensim's KeyedVectors.vectors, PyTorch's nn.Embedding.weight).
struct WordVectors {
  std::vector<std::string> words;
  Matrix<float> vectors;

  /// Number of words V.
  Index size() const { return vectors.cols(); }
  /// Vector dimension d.
  Index dim() const { return vectors.rows(); }
};

/// The two word2vec layouts. Text: a header line "V d", then per line a word and d decimal values separated
/// by spaces. Binary: the same header line, then per word its UTF-8 bytes, one space and d little-endian
/// IEEE float32 values (the C tool adds a newline after each vector; gensim does not; both read either).
enum class WordVectorFormat { text, binary };

namespace detail {

inline bool is_word2vec_separator(char c) { return c == ' ' || c == '\t'; }

/// Quotes at most 32 bytes of file content for a message, with bytes outside printable ASCII as \xNN, so that
/// a binary file read as text gives a readable error.
inline std::string quote_word2vec_snippet(std::string_view s) {
  constexpr const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s.substr(0, 32)) {
    const auto b = static_cast<unsigned char>(ch);
    if (b >= 0x20 && b < 0x7F && ch != '"' && ch != '\\') {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 15]);
    }
  }
  if (s.size() > 32) out += "...";
  out += '"';
  return out;
}

/// Throws FormatError unless `word` can stand in a word2vec file: non-empty, valid UTF-8, no whitespace.
/// `where` names the file and the position.
inline void check_word2vec_word(std::string_view word, const std::string& where) {
  ELM_EXPECT(!word.empty(), FormatError, where, ": expected a word, got an empty one");
  const std::size_t bad = text::find_invalid_utf8(word);
  if (bad != std::string_view::npos) text::detail::throw_invalid_utf8(word, bad, where + ": word");
  for (char c : word)
    ELM_EXPECT(c != ' ' && c != '\t' && c != '\n' && c != '\r', FormatError, where, ": word '", word,
               "' contains whitespace, which the word2vec formats use as a separator");
}

struct Word2vecHeader {
  Index count = 0;
  Index dim = 0;
};

/// Parses "V d" (with optional trailing whitespace or '\r'). `line` excludes the '\n'.
inline Word2vecHeader parse_word2vec_header(std::string_view line, std::string_view name) {
  const auto fail = [&](std::string_view why) {
    throw FormatError(elm::detail::concat(name, ":1: ", why, ", expected a header line \"<word count> <dimension>\""
                                          ", got ", quote_word2vec_snippet(line)));
  };
  std::size_t pos = 0;
  Index values[2] = {0, 0};
  for (Index& v : values) {
    while (pos < line.size() && is_word2vec_separator(line[pos])) ++pos;
    const char* first = line.data() + pos;
    const char* last = line.data() + line.size();
    std::int64_t parsed = 0;
    const auto result = std::from_chars(first, last, parsed);
    if (result.ec != std::errc() || result.ptr == first) fail("cannot read an integer");
    v = static_cast<Index>(parsed);
    pos = static_cast<std::size_t>(result.ptr - line.data());
  }
  while (pos < line.size() && (is_word2vec_separator(line[pos]) || line[pos] == '\r')) ++pos;
  if (pos != line.size()) fail("unexpected text after the two counts");
  if (values[0] < 0) fail("negative word count");
  if (values[1] < 1) fail("dimension below 1");
  // Far above any real file; keeps the size arithmetic below free of overflow.
  if (values[0] > (Index(1) << 40) || values[1] > (Index(1) << 30)) fail("word count or dimension too large");
  return {values[0], values[1]};
}

/// Rejects a header whose body cannot fit in the `remaining` bytes (when known), before allocating for it.
/// `min_bytes_per_word` is the smallest entry the format allows.
inline void check_word2vec_header_fits(const Word2vecHeader& h, std::int64_t remaining, std::int64_t min_bytes_per_word,
                                       std::string_view name) {
  constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 16;
  ELM_EXPECT(h.count <= limit / min_bytes_per_word, FormatError, name, ":1: header says ", h.count,
             " words of dimension ", h.dim, ", which is too large");
  if (remaining < 0) return;
  // The last entry may omit its final newline, hence the - 1.
  const std::int64_t needed = h.count * min_bytes_per_word - (h.count > 0 ? 1 : 0);
  ELM_EXPECT(needed <= remaining, FormatError, name, ": truncated file: header says ", h.count, " words of dimension ",
             h.dim, ", which needs at least ", needed, " bytes after the header, but only ", remaining, " remain");
}

/// Records each word's first position and throws FormatError on a repeat (a file has one vector per word).
class Word2vecDuplicateCheck {
 public:
  void add(const std::string& word, Index position, const std::string& where, std::string_view unit) {
    const auto [it, inserted] = first_.emplace(word, position);
    ELM_EXPECT(inserted, FormatError, where, ": duplicate word '", word, "', first seen at ", unit, " ", it->second);
  }

 private:
  std::unordered_map<std::string, Index> first_;
};

inline std::uint32_t load_le_u32(const unsigned char* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[3]) << 24);
}

inline void store_le_u32(std::uint32_t v, unsigned char* p) {
  p[0] = static_cast<unsigned char>(v & 0xFFu);
  p[1] = static_cast<unsigned char>((v >> 8) & 0xFFu);
  p[2] = static_cast<unsigned char>((v >> 16) & 0xFFu);
  p[3] = static_cast<unsigned char>((v >> 24) & 0xFFu);
}

/// Checks what write_* needs: one column per word, unique valid words, finite values.
inline void check_word_vectors_for_writing(const WordVectors& wv, std::string_view where) {
  ELM_EXPECT(wv.vectors.cols() == to_index(wv.words.size()), ShapeError, where, ": vectors has ",
             wv.vectors.cols(), " columns, expected one per word = ", wv.words.size());
  ELM_EXPECT(wv.vectors.rows() >= 1, ShapeError, where, ": vectors has ", wv.vectors.rows(),
             " rows, expected a dimension of at least 1");
  Word2vecDuplicateCheck seen;
  for (std::size_t j = 0; j < wv.words.size(); ++j) {
    const std::string at = elm::detail::concat(where, ": words[", j, "]");
    try {
      check_word2vec_word(wv.words[j], at);
    } catch (const FormatError& e) {
      throw InvalidArgument(e.what());
    }
    try {
      seen.add(wv.words[j], Index(j), at, "index");
    } catch (const FormatError& e) {
      throw InvalidArgument(e.what());
    }
  }
  for (Index j = 0; j < wv.vectors.cols(); ++j)
    for (Index i = 0; i < wv.vectors.rows(); ++i)
      ELM_EXPECT(std::isfinite(wv.vectors(i, j)), InvalidArgument, where, ": vectors(", i, ", ", j, ") of word '",
                 wv.words[to_size(j)], "' is ", wv.vectors(i, j), ", expected a finite value");
}

}  // namespace detail

/// Reads the word2vec text format from `in`; `name` (a file name) prefixes error messages as "name:line".
/// Strict where gensim would guess: every line must hold a word and exactly d finite values, the body exactly
/// V lines (trailing blank lines allowed), every word valid UTF-8 and unique. Values separated by spaces or tabs;
/// a trailing space (as the C tool writes) and '\r' are allowed.
/// Throws FormatError (with file and line) for any violation, IoError when the stream fails.
inline WordVectors read_word2vec_text(std::istream& in, std::string_view name = "<stream>") {
  std::string line;
  ELM_EXPECT(static_cast<bool>(std::getline(in, line)), FormatError, name,
             ": empty file, expected a header line \"<word count> <dimension>\"");
  const detail::Word2vecHeader h = detail::parse_word2vec_header(line, name);
  // A text entry is at least a 1-byte word, then d times a separator and a digit, then '\n'.
  detail::check_word2vec_header_fits(h, detail::remaining_stream_bytes(in), 2 * h.dim + 2, name);
  WordVectors wv;
  wv.words.reserve(to_size(h.count));
  wv.vectors.resize(h.dim, h.count);
  detail::Word2vecDuplicateCheck seen;
  for (Index j = 0; j < h.count; ++j) {
    const Index line_no = j + 2;
    const std::string where = elm::detail::concat(name, ":", line_no);
    ELM_EXPECT(static_cast<bool>(std::getline(in, line)), FormatError, name, ": truncated file: header says ", h.count,
               " words, but the body ends after ", j, " (at line ", line_no, ")");
    std::size_t end = line.size();
    while (end > 0 && (detail::is_word2vec_separator(line[end - 1]) || line[end - 1] == '\r')) --end;
    std::size_t pos = 0;
    while (pos < end && !detail::is_word2vec_separator(line[pos])) ++pos;
    std::string word = line.substr(0, pos);
    detail::check_word2vec_word(word, where);
    Index k = 0;
    while (pos < end) {
      while (pos < end && detail::is_word2vec_separator(line[pos])) ++pos;
      const char* first = line.data() + pos;
      float value = 0.0f;
      const auto result = std::from_chars(first, line.data() + end, value);
      if (result.ec == std::errc::invalid_argument || result.ptr == first ||
          (result.ptr != line.data() + end && !detail::is_word2vec_separator(*result.ptr))) {
        const std::string_view rest = std::string_view(line).substr(pos, end - pos);
        const bool binary_bytes = std::any_of(rest.begin(), rest.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x80;
        });
        throw FormatError(elm::detail::concat(where, ": value ", k + 1, " of word '", word, "' is not a number: ",
                                              detail::quote_word2vec_snippet(rest),
                                              binary_bytes ? " (is this a binary word2vec file?)" : ""));
      }
      ELM_EXPECT(result.ec != std::errc::result_out_of_range && std::isfinite(value), FormatError, where, ": value ",
                 k + 1, " of word '", word, "' is not a finite float32: ",
                 detail::quote_word2vec_snippet(std::string_view(first, static_cast<std::size_t>(result.ptr - first))));
      ELM_EXPECT(k < h.dim, FormatError, where, ": word '", word, "' has more than ", h.dim,
                 " values, expected the header's dimension ", h.dim);
      wv.vectors(k, j) = value;
      ++k;
      pos = static_cast<std::size_t>(result.ptr - line.data());
    }
    ELM_EXPECT(k == h.dim, FormatError, where, ": word '", word, "' has ", k, " values, expected the header's dimension ",
               h.dim);
    seen.add(word, line_no, where, "line");
    wv.words.push_back(std::move(word));
  }
  Index line_no = h.count + 1;
  while (std::getline(in, line)) {
    ++line_no;
    for (char c : line)
      ELM_EXPECT(detail::is_word2vec_separator(c) || c == '\r', FormatError, name, ":", line_no,
                 ": header says ", h.count, " words, but the body has more lines");
  }
  ELM_EXPECT(in.eof() && !in.bad(), IoError, name, ": read error");
  return wv;
}

/// Reads the word2vec binary format from `in` (opened in binary mode); `name` prefixes error messages, which give
/// byte offsets. Each entry: optional '\n' (the C tool writes one after each vector), the word up to a space, then d
/// little-endian float32. Checks: V entries then nothing but newlines, no truncation, valid UTF-8, unique words,
/// finite values. Throws FormatError (with file and byte offset) for any violation, IoError when the stream fails.
inline WordVectors read_word2vec_binary(std::istream& in, std::string_view name = "<stream>") {
  std::string line;
  ELM_EXPECT(static_cast<bool>(std::getline(in, line)), FormatError, name,
             ": empty file, expected a header line \"<word count> <dimension>\"");
  const detail::Word2vecHeader h = detail::parse_word2vec_header(line, name);
  std::int64_t offset = static_cast<std::int64_t>(line.size()) + 1;
  // A binary entry is at least a 1-byte word, a space and 4 d bytes.
  detail::check_word2vec_header_fits(h, detail::remaining_stream_bytes(in), 4 * h.dim + 2, name);
  WordVectors wv;
  wv.words.reserve(to_size(h.count));
  wv.vectors.resize(h.dim, h.count);
  // Sized once the header's claim has been checked against the bytes left (a file of 0 words of dimension 2^30
  // has nothing to read into it).
  std::vector<unsigned char> buffer(h.count > 0 ? to_size(h.dim) * 4 : 0);
  detail::Word2vecDuplicateCheck seen;
  // The longest word accepted: far beyond any real token, small enough to stop at once on a wrong layout.
  constexpr std::size_t max_word_bytes = 1 << 16;
  for (Index j = 0; j < h.count; ++j) {
    int c = in.get();
    while (c == '\n') {
      ++offset;
      c = in.get();
    }
    const std::int64_t word_offset = offset;
    const std::string where = elm::detail::concat(name, ": byte ", word_offset);
    std::string word;
    while (c != std::char_traits<char>::eof() && c != ' ') {
      word.push_back(static_cast<char>(c));
      ELM_EXPECT(word.size() <= max_word_bytes, FormatError, where, ": word ", j + 1, " is longer than ",
                 max_word_bytes, " bytes: the dimension in the header is probably wrong or the file is not binary");
      c = in.get();
    }
    ELM_EXPECT(c == ' ', FormatError, name, ": truncated file: header says ", h.count, " words, but the file ends at byte ",
               offset + std::int64_t(word.size()), " inside entry ", j + 1);
    offset += std::int64_t(word.size()) + 1;
    detail::check_word2vec_word(word, where);
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    ELM_EXPECT(in.gcount() == static_cast<std::streamsize>(buffer.size()), FormatError, name,
               ": truncated file: the vector of word '", word, "' (entry ", j + 1, " of ", h.count, ") needs ",
               buffer.size(), " bytes from byte ", offset, ", only ", in.gcount(), " remain");
    for (Index k = 0; k < h.dim; ++k) {
      const std::uint32_t bits = detail::load_le_u32(buffer.data() + 4 * k);
      float value = 0.0f;
      std::memcpy(&value, &bits, sizeof value);
      ELM_EXPECT(std::isfinite(value), FormatError, name, ": byte ", offset + 4 * k, ": value ", k + 1, " of word '",
                 word, "' is not finite");
      wv.vectors(k, j) = value;
    }
    offset += 4 * h.dim;
    seen.add(word, word_offset, where, "byte");
    wv.words.push_back(std::move(word));
  }
  for (int c = in.get(); c != std::char_traits<char>::eof(); c = in.get(), ++offset)
    ELM_EXPECT(c == '\n' || c == '\r', FormatError, name, ": byte ", offset, ": header says ", h.count,
               " words of dimension ", h.dim, ", but data follows the last one (wrong header counts?)");
  ELM_EXPECT(!in.bad(), IoError, name, ": read error");
  return wv;
}

/// Writes the word2vec text format: "V d", then per word the word and its values in the shortest decimal form that
/// reads back to the same float32 (so a round trip through gensim is exact), separated by single spaces.
/// Throws InvalidArgument for an empty, whitespace-holding, invalid UTF-8 or duplicate word, or a non-finite
/// value (the reader would reject them); ShapeError when vectors is not (d >= 1, words.size()).
inline void write_word2vec_text(std::ostream& out, const WordVectors& wv) {
  detail::check_word_vectors_for_writing(wv, "elm::io::write_word2vec_text");
  out << wv.size() << ' ' << wv.dim() << '\n';
  std::string line;
  char number[64];
  for (Index j = 0; j < wv.size(); ++j) {
    line = wv.words[to_size(j)];
    for (Index k = 0; k < wv.dim(); ++k) {
      const auto result = std::to_chars(number, number + sizeof number, wv.vectors(k, j));
      ELM_ASSERT(result.ec == std::errc());
      line += ' ';
      line.append(number, result.ptr);
    }
    line += '\n';
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
}

/// Writes the word2vec binary format as the C tool does: "V d\n", then per word "word " + d little-endian float32
/// + '\n'. Throws as write_word2vec_text does.
inline void write_word2vec_binary(std::ostream& out, const WordVectors& wv) {
  detail::check_word_vectors_for_writing(wv, "elm::io::write_word2vec_binary");
  out << wv.size() << ' ' << wv.dim() << '\n';
  std::vector<unsigned char> buffer(to_size(wv.dim()) * 4);
  for (Index j = 0; j < wv.size(); ++j) {
    const std::string& word = wv.words[to_size(j)];
    out.write(word.data(), static_cast<std::streamsize>(word.size()));
    out.put(' ');
    for (Index k = 0; k < wv.dim(); ++k) {
      std::uint32_t bits = 0;
      const float value = wv.vectors(k, j);
      std::memcpy(&bits, &value, sizeof bits);
      detail::store_le_u32(bits, buffer.data() + 4 * k);
    }
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    out.put('\n');
  }
}

/// Reads a word2vec file in the given format. Throws IoError when it cannot be opened, FormatError (with the path
/// and line or byte offset) when its content is malformed.
inline WordVectors read_word_vectors(const std::string& path, WordVectorFormat format) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.is_open(), IoError, "elm::io::read_word_vectors: cannot open ", path);
  return format == WordVectorFormat::binary ? read_word2vec_binary(in, path) : read_word2vec_text(in, path);
}

/// Writes a word2vec file atomically (temporary file, then rename). Throws as write_word2vec_text, and IoError
/// when the file cannot be written; `path` keeps its previous content on failure.
inline void write_word_vectors(const std::string& path, const WordVectors& wv, WordVectorFormat format) {
  // Validate before creating the temporary file, so a bad argument leaves no trace on disk.
  detail::check_word_vectors_for_writing(wv, "elm::io::write_word_vectors");
  write_atomically(path, [&](std::ostream& out) {
    if (format == WordVectorFormat::binary)
      write_word2vec_binary(out, wv);
    else
      write_word2vec_text(out, wv);
  });
}

}  // namespace elm::io
