// SPDX-License-Identifier: MIT
// Binary save and load of a hashed NgramModel: its tables as they sit in memory, so loading is a few reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "elm/classic/ngram_model.hpp"
#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/detail/stream_size.hpp"

namespace elm::io {

/// Magic of the binary n-gram format, version 1. Layout (little-endian, as written by the host; a byte-order
/// mark rejects files from a host of the other endianness): magic, u32 version, u32 0x01020304, u32 order,
/// u32 V, u32 unk/bos/eos ids, u64 total n-grams, V words (u32 length + bytes), then the unigram array
/// (u64 count + 8-byte entries), each middle table (u64 slots + 16-byte slots), the longest table
/// (u64 slots + 12-byte slots), and a u64 checksum of everything after the magic.
inline constexpr char ngram_binary_magic[8] = {'E', 'L', 'M', 'N', 'G', 'R', 'M', '\x01'};

namespace detail {

/// The binary format's view of classic::NgramModel's internals.
struct NgramModelAccess {
  static int& order(classic::NgramModel& m) { return m.order_; }
  static classic::NgramVocabulary& vocab(classic::NgramModel& m) { return m.vocab_; }
  static classic::WordId& unk(classic::NgramModel& m) { return m.unk_; }
  static classic::WordId& bos(classic::NgramModel& m) { return m.bos_; }
  static classic::WordId& eos(classic::NgramModel& m) { return m.eos_; }
  static auto& unigrams(classic::NgramModel& m) { return m.unigrams_; }
  static auto& middle(classic::NgramModel& m) { return m.middle_; }
  static auto& longest(classic::NgramModel& m) { return m.longest_; }
  static std::size_t& total(classic::NgramModel& m) { return m.total_ngrams_; }
  static void finish_load(classic::NgramModel& m) { m.build_word_index(); }
};

/// FNV-1a style hash over 8-byte words (then the tail bytes): cheap next to reading the bytes.
inline std::uint64_t ngram_checksum(std::uint64_t sum, const void* p, std::size_t n) noexcept {
  const auto* b = static_cast<const unsigned char*>(p);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, b + i, 8);
    sum = (sum ^ w) * 0x100000001B3ULL;
    sum ^= sum >> 29;
  }
  for (; i < n; ++i) sum = (sum ^ b[i]) * 0x100000001B3ULL;
  return sum;
}

class NgramBinaryWriter {
 public:
  explicit NgramBinaryWriter(std::ostream& out) : out_(out) {}
  void bytes(const void* p, std::size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    sum_ = ngram_checksum(sum_, p, n);
  }
  template <typename T>
  void value(const T& v) {
    bytes(&v, sizeof v);
  }
  std::uint64_t checksum() const noexcept { return sum_; }

 private:
  std::ostream& out_;
  std::uint64_t sum_ = 0xCBF29CE484222325ULL;
};

class NgramBinaryReader {
 public:
  NgramBinaryReader(std::istream& in, std::string name) : in_(in), name_(std::move(name)) {}
  void bytes(void* p, std::size_t n, const char* what) {
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    ELM_EXPECT(in_.gcount() == static_cast<std::streamsize>(n), FormatError, "elm::io::load_ngram_binary: ", name_,
               ": file truncated while reading ", what, ", expected ", n, " more bytes");
    sum_ = ngram_checksum(sum_, p, n);
  }
  template <typename T>
  T value(const char* what) {
    T v{};
    bytes(&v, sizeof v, what);
    return v;
  }
  std::uint64_t checksum() const noexcept { return sum_; }
  const std::string& name() const noexcept { return name_; }
  std::istream& stream() noexcept { return in_; }

 private:
  std::istream& in_;
  std::string name_;
  std::uint64_t sum_ = 0xCBF29CE484222325ULL;
};

template <typename Entry>
void check_probing_slots(const std::vector<Entry>& slots, const std::string& name, int n) {
  bool has_empty = false;
  for (const Entry& e : slots)
    if (elm::classic::detail::ngram_entry_key(e) == 0) {
      has_empty = true;
      break;
    }
  ELM_EXPECT(has_empty, FormatError, "elm::io::load_ngram_binary: ", name, ": the ", n,
             "-gram table has no empty slot, expected a probing table with spare slots");
}

}  // namespace detail

