// SPDX-License-Identifier: MIT
// word2vec (Mikolov et al., 2013): skip-gram and CBOW with negative sampling or hierarchical softmax, frequent-word
// subsampling, a shrinking window, a linearly decaying learning rate and lock-free (Hogwild) multithreading.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <istream>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/keyed_vectors.hpp"
#include "elm/text/utf8.hpp"

namespace elm::models {

/// How raw text becomes tokens. whitespace: tokens separated by spaces, tabs, '\r' (the C tool's and gensim's
/// LineSentence's rule; use it on pre-segmented Chinese too). characters: every non-whitespace Unicode code point
/// is a token, for Chinese or Japanese text without spaces (what gensim silently does when given raw strings).
enum class Tokenization { whitespace, characters };

/// A tokenised training corpus: the vocabulary sorted by count (descending; ties keep first occurrence order),
/// and the text as vocabulary ids, one sentence per input line. Words below min_count are removed from the text
/// (as gensim and the C tool do), which brings their neighbours closer.
struct Word2VecCorpus {
  std::vector<std::string> words;
  std::vector<std::int64_t> counts;
  std::vector<std::int32_t> tokens;
  std::vector<std::int64_t> sentence_starts{0};  // sentence s is tokens[sentence_starts[s], sentence_starts[s+1])
  std::int64_t raw_tokens = 0;                    // tokens read, before min_count

  Index vocab_size() const { return to_index(words.size()); }
  Index sentences() const { return to_index(sentence_starts.size()) - 1; }
};

namespace detail {

inline bool is_w2v_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

struct Word2VecCounter {
  std::unordered_map<std::string, std::int32_t> id;  // first-occurrence ids
  std::vector<std::string> words;
  std::vector<std::int64_t> counts;
  std::vector<std::int32_t> tokens;
  std::vector<std::int64_t> sentence_starts{0};

  void add(std::string_view token) {
    const auto [it, inserted] = id.try_emplace(std::string(token), std::int32_t(words.size()));
    if (inserted) {
      ELM_EXPECT(words.size() < std::size_t(std::numeric_limits<std::int32_t>::max()), RangeError,
                 "elm::models::build_word2vec_corpus: more than 2^31 - 1 distinct words");
      words.emplace_back(token);
      counts.push_back(0);
    }
    ++counts[std::size_t(it->second)];
    tokens.push_back(it->second);
  }
  void end_sentence() {
    if (std::int64_t(tokens.size()) > sentence_starts.back()) sentence_starts.push_back(std::int64_t(tokens.size()));
  }

  Word2VecCorpus finish(std::int64_t min_count, std::string_view where) {
    ELM_EXPECT(min_count >= 1, InvalidArgument, where, ": min_count = ", min_count, ", expected >= 1");
    ELM_EXPECT(!tokens.empty(), InvalidArgument, where, ": the corpus is empty, expected at least one token");
    std::vector<std::int32_t> order(words.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int32_t a, std::int32_t b) { return counts[std::size_t(a)] > counts[std::size_t(b)]; });
    Word2VecCorpus c;
    c.raw_tokens = std::int64_t(tokens.size());
    std::vector<std::int32_t> remap(words.size(), -1);
    for (std::int32_t old : order) {
      if (counts[std::size_t(old)] < min_count) break;  // sorted: the rest are rarer
      remap[std::size_t(old)] = std::int32_t(c.words.size());
      c.words.push_back(std::move(words[std::size_t(old)]));
      c.counts.push_back(counts[std::size_t(old)]);
    }
    ELM_EXPECT(!c.words.empty(), InvalidArgument, where, ": the vocabulary is empty after min_count = ", min_count,
               ": the most frequent of ", words.size(), " distinct words occurs ", counts[std::size_t(order[0])],
               " time(s)");
    c.tokens.reserve(tokens.size());
    std::size_t s = 1;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      const std::int32_t id_new = remap[std::size_t(tokens[t])];
      if (id_new >= 0) c.tokens.push_back(id_new);
      if (s < sentence_starts.size() && std::int64_t(t + 1) == sentence_starts[s]) {
        if (std::int64_t(c.tokens.size()) > c.sentence_starts.back())
          c.sentence_starts.push_back(std::int64_t(c.tokens.size()));
        ++s;
      }
    }
    return c;
  }
};

}  // namespace detail

