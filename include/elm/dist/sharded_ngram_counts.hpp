// SPDX-License-Identifier: MIT
// count_ngrams_sharded: n-gram counts of a text whose lines are shared out among processes, each counting its
// share, the counts partitioned by n-gram hash, exchanged and merged; the same counts as one process.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/core/error.hpp"
#include "elm/dist/communicator.hpp"

namespace elm::dist {

/// A half-open range of lines [begin, end).
struct LineRange {
  std::size_t begin = 0, end = 0;
};

/// The share of rank in lines split into size contiguous ranges in rank order, whose lengths differ by at most one
/// (the lower ranks take the extra lines). Throws InvalidArgument for a rank outside [0, size).
inline LineRange shard_lines(std::size_t lines, int rank, int size) {
  ELM_EXPECT(size >= 1 && rank >= 0 && rank < size, InvalidArgument, "elm::dist::shard_lines: rank ", rank, " of ",
             size, ", expected 0 <= rank < size");
  const auto parts = static_cast<std::size_t>(size), r = static_cast<std::size_t>(rank);
  const std::size_t base = lines / parts, extra = lines % parts;
  const std::size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

namespace detail {

template <typename T>
void append_raw(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}
template <typename T>
T read_raw(const std::string& in, std::size_t& pos) {
  ELM_ASSERT(pos + sizeof(T) <= in.size());
  T value;
  std::memcpy(&value, in.data() + pos, sizeof value);
  pos += sizeof value;
  return value;
}

/// The n-grams of all orders a process holds for the exchange: per order, the distinct n-grams (global word ids),
/// their summed raw counts and their first appearance (rank << 32 | index in that rank's counts: the ranks' lines
/// are consecutive, so this orders n-grams as their first appearance in the whole text).
struct NgramPartition {
  explicit NgramPartition(int order) {
    for (int n = 1; n <= order; ++n) stores.emplace_back(n);
    counts.resize(std::size_t(order));
    first.resize(std::size_t(order));
  }
  // Record format: order n (1 byte), n word ids (uint32), raw count (int64), first appearance (uint64).
  static void append(std::string& out, const classic::WordId* words, int n, std::int64_t count, std::uint64_t first) {
    out.push_back(static_cast<char>(n));
    out.append(reinterpret_cast<const char*>(words), sizeof(classic::WordId) * std::size_t(n));
    append_raw(out, count);
    append_raw(out, first);
  }
  // Calls f(words, n, count, first) for every record of a buffer.
  template <typename F>
  static void for_each(const std::string& in, F&& f) {
    classic::WordId words[classic::max_ngram_order];
    for (std::size_t pos = 0; pos < in.size();) {
      const int n = static_cast<unsigned char>(in[pos++]);
      ELM_ASSERT(n >= 1 && n <= classic::max_ngram_order);
      std::memcpy(words, in.data() + pos, sizeof(classic::WordId) * std::size_t(n));
      pos += sizeof(classic::WordId) * std::size_t(n);
      const auto count = read_raw<std::int64_t>(in, pos);
      const auto first = read_raw<std::uint64_t>(in, pos);
      f(static_cast<const classic::WordId*>(words), n, count, first);
    }
  }
  // Adds every record of a buffer, summing counts and keeping the earliest first appearance.
  void merge(const std::string& in) {
    for_each(in, [&](const classic::WordId* words, int n, std::int64_t count, std::uint64_t at) {
      const auto k = std::size_t(n - 1);
      const auto [idx, inserted] = stores[k].insert(words);
      if (inserted) {
        counts[k].push_back(count);
        first[k].push_back(at);
      } else {
        counts[k][idx] += count;
        first[k][idx] = std::min(first[k][idx], at);
      }
    });
  }
  // Every entry as records.
  std::string records() const {
    std::string out;
    for (std::size_t k = 0; k < stores.size(); ++k)
      for (std::size_t i = 0; i < stores[k].size(); ++i)
        append(out, stores[k].words(i), int(k + 1), counts[k][i], first[k][i]);
    return out;
  }

  std::vector<classic::detail::NgramStore> stores;
  std::vector<std::vector<std::int64_t>> counts;
  std::vector<std::vector<std::uint64_t>> first;
};

}  // namespace detail

/// N-gram counts of a text of which every process of comm holds one share of consecutive lines, in rank order
/// (rank 0 the first lines, shard_lines gives such shares), counted in parallel and merged on root:
///   1) each process counts its share (NgramCounts::add_lines; first_line = number of lines before the share,
///      for the line numbers of error messages); if any process fails, every process throws (run_collectively);
///   2) the vocabulary: each process sends its words to all, and every process numbers the words as one process
///      would (by first appearance: rank 0's in its order, then rank 1's new words, ...);
///   3) the windows counting hashes (the highest order, and below it the n-grams starting with <s>), with their
///      counts and first appearances, partitioned by the hash of the n-gram (ngram_key) and exchanged all-to-all:
///      each process merges one part of the n-grams (sums the counts, keeps the earliest appearance);
///   4) the merged parts go to root, which adds the n-grams in order of first appearance (NgramCounts::
///      add_counted) and derives the lower orders, so the counts, the word ids and the order of the n-grams, hence
///      every table estimated from them, equal those of NgramCounts::add_lines over the whole text.
/// Returns the counts on root and std::nullopt on the other processes. Estimation is not sharded: root estimates
/// from the counts alone (the Kneser-Ney adjusted counts need the left extensions of every n-gram, which step 4
/// puts on one process). Collective: every process must call it with the same order, chars and root.
/// Throws what add_lines throws (on the process whose share holds the bad line; PeerError on the others),
/// InvalidArgument for a bad order or root, CommunicationError when the exchange fails.
/// Memory: every process holds the whole vocabulary; root holds the merged counts and its counting structures.
inline std::optional<classic::NgramCounts> count_ngrams_sharded(Communicator& comm,
                                                                const std::vector<std::string>& lines,
                                                                std::int64_t first_line, int order, bool chars = false,
                                                                int root = 0) {
  using classic::WordId;
  ELM_EXPECT(root >= 0 && root < comm.size(), InvalidArgument, "elm::dist::count_ngrams_sharded: root = ", root,
             ", expected 0 <= root < ", comm.size());
  const int rank = comm.rank(), size = comm.size();
  const auto parts = static_cast<std::size_t>(size);

  // 1) this share's counts
  std::optional<classic::NgramCounts> local;
  run_collectively(comm, [&] {
    local.emplace(order);
    local->skip_line_numbers(first_line);
    local->add_lines(lines, chars);
  });
  const classic::NgramVocabulary& words = local->vocabulary();

  // 2) the global vocabulary, in first-appearance order over the ranks; the specials are ids 0, 1, 2 everywhere
  std::string mine;
  for (WordId id = 3; id < words.size(); ++id) {
    const std::string& w = words.word(id);
    detail::append_raw(mine, static_cast<std::uint32_t>(w.size()));
    mine += w;
  }
  const std::vector<std::string> all_words = comm.all_to_all(std::vector<std::string>(parts, mine));
  std::string().swap(mine);
  classic::NgramVocabulary global = classic::NgramVocabulary::with_specials();
  std::vector<WordId> to_global{0, 1, 2};
  for (int r = 0; r < size; ++r) {
    const std::string& in = all_words[std::size_t(r)];
    for (std::size_t pos = 0; pos < in.size();) {
      const auto length = detail::read_raw<std::uint32_t>(in, pos);
      const WordId id = global.add(std::string_view(in).substr(pos, length));
      pos += length;
      if (r == rank) to_global.push_back(id);
    }
  }

  // 3) the hashed windows, each to the rank that owns its hash (the key's high half: the merging tables index
  //    their slots with the low bits, which a partition by the low bits would make all alike)
  std::vector<std::string> send(parts);
  WordId gram[classic::max_ngram_order];
  local->for_each_counted([&](const WordId* w, int n, std::int64_t count, std::size_t i) {
    for (int k = 0; k < n; ++k) gram[k] = to_global[w[k]];
    const std::uint64_t key = classic::detail::ngram_key(gram, n);
    const auto owner = static_cast<std::size_t>(((key >> 32) * std::uint64_t(size)) >> 32);
    detail::NgramPartition::append(send[owner], gram, n, count, (std::uint64_t(rank) << 32) | i);
  });
  std::int64_t totals[2] = {local->sentences(), local->tokens()};
  local.reset();
  std::vector<std::string> received = comm.all_to_all(send);
  std::vector<std::string>(parts).swap(send);
  detail::NgramPartition merged(order);
  for (std::string& in : received) {
    merged.merge(in);
    std::string().swap(in);
  }
  comm.allreduce_sum(totals, 2);

  // 4) the merged parts to root, which adds them in order of first appearance
  send[std::size_t(root)] = merged.records();
  merged = detail::NgramPartition(order);
  received = comm.all_to_all(send);
  std::vector<std::string>().swap(send);
  if (rank != root) return std::nullopt;
  // The parts are disjoint: root only lists their n-grams per order, then adds them by first appearance.
  std::vector<std::vector<WordId>> grams(std::size_t(order), std::vector<WordId>{});
  std::vector<std::vector<std::int64_t>> counts(std::size_t(order), std::vector<std::int64_t>{});
  std::vector<std::vector<std::pair<std::uint64_t, std::size_t>>> by_first(static_cast<std::size_t>(order));
  for (std::string& in : received) {
    detail::NgramPartition::for_each(in, [&](const WordId* w, int n, std::int64_t count, std::uint64_t first) {
      const auto k = std::size_t(n - 1);
      by_first[k].emplace_back(first, counts[k].size());
      grams[k].insert(grams[k].end(), w, w + n);
      counts[k].push_back(count);
    });
    std::string().swap(in);
  }
  classic::NgramCounts result(order);
  for (WordId id = 3; id < global.size(); ++id) result.add_word(global.word(id));
  result.add_sentences(totals[0], totals[1]);
  for (int n = 1; n <= order; ++n) {
    const auto k = std::size_t(n - 1);
    std::sort(by_first[k].begin(), by_first[k].end());
    for (const auto& [first, i] : by_first[k])
      result.add_counted(grams[k].data() + i * std::size_t(n), n, counts[k][i]);
  }
  return result;
}

}  // namespace elm::dist