/// Writes model to out in the binary format. Throws InvalidArgument for an empty model.
inline void save_ngram_binary(const classic::NgramModel& model, std::ostream& out) {
  using A = detail::NgramModelAccess;
  auto& m = const_cast<classic::NgramModel&>(model);  // read-only use of the accessors
  ELM_EXPECT(model.order() >= 1, InvalidArgument, "elm::io::save_ngram_binary: the model is empty");
  out.write(ngram_binary_magic, sizeof ngram_binary_magic);
  detail::NgramBinaryWriter w(out);
  w.value(std::uint32_t(1));
  w.value(std::uint32_t(0x01020304));
  w.value(std::uint32_t(A::order(m)));
  const auto& vocab = A::vocab(m);
  w.value(static_cast<std::uint32_t>(vocab.size()));
  w.value(A::unk(m));
  w.value(A::bos(m));
  w.value(A::eos(m));
  w.value(static_cast<std::uint64_t>(A::total(m)));
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    const std::string& s = vocab.word(static_cast<classic::WordId>(i));
    w.value(static_cast<std::uint32_t>(s.size()));
    w.bytes(s.data(), s.size());
  }
  const auto& uni = A::unigrams(m);
  w.value(static_cast<std::uint64_t>(uni.size()));
  w.bytes(uni.data(), uni.size() * sizeof uni[0]);
  for (const auto& t : A::middle(m)) {
    w.value(static_cast<std::uint64_t>(t.slots().size()));
    w.bytes(t.slots().data(), t.slots().size() * sizeof(elm::classic::detail::NgramMiddleEntry));
  }
  const auto& top = A::longest(m).slots();
  w.value(static_cast<std::uint64_t>(top.size()));
  w.bytes(top.data(), top.size() * sizeof(elm::classic::detail::NgramLongestEntry));
  const std::uint64_t sum = w.checksum();
  out.write(reinterpret_cast<const char*>(&sum), sizeof sum);
}

/// Writes model to path atomically (temporary file, then rename). Throws IoError on failure.
inline void save_ngram_binary(const classic::NgramModel& model, const std::string& path) {
  write_atomically(path, [&](std::ostream& out) { save_ngram_binary(model, out); });
}