/// Reads a corpus (one sentence per line) from `in` and builds its vocabulary. `name` prefixes error messages.
/// Throws FormatError (name:line) for invalid UTF-8 in characters mode or in a whitespace token,
/// InvalidArgument for an empty corpus, min_count < 1 or a vocabulary empty after min_count.
/// Complexity: O(tokens) with one hash lookup per token.
inline Word2VecCorpus build_word2vec_corpus(std::istream& in, std::int64_t min_count = 5,
                                            Tokenization tokenization = Tokenization::whitespace,
                                            std::string_view name = "<stream>") {
  detail::Word2VecCounter counter;
  std::string line;
  std::int64_t line_no = 0;
  std::string token;
  while (std::getline(in, line)) {
    ++line_no;
    const std::size_t bad = text::find_invalid_utf8(line);
    if (bad != std::string::npos)
      text::detail::throw_invalid_utf8(line, bad, elm::detail::concat(name, ":", line_no));
    if (tokenization == Tokenization::whitespace) {
      std::size_t pos = 0;
      while (pos < line.size()) {
        while (pos < line.size() && detail::is_w2v_space(line[pos])) ++pos;
        const std::size_t start = pos;
        while (pos < line.size() && !detail::is_w2v_space(line[pos])) ++pos;
        if (pos > start) counter.add(std::string_view(line).substr(start, pos - start));
      }
    } else {
      std::size_t pos = 0;
      while (pos < line.size()) {
        const text::DecodedCodePoint d = text::decode_code_point(line, pos);
        const char32_t cp = d.code_point;
        // ASCII and Unicode white space (U+3000 is the CJK ideographic space) separate nothing and are dropped.
        const bool space = cp == ' ' || cp == '\t' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x3000 ||
                           cp == 0xA0 || cp == 0x2028 || cp == 0x2029 || (cp >= 0x2000 && cp <= 0x200A);
        if (!space) counter.add(std::string_view(line).substr(pos, d.length));
        pos += d.length;
      }
    }
    counter.end_sentence();
  }
  ELM_EXPECT(!in.bad(), IoError, name, ": read error");
  return counter.finish(min_count, elm::detail::concat("elm::models::build_word2vec_corpus: ", name));
}

/// Builds a corpus from sentences already split into tokens. Throws as the stream overload (no UTF-8 check:
/// tokens are taken as given, but an empty token is an InvalidArgument).
inline Word2VecCorpus build_word2vec_corpus(const std::vector<std::vector<std::string>>& sentences,
                                            std::int64_t min_count = 5) {
  detail::Word2VecCounter counter;
  for (std::size_t s = 0; s < sentences.size(); ++s) {
    for (const std::string& t : sentences[s]) {
      ELM_EXPECT(!t.empty(), InvalidArgument, "elm::models::build_word2vec_corpus: sentence ", s,
                 " holds an empty token");
      counter.add(t);
    }
    counter.end_sentence();
  }
  return counter.finish(min_count, "elm::models::build_word2vec_corpus");
}

/// The negative-sampling noise distribution P(w) = count(w)^power / sum_v count(v)^power (power 0.75), sampled in
/// O(1) with Walker's alias method: one 64-bit draw picks a column (high 32 bits) and a coin (low 32 bits). The C
/// tool's 1e8-entry table and gensim's cumulative table approximate the same distribution; the alias table holds it
/// to within 2^-32 per column, in 8 bytes per word.
class NoiseDistribution {
 public:
  NoiseDistribution() = default;