/// Reads a model written by save_ngram_binary. Checks the magic, version, byte order, sizes, that every
/// probing table has a spare slot, and the checksum; throws FormatError naming the file on any mismatch.
inline classic::NgramModel load_ngram_binary(std::istream& in, const std::string& name = "<stream>") {
  using A = detail::NgramModelAccess;
  char magic[sizeof ngram_binary_magic] = {};
  in.read(magic, sizeof magic);
  ELM_EXPECT(in.gcount() == static_cast<std::streamsize>(sizeof magic) &&
                 std::memcmp(magic, ngram_binary_magic, sizeof magic) == 0,
             FormatError, "elm::io::load_ngram_binary: ", name,
             ": bad magic, expected an elm binary n-gram model (ELMNGRM\\x01)");
  detail::NgramBinaryReader r(in, name);
  const auto version = r.value<std::uint32_t>("the version");
  ELM_EXPECT(version == 1, FormatError, "elm::io::load_ngram_binary: ", name, ": version ", version, ", expected 1");
  ELM_EXPECT(r.value<std::uint32_t>("the byte-order mark") == 0x01020304u, FormatError,
             "elm::io::load_ngram_binary: ", name, ": written on a host of the other byte order");
  classic::NgramModel m;
  const auto order = r.value<std::uint32_t>("the order");
  ELM_EXPECT(order >= 1 && order <= std::uint32_t(classic::max_ngram_order), FormatError,
             "elm::io::load_ngram_binary: ", name, ": order ", order, ", expected 1 to ", classic::max_ngram_order);
  A::order(m) = static_cast<int>(order);
  const auto V = r.value<std::uint32_t>("the vocabulary size");
  A::unk(m) = r.value<classic::WordId>("the <unk> id");
  A::bos(m) = r.value<classic::WordId>("the <s> id");
  A::eos(m) = r.value<classic::WordId>("the </s> id");
  ELM_EXPECT(A::unk(m) < V && A::bos(m) < V && A::eos(m) < V, FormatError, "elm::io::load_ngram_binary: ", name,
             ": special word ids out of range, expected < ", V);
  A::total(m) = static_cast<std::size_t>(r.value<std::uint64_t>("the n-gram count"));
  std::string word;
  for (std::uint32_t i = 0; i < V; ++i) {
    const auto len = r.value<std::uint32_t>("a word length");
    ELM_EXPECT(len > 0 && len < (1u << 20), FormatError, "elm::io::load_ngram_binary: ", name, ": word ", i,
               " has length ", len, ", expected 1 to 2^20");
    word.resize(len);
    r.bytes(word.data(), len, "a word");
    const auto id = A::vocab(m).add(word);
    ELM_EXPECT(id == i, FormatError, "elm::io::load_ngram_binary: ", name, ": word '", word, "' appears twice");
  }
  // A count is a claim: its entries must fit in the bytes the stream has left (when it can seek) before storage
  // is allocated for them.
  const auto read_count = [&](const char* what, std::size_t entry_bytes) {
    const auto c = r.value<std::uint64_t>(what);
    ELM_EXPECT(c < (std::uint64_t(1) << 40) / entry_bytes, FormatError, "elm::io::load_ngram_binary: ", name,
               ": ", what, " = ", c, " is implausible");
    const std::int64_t left = detail::remaining_stream_bytes(in);
    ELM_EXPECT(left < 0 || c * entry_bytes <= static_cast<std::uint64_t>(left), FormatError,
               "elm::io::load_ngram_binary: ", name, ": file truncated or corrupt: ", what, " = ", c, " needs ",
               c * entry_bytes, " bytes, but only ", left, " bytes of the file are left");
    return static_cast<std::size_t>(c);
  };
  auto& uni = A::unigrams(m);
  const std::size_t nu = read_count("the unigram count", sizeof uni[0]);
  ELM_EXPECT(nu == V, FormatError, "elm::io::load_ngram_binary: ", name, ": ", nu, " unigrams, expected ", V);
  uni.resize(nu);
  r.bytes(uni.data(), nu * sizeof uni[0], "the unigrams");
  auto& middle = A::middle(m);
  middle.resize(order >= 2 ? order - 2 : 0);
  for (std::size_t k = 0; k < middle.size(); ++k) {
    auto& slots = middle[k].slots();
    slots.resize(read_count("a table size", sizeof(elm::classic::detail::NgramMiddleEntry)));
    r.bytes(slots.data(), slots.size() * sizeof(elm::classic::detail::NgramMiddleEntry), "a middle table");
    detail::check_probing_slots(slots, name, int(k) + 2);
  }
  if (order >= 2) {
    auto& slots = A::longest(m).slots();
    slots.resize(read_count("the top table size", sizeof(elm::classic::detail::NgramLongestEntry)));
    r.bytes(slots.data(), slots.size() * sizeof(elm::classic::detail::NgramLongestEntry), "the top table");
    detail::check_probing_slots(slots, name, int(order));
  } else {
    ELM_EXPECT(r.value<std::uint64_t>("the top table size") == 0, FormatError, "elm::io::load_ngram_binary: ",
               name, ": a unigram model has a top table");
  }
  const std::uint64_t expected = r.checksum();
  std::uint64_t stored = 0;
  in.read(reinterpret_cast<char*>(&stored), sizeof stored);
  ELM_EXPECT(in.gcount() == static_cast<std::streamsize>(sizeof stored), FormatError,
             "elm::io::load_ngram_binary: ", name, ": file truncated before the checksum");
  ELM_EXPECT(stored == expected, FormatError, "elm::io::load_ngram_binary: ", name,
             ": checksum mismatch, the file is corrupt");
  A::finish_load(m);
  return m;
}

/// Loads the binary model at path; IoError when it cannot be opened.
inline classic::NgramModel load_ngram_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.good(), IoError, "elm::io::load_ngram_binary: cannot open ", path, " for reading");
  return load_ngram_binary(in, path);
}

}  // namespace elm::io