  explicit NoiseDistribution(const std::vector<std::int64_t>& counts, double power = 0.75) {
    ELM_EXPECT(!counts.empty() && counts.size() < (std::size_t(1) << 32), InvalidArgument,
               "elm::models::NoiseDistribution: expected 1 to 2^32 - 1 counts, got ", counts.size());
    const std::size_t n = counts.size();
    std::vector<double> weight(n);
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      ELM_EXPECT(counts[i] > 0, InvalidArgument, "elm::models::NoiseDistribution: counts[", i, "] = ", counts[i],
                 ", expected > 0");
      weight[i] = std::pow(double(counts[i]), power);
      total += weight[i];
    }
    // Vose's construction: scaled probabilities n p_i; columns below 1 are topped up by one above 1.
    std::vector<double> scaled(n);
    for (std::size_t i = 0; i < n; ++i) scaled[i] = weight[i] * double(n) / total;
    threshold_.assign(n, 0);
    alias_.assign(n, 0);
    std::vector<std::uint32_t> small, large;
    for (std::size_t i = 0; i < n; ++i) (scaled[i] < 1.0 ? small : large).push_back(std::uint32_t(i));
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back();
      small.pop_back();
      const std::uint32_t l = large.back();
      threshold_[s] = to_threshold(scaled[s]);
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Left-overs hold 1 up to rounding: they keep their own column.
    for (std::uint32_t i : large) threshold_[i] = full, alias_[i] = i;
    for (std::uint32_t i : small) threshold_[i] = full, alias_[i] = i;
  }

  Index size() const { return to_index(threshold_.size()); }

  /// A word id drawn from the distribution.
  std::int32_t sample(Rng& rng) const {
    const std::uint64_t r = rng.next_u64();
    const std::uint64_t column = ((r >> 32) * std::uint64_t(threshold_.size())) >> 32;
    const std::uint32_t coin = std::uint32_t(r & 0xFFFFFFFFu);
    return std::int32_t(coin < threshold_[column] ? column : alias_[column]);
  }

  /// The exact probability that sample() returns i, as the table encodes it (for tests): each column is chosen
  /// with probability 1/n up to the 2^-32 granularity of the column draw.
  double probability(Index i) const {
    check_id(i, size(), "elm::models::NoiseDistribution::probability", "i");
    const double n = double(threshold_.size());
    double p = 0.0;
    for (std::size_t c = 0; c < threshold_.size(); ++c) {
      const double keep = double(threshold_[c]) / 4294967296.0;
      if (c == std::size_t(i)) p += keep;
      if (alias_[c] == std::uint32_t(i)) p += 1.0 - keep;
    }
    return p / n;
  }

 private:
  static constexpr std::uint64_t full = std::uint64_t(1) << 32;
  static std::uint64_t to_threshold(double p) {
    const double t = std::floor(p * 4294967296.0 + 0.5);
    return t >= 4294967296.0 ? full : std::uint64_t(t < 0.0 ? 0.0 : t);
  }
  std::vector<std::uint64_t> threshold_;  // P(keep own column) in units of 2^-32 (2^32 = always)
  std::vector<std::uint32_t> alias_;
};

/// Probability of keeping each occurrence of word w under frequent-word subsampling (Mikolov et al. 2013, as the C
/// tool and gensim compute it): with t = sample * total count, keep(w) = min(1, (sqrt(c_w / t) + 1) t / c_w).
/// sample = 0 keeps everything. Throws InvalidArgument for sample < 0.
inline std::vector<double> subsampling_keep_probabilities(const std::vector<std::int64_t>& counts, double sample) {
  ELM_EXPECT(sample >= 0.0 && std::isfinite(sample), InvalidArgument,
             "elm::models::subsampling_keep_probabilities: sample = ", sample, ", expected a finite value >= 0");
  std::vector<double> keep(counts.size(), 1.0);
  if (sample == 0.0) return keep;
  const double total = double(std::accumulate(counts.begin(), counts.end(), std::int64_t(0)));
  const double t = sample * total;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double c = double(counts[i]);
    keep[i] = std::min(1.0, (std::sqrt(c / t) + 1.0) * t / c);
  }
  return keep;
}

/// The Huffman tree of hierarchical softmax (the C tool's CreateBinaryTree): for word w, points[w] lists the inner
/// nodes from the root down (ids 0 .. V-2, rows of the output matrix) and codes[w] the branch taken at each (0/1).
struct HuffmanTree {
  std::vector<std::vector<std::int32_t>> points;
  std::vector<std::vector<std::uint8_t>> codes;
};

/// Builds the tree from counts sorted in descending order (as Word2VecCorpus keeps them). One word gets an empty code.
inline HuffmanTree build_huffman_tree(const std::vector<std::int64_t>& counts) {
  const std::size_t v = counts.size();
  ELM_EXPECT(v >= 1, InvalidArgument, "elm::models::build_huffman_tree: expected at least one count");
  for (std::size_t i = 1; i < v; ++i)
    ELM_EXPECT(counts[i] <= counts[i - 1], InvalidArgument, "elm::models::build_huffman_tree: counts[", i, "] = ",
               counts[i], " exceeds counts[", i - 1, "] = ", counts[i - 1], ", expected descending counts");
  // 1) merge the two smallest nodes, scanning leaves right to left and new nodes left to right (both ascending).
  std::vector<std::int64_t> count(2 * v, std::numeric_limits<std::int64_t>::max() / 4);
  std::vector<std::uint8_t> binary(2 * v, 0);
  std::vector<std::size_t> parent(2 * v, 0);
  for (std::size_t i = 0; i < v; ++i) count[i] = counts[i];
  std::ptrdiff_t pos1 = std::ptrdiff_t(v) - 1;
  std::size_t pos2 = v;
  for (std::size_t a = 0; a + 1 < v; ++a) {
    std::size_t min[2];
    for (std::size_t& m : min) {
      if (pos1 >= 0 && count[std::size_t(pos1)] < count[pos2]) {
        m = std::size_t(pos1--);
      } else {
        m = pos2++;
      }
    }
    count[v + a] = count[min[0]] + count[min[1]];
    parent[min[0]] = v + a;
    parent[min[1]] = v + a;
    binary[min[1]] = 1;
  }
  // 2) walk each leaf up to the root; inner node v + a is output row a, the root is row v - 2.
  HuffmanTree tree;
  tree.points.resize(v);
  tree.codes.resize(v);
  for (std::size_t w = 0; w < v; ++w) {
    std::vector<std::uint8_t> code;
    std::vector<std::int32_t> point;
    for (std::size_t b = w; b != 2 * v - 2 && v > 1;) {
      code.push_back(binary[b]);
      b = parent[b];
      point.push_back(std::int32_t(b - v));
    }
    std::reverse(code.begin(), code.end());
    std::reverse(point.begin(), point.end());
    tree.codes[w] = std::move(code);
    tree.points[w] = std::move(point);
  }
  return tree;
}

/// Training settings, named after the C tool's options. alpha <= 0 picks the C tool's default (0.025 for
/// skip-gram, 0.05 for CBOW); the rate falls linearly to min_alpha over all epochs (gensim's schedule).
struct Word2VecConfig {
  Index size = 100;               // vector dimension d
  Index window = 5;               // maximum distance; each position uses a uniform radius in [1, window]
  Index negative = 5;             // noise words per positive; 0 disables negative sampling
  bool hs = false;                // hierarchical softmax
  bool cbow = false;              // CBOW (mean of context vectors) instead of skip-gram
  double sample = 1e-3;           // subsampling threshold; 0 disables
  Index iter = 5;                 // epochs
  Index threads = 1;              // Hogwild worker threads; results are reproducible only with 1
  double alpha = 0.0;             // initial learning rate (<= 0: 0.025 skip-gram, 0.05 CBOW)
  double min_alpha = 1e-4;        // final learning rate
  Index max_sentence_length = 10000;  // longer sentences are cut into pieces, as gensim does
};

/// Passed to the progress callback about every 10,000 words: fraction done, current learning rate, words done
/// (over all epochs, as the C tool counts them: subsampled words included) and words per second per thread.
struct Word2VecProgress {
  double fraction = 0.0;
  double alpha = 0.0;
  std::int64_t words = 0;
  double words_per_second_per_thread = 0.0;
};

/// A trained word2vec model: the input vectors syn0 (d, V), the output vectors of negative sampling syn1neg (d, V)
/// and of hierarchical softmax syn1 (d, V-1), each column one word (or inner node).
class Word2Vec {
 public:
  using ProgressCallback = std::function<void(const Word2VecProgress&)>;

  /// Trains on `corpus`. syn0 starts U(-0.5, 0.5)/d from `rng`, the output matrices at zero (as the C tool and
  /// gensim). Each thread gets a contiguous share of the sentences and an Rng split from `rng`, and updates the
  /// shared matrices without locks (Hogwild, as the original): with threads = 1 the result is a pure function of
  /// the corpus, config and rng state; with more threads it depends on scheduling. `progress` is called from one
  /// worker thread at a time. Throws InvalidArgument for an invalid config.
  static Word2Vec train(const Word2VecCorpus& corpus, const Word2VecConfig& config, Rng& rng,
                        const ProgressCallback& progress = {}) {
    Word2Vec model;
    model.train_impl(corpus, config, rng, progress);
    return model;
  }

  const std::vector<std::string>& words() const { return words_; }
  const std::vector<std::int64_t>& counts() const { return counts_; }
  const Matrix<float>& input_vectors() const { return syn0_; }
  const Matrix<float>& output_vectors() const { return syn1neg_; }
  const Matrix<float>& hs_vectors() const { return syn1_; }
  const Word2VecConfig& config() const { return config_; }

  /// The input vectors with their words (what word2vec files hold).
  KeyedVectors keyed_vectors() const { return KeyedVectors(words_, syn0_); }

 private:
  // The sigmoid by table, as the C tool and gensim: 1000 bins over [-6, 6].
  static constexpr int exp_table_size = 1000;
  static constexpr float max_exp = 6.0f;

  struct Shared {
    const Word2VecCorpus* corpus;
    Word2VecConfig config;
    double alpha0;
    std::vector<float> exp_table;
    std::vector<std::uint32_t> keep;  // keep iff draw < keep (2^32 - 1 scale), as gensim's sample_int
    NoiseDistribution noise;
    HuffmanTree tree;
    std::int64_t total_words;          // iter * corpus tokens
    std::atomic<std::int64_t> words_done{0};
    std::atomic<bool> reporting{false};
    std::chrono::steady_clock::time_point start;
    const ProgressCallback* progress;
  };

  void train_impl(const Word2VecCorpus& corpus, const Word2VecConfig& config, Rng& rng,
                  const ProgressCallback& progress) {
    constexpr const char* where = "elm::models::Word2Vec::train";
    check_argument(config.size >= 1, where, "size = ", config.size, ", expected >= 1");
    check_argument(config.window >= 1, where, "window = ", config.window, ", expected >= 1");
    check_argument(config.negative >= 0, where, "negative = ", config.negative, ", expected >= 0");
    check_argument(config.negative > 0 || config.hs, where,
                   "negative = 0 and hs = false, expected negative sampling, hierarchical softmax or both");
    check_argument(config.iter >= 1, where, "iter = ", config.iter, ", expected >= 1");
    check_argument(config.threads >= 1 && config.threads <= 1024, where, "threads = ", config.threads,
                   ", expected 1 to 1024");
    check_argument(std::isfinite(config.alpha) && std::isfinite(config.min_alpha) && config.min_alpha >= 0.0, where,
                   "alpha = ", config.alpha, ", min_alpha = ", config.min_alpha, ", expected finite, min_alpha >= 0");
    check_argument(config.max_sentence_length >= 1, where, "max_sentence_length = ", config.max_sentence_length,
                   ", expected >= 1");
    check_argument(!corpus.words.empty() && corpus.words.size() == corpus.counts.size() && !corpus.tokens.empty(),
                   where, "the corpus is empty (", corpus.words.size(), " words, ", corpus.tokens.size(),
                   " tokens), expected a corpus from build_word2vec_corpus");
    for (std::int32_t t : corpus.tokens)
      check_id(t, corpus.vocab_size(), where, "corpus token id");
    for (std::size_t w = 0; w < corpus.counts.size(); ++w)
      check_argument(corpus.counts[w] >= 1, where, "corpus count of '", corpus.words[w], "' is ", corpus.counts[w],
                     ", expected >= 1");
    const auto& starts = corpus.sentence_starts;
    bool starts_ok = starts.size() >= 2 && starts.front() == 0 &&
                     starts.back() == std::int64_t(corpus.tokens.size());
    for (std::size_t s = 1; starts_ok && s < starts.size(); ++s) starts_ok = starts[s] >= starts[s - 1];
    check_argument(starts_ok, where, "corpus sentence_starts must rise from 0 to the token count ",
                   corpus.tokens.size(), " (", starts.size(), " entries given)");

    config_ = config;
    words_ = corpus.words;
    counts_ = corpus.counts;
    const Index d = config.size;
    const Index v = corpus.vocab_size();

    Shared shared;
    shared.corpus = &corpus;
    shared.config = config;
    shared.alpha0 = config.alpha > 0.0 ? config.alpha : (config.cbow ? 0.05 : 0.025);
    shared.exp_table.resize(exp_table_size + 1);
    for (int i = 0; i <= exp_table_size; ++i) {
      const double x = (double(i) / exp_table_size * 2.0 - 1.0) * double(max_exp);
      shared.exp_table[std::size_t(i)] = float(1.0 / (1.0 + std::exp(-x)));
    }
    const std::vector<double> keep = subsampling_keep_probabilities(corpus.counts, config.sample);
    shared.keep.resize(keep.size());
    for (std::size_t i = 0; i < keep.size(); ++i) shared.keep[i] = std::uint32_t(keep[i] * 4294967295.0);
    if (config.negative > 0) shared.noise = NoiseDistribution(corpus.counts);
    if (config.hs) shared.tree = build_huffman_tree(corpus.counts);
    shared.total_words = config.iter * std::int64_t(corpus.tokens.size());
    shared.start = std::chrono::steady_clock::now();
    shared.progress = progress ? &progress : nullptr;

    // 1) initialisation, as the C tool: syn0 uniform in [-0.5, 0.5)/d, output weights zero.
    syn0_.resize(d, v);
    for (Index j = 0; j < v; ++j)
      for (Index i = 0; i < d; ++i) syn0_(i, j) = (rng.uniform_float() - 0.5f) / float(d);
    syn1neg_ = config.negative > 0 ? Matrix<float>::Zero(d, v) : Matrix<float>();
    syn1_ = config.hs ? Matrix<float>::Zero(d, std::max<Index>(v - 1, 1)) : Matrix<float>();

    // 2) split the tokens into contiguous shares (a sentence that straddles two shares is cut in two).
    const std::int64_t tokens = std::int64_t(corpus.tokens.size());
    const Index threads = Index(std::min<std::int64_t>(config.threads, tokens));
    std::vector<std::int64_t> first_token(to_size(threads) + 1);
    for (Index t = 0; t <= threads; ++t) first_token[to_size(t)] = tokens * t / threads;
    std::vector<Rng> rngs;
    for (Index t = 0; t < threads; ++t) rngs.push_back(rng.split());

    // 3) Hogwild: the workers share syn0/syn1neg/syn1 and write them without locks, as the original does. The
    // library otherwise starts no threads (STYLE section 7); word2vec's lock-free updates are the algorithm.
    if (threads == 1) {
      worker(shared, rngs[0], 0, tokens, threads);
    } else {
      std::vector<std::thread> pool;
      elm::detail::FirstException error(threads);
      auto work = [&](Index t) {
        worker(shared, rngs[to_size(t)], first_token[to_size(t)], first_token[to_size(t) + 1], threads);
      };
      for (Index t = 0; t < threads; ++t) pool.emplace_back([&, t] { error.run(t, work); });
      for (auto& th : pool) th.join();
      error.rethrow_if_any();
    }
  }

  void worker(Shared& shared, Rng& rng, std::int64_t token_begin, std::int64_t token_end, Index threads) {
    const Word2VecCorpus& corpus = *shared.corpus;
    const Word2VecConfig& cfg = shared.config;
    const Index d = cfg.size;
    float* syn0 = syn0_.data();
    float* syn1neg = syn1neg_.data();
    float* syn1 = syn1_.data();
    std::vector<float> neu1(to_size(d)), neu1e(to_size(d));
    std::vector<std::int32_t> kept;
    kept.reserve(to_size(std::min<Index>(cfg.max_sentence_length, 1 << 16)));
    double alpha = shared.alpha0;
    std::int64_t unreported = 0;
    const auto report = [&](bool force) {
      if (unreported == 0 || (!force && unreported < 10000)) return;
      const std::int64_t done = shared.words_done.fetch_add(unreported) + unreported;
      unreported = 0;
      const double fraction = std::min(1.0, double(done) / double(std::max<std::int64_t>(1, shared.total_words)));
      alpha = std::max(cfg.min_alpha, shared.alpha0 - (shared.alpha0 - cfg.min_alpha) * fraction);
      if (shared.progress && !shared.reporting.exchange(true)) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - shared.start).count();
        Word2VecProgress p;
        p.fraction = fraction;
        p.alpha = alpha;
        p.words = done;
        p.words_per_second_per_thread = seconds > 0.0 ? double(done) / seconds / double(threads) : 0.0;
        try {
          (*shared.progress)(p);
        } catch (...) {
          shared.reporting.store(false);
          throw;
        }
        shared.reporting.store(false);
      }
    };

    const auto dot = [d](const float* a, const float* b) {
      return Eigen::Map<const Eigen::VectorXf>(a, d).dot(Eigen::Map<const Eigen::VectorXf>(b, d));
    };
    const auto axpy = [d](float g, const float* x, float* y) {
      for (Index i = 0; i < d; ++i) y[i] += g * x[i];
    };
    const float* table = shared.exp_table.data();
    const auto sigmoid = [table](float f) {
      return table[int((f + max_exp) * (float(exp_table_size) / max_exp / 2.0f))];
    };

    // One output update: neu1e += g out; out += g in, with g = (label - sigma(in.out)) alpha (saturating at |f| > 6
    // for negative sampling, as the C tool; hierarchical softmax skips such nodes, as both references do).
    const auto train_target = [&](const float* in, float* out, float label, bool skip_saturated) {
      const float f = dot(in, out);
      float g;
      if (f > max_exp) {
        if (skip_saturated) return;
        g = (label - 1.0f) * float(alpha);
      } else if (f < -max_exp) {
        if (skip_saturated) return;
        g = label * float(alpha);
      } else {
        g = (label - sigmoid(f)) * float(alpha);
      }
      axpy(g, out, neu1e.data());
      axpy(g, in, out);
    };
    // Updates for predicting `target` from the input vector `in` (syn0 column or the CBOW mean).
    const auto train_word = [&](const float* in, std::int32_t target) {
      std::fill(neu1e.begin(), neu1e.end(), 0.0f);
      if (cfg.hs) {
        const auto& points = shared.tree.points[std::size_t(target)];
        const auto& codes = shared.tree.codes[std::size_t(target)];
        for (std::size_t k = 0; k < points.size(); ++k)
          train_target(in, syn1 + std::int64_t(points[k]) * d, 1.0f - float(codes[k]), true);
      }
      for (Index n = 0; n <= cfg.negative && cfg.negative > 0; ++n) {
        std::int32_t out = target;
        float label = 1.0f;
        if (n > 0) {
          out = shared.noise.sample(rng);
          if (out == target) continue;  // skipped, not redrawn: the C tool's and gensim's rule
          label = 0.0f;
        }
        train_target(in, syn1neg + std::int64_t(out) * d, label, false);
      }
    };

    for (Index epoch = 0; epoch < cfg.iter; ++epoch) {
      // The sentence holding token_begin, found by binary search over the sentence starts.
      const auto first = std::upper_bound(corpus.sentence_starts.begin(), corpus.sentence_starts.end(), token_begin);
      for (std::size_t s = std::size_t(first - corpus.sentence_starts.begin()) - 1;
           s + 1 < corpus.sentence_starts.size() && corpus.sentence_starts[s] < token_end; ++s) {
        const std::int64_t begin = std::max(corpus.sentence_starts[s], token_begin);
        const std::int64_t end = std::min(corpus.sentence_starts[s + 1], token_end);
        for (std::int64_t piece = begin; piece < end; piece += cfg.max_sentence_length) {
          const std::int64_t piece_end = std::min<std::int64_t>(end, piece + cfg.max_sentence_length);
          // 1) subsample: keep each occurrence with probability keep[w] (drawn per epoch).
          kept.clear();
          for (std::int64_t t = piece; t < piece_end; ++t) {
            const std::int32_t w = corpus.tokens[std::size_t(t)];
            if (cfg.sample > 0.0 && shared.keep[std::size_t(w)] < std::uint32_t(rng.next_u64() >> 32)) continue;
            kept.push_back(w);
          }
          unreported += piece_end - piece;
          const Index n = to_index(kept.size());
          for (Index i = 0; i < n; ++i) {
            // 2) dynamic window: radius window - b, b uniform in [0, window).
            const Index b = Index(rng.below(std::uint64_t(cfg.window)));
            const Index lo = std::max<Index>(0, i - cfg.window + b);
            const Index hi = std::min<Index>(n, i + cfg.window + 1 - b);
            const std::int32_t center = kept[to_size(i)];
            if (cfg.cbow) {
              // 3a) CBOW: the mean of the context vectors predicts the center; each context gets the full error.
              std::fill(neu1.begin(), neu1.end(), 0.0f);
              Index count = 0;
              for (Index j = lo; j < hi; ++j) {
                if (j == i) continue;
                axpy(1.0f, syn0 + std::int64_t(kept[to_size(j)]) * d, neu1.data());
                ++count;
              }
              if (count == 0) continue;
              const float inv = 1.0f / float(count);
              for (float& x : neu1) x *= inv;
              train_word(neu1.data(), center);
              for (Index j = lo; j < hi; ++j)
                if (j != i) axpy(1.0f, neu1e.data(), syn0 + std::int64_t(kept[to_size(j)]) * d);
            } else {
              // 3b) skip-gram: each context word's input vector predicts the center (as the C tool and gensim).
              for (Index j = lo; j < hi; ++j) {
                if (j == i) continue;
                float* in = syn0 + std::int64_t(kept[to_size(j)]) * d;
                train_word(in, center);
                axpy(1.0f, neu1e.data(), in);
              }
            }
          }
          report(false);
        }
      }
    }
    report(true);
  }

  Word2VecConfig config_;
  std::vector<std::string> words_;
  std::vector<std::int64_t> counts_;
  Matrix<float> syn0_, syn1neg_, syn1_;
};

}  // namespace elm::models
