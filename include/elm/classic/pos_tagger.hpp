// SPDX-License-Identifier: MIT
// PosTagger: a part-of-speech tagger as a bigram or trigram HMM with a suffix model for unknown words.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::io::detail {
struct PosTaggerAccess;  // the tagger's file format (io/pos_tagger.hpp) reads and restores the counts
}  // namespace elm::io::detail

namespace elm::classic {

/// Brown corpus tag sets: the full tags (472 in the corpus, e.g. "nn-tl", "doz*") or the base tags, the
/// full ones with the title (-tl) and headline (-hl) suffixes and the negation mark (*) removed.
enum class TagSet { full, base };

/// The base tag of a Brown tag: "nn-tl" -> "nn", "np$-tl-hl" -> "np$", "doz*" -> "doz", "ppss+bem" unchanged.
/// The negation tag "*" itself (for "not", "n't") stays "*".
inline std::string base_tag(std::string_view tag) {
  std::string out(tag);
  auto ends_with = [&](const char* suffix) {
    return out.size() > 3 && out.compare(out.size() - 3, 3, suffix) == 0;
  };
  while (ends_with("-tl") || ends_with("-hl")) out.resize(out.size() - 3);
  if (out == "*") return out;
  out.erase(std::remove(out.begin(), out.end(), '*'), out.end());
  return out;
}

/// One sentence: words and their tags, the same length.
struct TaggedSentence {
  std::vector<std::string> words;
  std::vector<std::string> tags;
};

/// Parses Brown corpus text in the NLTK layout: each non-blank line is a sentence of whitespace-separated
/// word/tag tokens (split at the last '/'). Tags are mapped to `tagset`. Throws FormatError naming
/// `source` and the line when a token has no '/' or an empty word or tag.
inline std::vector<TaggedSentence> parse_brown(std::string_view text, TagSet tagset = TagSet::full,
                                               std::string_view source = "brown") {
  std::vector<TaggedSentence> out;
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    TaggedSentence sentence;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      std::size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j == i) break;
      const std::string_view token = line.substr(i, j - i);
      const std::size_t slash = token.rfind('/');
      ELM_EXPECT(slash != std::string_view::npos && slash > 0 && slash + 1 < token.size(), FormatError,
                 "elm::classic::parse_brown: ", source, " line ", line_number, ": token \"", token,
                 "\", expected word/tag");
      sentence.words.emplace_back(token.substr(0, slash));
      const std::string_view tag = token.substr(slash + 1);
      sentence.tags.push_back(tagset == TagSet::base ? base_tag(tag) : std::string(tag));
      i = j;
    }
    if (!sentence.words.empty()) out.push_back(std::move(sentence));
  }
  return out;
}

/// The documented split of the 500 Brown files: in name order (ca01 ... cr09), file i (from 0) is held out
/// for evaluation when i % 10 == 9 (ca10, ca20, ..., 50 files spread over all genres); the rest is training.
inline bool brown_held_out(Index file_index) { return file_index % 10 == 9; }

/// How the tag transition probabilities are smoothed.
enum class TransitionSmoothing {
  interpolation,  ///< lambda_1 P(t) + lambda_2 P(t | t-1) + lambda_3 P(t | t-2, t-1), lambdas by deleted interpolation
  add_k           ///< (c(t-2, t-1, t) + k) / (c(t-2, t-1) + k (K + 1)), or the bigram analogue
};

/// Options of PosTagger::train.
struct PosTaggerOptions {
  int order = 3;  ///< 2: bigram HMM (a tag depends on the previous tag); 3: trigram (on the two previous)
  TransitionSmoothing smoothing = TransitionSmoothing::interpolation;
  double transition_k = 0.1;   ///< the k of add-k smoothing
  Index max_suffix = 10;       ///< longest suffix (in bytes) the unknown-word model looks at
  Index rare_threshold = 10;   ///< words seen at most this often train the unknown-word model
  Index max_unknown_tags = 20; ///< candidate tags kept for an unknown word
};

/// Token accuracy of a tagger on held-out sentences, overall and on words unknown to the tagger.
struct TaggingAccuracy {
  Index tokens = 0, correct = 0, unknown = 0, unknown_correct = 0;
  double overall() const { return tokens > 0 ? double(correct) / double(tokens) : 0.0; }
  double on_unknown() const { return unknown > 0 ? double(unknown_correct) / double(unknown) : 0.0; }
};

/// Runs tagger.tag on each sentence and counts the matches with the reference tags.
template <typename Tagger>
TaggingAccuracy evaluate_tagger(const Tagger& tagger, const std::vector<TaggedSentence>& sentences) {
  TaggingAccuracy acc;
  for (const auto& s : sentences) {
    const auto predicted = tagger.tag(s.words);
    for (std::size_t i = 0; i < s.words.size(); ++i) {
      const bool ok = predicted[i] == s.tags[i];
      const bool unknown = !tagger.knows(s.words[i]);
      acc.tokens += 1;
      acc.correct += ok;
      acc.unknown += unknown;
      acc.unknown_correct += unknown && ok;
    }
  }
  return acc;
}

/// The baseline: each known word gets the tag it had most often in training (ties: the tag seen first),
/// an unknown word the most frequent tag overall.
class MostFrequentTagTagger {
 public:
  static MostFrequentTagTagger train(const std::vector<TaggedSentence>& sentences) {
    MostFrequentTagTagger out;
    std::unordered_map<std::string, std::vector<std::pair<std::string, std::int64_t>>> counts;
    std::unordered_map<std::string, std::int64_t> tag_counts;
    std::vector<std::string> tag_order;
    for (const auto& s : sentences)
      for (std::size_t i = 0; i < s.words.size(); ++i) {
        auto& row = counts[s.words[i]];
        auto it = std::find_if(row.begin(), row.end(), [&](const auto& p) { return p.first == s.tags[i]; });
        if (it == row.end()) row.emplace_back(s.tags[i], 1);
        else ++it->second;
        if (tag_counts[s.tags[i]]++ == 0) tag_order.push_back(s.tags[i]);
      }
    ELM_EXPECT(!tag_order.empty(), InvalidArgument,
               "elm::classic::MostFrequentTagTagger::train: no tagged words, expected at least one");
    for (auto& [word, row] : counts) {
      const auto best = std::max_element(row.begin(), row.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
      out.best_.emplace(word, best->first);
    }
    out.default_tag_ = tag_order[0];
    for (const auto& t : tag_order)
      if (tag_counts[t] > tag_counts[out.default_tag_]) out.default_tag_ = t;
    return out;
  }
  bool knows(const std::string& word) const { return best_.count(word) > 0; }
  std::vector<std::string> tag(const std::vector<std::string>& words) const {
    std::vector<std::string> out;
    out.reserve(words.size());
    for (const auto& w : words) {
      const auto it = best_.find(w);
      out.push_back(it == best_.end() ? default_tag_ : it->second);
    }
    return out;
  }

 private:
  std::unordered_map<std::string, std::string> best_;
  std::string default_tag_;
};

/// Part-of-speech tagger: an HMM whose hidden states are tags (order 2) or pairs of tags (order 3), fitted
/// by supervised counting and decoded with Viterbi. Pieces:
///  - transitions P(t_i | t_i-2, t_i-1) with sentence-boundary tags, smoothed by deleted interpolation
///    (Brants 2000, "TnT") or add-k;
///  - emissions P(w | t) = c(w, t) / c(t) for known words; a word that was never seen is scored with
///    P(t | suffix, shape) / P(t), where P(t | suffix, shape) comes from the rare training words with the
///    same shape (digit, capitalized, lower case, other) and the longest known suffix, each suffix length
///    interpolated with the next shorter one (TnT's successive abstraction);
///  - Viterbi over the tags each word can take (its training tags, or the best unknown-word tags), so a
///    sentence of n words costs O(n c^3) for c candidates per word instead of O(n K^3).
/// Only counts are stored (io/pos_tagger.hpp saves and loads them); all probabilities are derived from them.
class PosTagger {
 public:
  /// Counts tags, tag trigrams and word-tag pairs in `sentences`. Throws InvalidArgument when the options are
  /// out of range or there are no sentences, ShapeError when a sentence's words and tags differ in number.
  static PosTagger train(const std::vector<TaggedSentence>& sentences, const PosTaggerOptions& options = {}) {
    constexpr const char* where = "elm::classic::PosTagger::train";
    check_options(options, where);
    ELM_EXPECT(!sentences.empty(), InvalidArgument, where, ": no sentences, expected at least one");
    PosTagger out;
    out.options_ = options;
    std::vector<std::vector<Index>> tag_sequences;
    for (std::size_t s = 0; s < sentences.size(); ++s) {
      const auto& sentence = sentences[s];
      ELM_EXPECT(sentence.words.size() == sentence.tags.size(), ShapeError, where, ": sentence ", s, " has ",
                 sentence.words.size(), " words and ", sentence.tags.size(), " tags, expected as many");
      std::vector<Index> ids;
      for (std::size_t i = 0; i < sentence.words.size(); ++i) {
        const Index t = out.add_tag(sentence.tags[i]);
        ids.push_back(t);
        auto& row = out.lexicon_[sentence.words[i]];
        auto it = std::find_if(row.begin(), row.end(), [&](const auto& p) { return p.first == t; });
        if (it == row.end()) row.emplace_back(t, 1);
        else ++it->second;
      }
      tag_sequences.push_back(std::move(ids));
    }
    // Tag ids are final only now (BOS = K, EOS = K + 1), so the trigrams are counted in a second pass.
    const Index k = out.n_tags();
    for (const auto& tags : tag_sequences) {
      Index t1 = k, t2 = k;
      for (std::size_t i = 0; i <= tags.size(); ++i) {
        const Index t3 = i < tags.size() ? tags[i] : k + 1;
        ++out.trigram_counts_[out.key(t1, t2, t3)];
        t1 = t2;
        t2 = t3;
      }
    }
    out.build();
    return out;
  }

  Index n_tags() const { return to_index(tags_.size()); }
  const std::vector<std::string>& tags() const { return tags_; }
  const PosTaggerOptions& options() const { return options_; }
  /// Whether `word` was seen in training (exactly this spelling).
  bool knows(const std::string& word) const { return lexicon_.count(word) > 0; }
  /// The interpolation weights (lambda_1, lambda_2, lambda_3) found by deleted interpolation.
  const std::vector<double>& lambdas() const { return lambdas_; }

  /// The most probable tag sequence of a sentence. An empty sentence gives an empty result.
  std::vector<std::string> tag(const std::vector<std::string>& words) const {
    std::vector<std::string> out;
    for (Index t : tag_ids(words)) out.push_back(tags_[static_cast<std::size_t>(t)]);
    return out;
  }

  /// The most probable tag ids of a sentence (Viterbi over tag pairs, see the class comment).
  std::vector<Index> tag_ids(const std::vector<std::string>& words) const {
    const std::size_t n = words.size();
    if (n == 0) return {};
    const Index bos = n_tags();
    const Index eos = n_tags() + 1;
    std::vector<std::vector<std::pair<Index, double>>> cand(n);
    for (std::size_t i = 0; i < n; ++i) candidates(words[i], i == 0, cand[i]);
    const std::vector<std::pair<Index, double>> boundary{{bos, 0.0}};
    auto cands = [&](std::ptrdiff_t i) -> const std::vector<std::pair<Index, double>>& {
      return i < 0 ? boundary : cand[static_cast<std::size_t>(i)];
    };
    // delta[i][a * |C_i| + b]: best log score of tags ending in (a from C_i-1, b from C_i) at word i;
    // back[i][same index]: the index in C_i-2 of the tag before a.
    std::vector<std::vector<double>> delta(n);
    std::vector<std::vector<int>> back(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto ii = static_cast<std::ptrdiff_t>(i);
      const auto& c2 = cands(ii - 2);
      const auto& c1 = cands(ii - 1);
      const auto& c0 = cand[i];
      delta[i].assign(c1.size() * c0.size(), -std::numeric_limits<double>::infinity());
      back[i].assign(c1.size() * c0.size(), 0);
      for (std::size_t a = 0; a < c1.size(); ++a)
        for (std::size_t b = 0; b < c0.size(); ++b) {
          double best = -std::numeric_limits<double>::infinity();
          int arg = 0;
          for (std::size_t w = 0; w < c2.size(); ++w) {
            const double prev = i == 0 ? 0.0 : delta[i - 1][w * c1.size() + a];
            const double score = prev + log_transition(c2[w].first, c1[a].first, c0[b].first);
            if (score > best) best = score, arg = static_cast<int>(w);
          }
          delta[i][a * c0.size() + b] = best + c0[b].second;
          back[i][a * c0.size() + b] = arg;
        }
    }
    // Close with the end-of-sentence transition and trace back.
    const auto& last0 = cand[n - 1];
    const auto& prev_of_last = cands(static_cast<std::ptrdiff_t>(n) - 2);
    double best = -std::numeric_limits<double>::infinity();
    std::size_t best_a = 0, best_b = 0;
    for (std::size_t a = 0; a < prev_of_last.size(); ++a)
      for (std::size_t b = 0; b < last0.size(); ++b) {
        const double score = delta[n - 1][a * last0.size() + b] + log_transition(prev_of_last[a].first, last0[b].first, eos);
        if (score > best) best = score, best_a = a, best_b = b;
      }
    std::vector<Index> out(n);
    std::size_t a = best_a, b = best_b;
    for (std::size_t i = n; i-- > 0;) {
      out[i] = cand[i][b].first;
      const std::size_t w = static_cast<std::size_t>(back[i][a * cand[i].size() + b]);
      b = a;
      a = w;
    }
    return out;
  }

 private:
  friend struct elm::io::detail::PosTaggerAccess;

  struct SuffixEntry {
    std::vector<std::pair<Index, std::int64_t>> counts;
    std::int64_t total = 0;
  };

  static void check_options(const PosTaggerOptions& o, const char* where) {
    ELM_EXPECT(o.order == 2 || o.order == 3, InvalidArgument, where, ": order = ", o.order, ", expected 2 or 3");
    ELM_EXPECT(std::isfinite(o.transition_k) && o.transition_k > 0, InvalidArgument, where, ": transition_k = ",
               o.transition_k, ", expected a finite k > 0");
    ELM_EXPECT(o.max_suffix >= 0 && o.rare_threshold >= 1 && o.max_unknown_tags >= 1, InvalidArgument, where,
               ": expected max_suffix >= 0, rare_threshold >= 1, max_unknown_tags >= 1, got ", o.max_suffix, ", ",
               o.rare_threshold, ", ", o.max_unknown_tags);
  }

  Index add_tag(const std::string& tag) {
    const auto it = tag_ids_.find(tag);
    if (it != tag_ids_.end()) return it->second;
    const Index id = n_tags();
    tag_ids_.emplace(tag, id);
    tags_.push_back(tag);
    return id;
  }

  std::int64_t key(Index t1, Index t2, Index t3) const {
    const std::int64_t s = n_tags() + 2;
    return (t1 * s + t2) * s + t3;
  }

  static char shape_of(const std::string& word) {
    if (std::any_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return 'd';
    const auto first = static_cast<unsigned char>(word.empty() ? ' ' : word[0]);
    if (std::isupper(first)) return 'C';
    if (std::islower(first)) return 'c';
    return 'o';
  }

  // Derives every probability table from the counts.
  void build() {
    const Index k = n_tags();
    const Index s = k + 2;
    const auto ss = static_cast<std::size_t>(s);
    unigram_.assign(ss, 0);
    bigram_.assign(ss * ss, 0);
    context1_.assign(ss, 0);
    context2_.assign(ss * ss, 0);
    total_ = 0;
    for (const auto& [key_value, c] : trigram_counts_) {
      const auto t1 = static_cast<std::size_t>(key_value / (s * s));
      const auto t2 = static_cast<std::size_t>((key_value / s) % s);
      const auto t3 = static_cast<std::size_t>(key_value % s);
      unigram_[t3] += c;
      bigram_[t2 * ss + t3] += c;
      context1_[t2] += c;
      context2_[t1 * ss + t2] += c;
      total_ += c;
    }
    // Deleted interpolation (Brants 2000, figure 1): each trigram votes, with its count, for the estimate
    // that predicts it best once that very occurrence is removed from the counts.
    double l1 = 0, l2 = 0, l3 = 0;
    auto ratio = [](double num, double den) { return den > 0 ? num / den : 0.0; };
    if (options_.order == 3) {
      for (const auto& [key_value, c] : trigram_counts_) {
        const auto t1 = static_cast<std::size_t>(key_value / (s * s));
        const auto t2 = static_cast<std::size_t>((key_value / s) % s);
        const auto t3 = static_cast<std::size_t>(key_value % s);
        const double tri = ratio(double(c - 1), double(context2_[t1 * ss + t2] - 1));
        const double bi = ratio(double(bigram_[t2 * ss + t3] - 1), double(context1_[t2] - 1));
        const double uni = ratio(double(unigram_[t3] - 1), double(total_ - 1));
        if (tri >= bi && tri >= uni) l3 += double(c);
        else if (bi >= uni) l2 += double(c);
        else l1 += double(c);
      }
    } else {
      for (std::size_t t2 = 0; t2 < ss; ++t2)
        for (std::size_t t3 = 0; t3 < ss; ++t3) {
          const std::int64_t c = bigram_[t2 * ss + t3];
          if (c == 0) continue;
          const double bi = ratio(double(c - 1), double(context1_[t2] - 1));
          const double uni = ratio(double(unigram_[t3] - 1), double(total_ - 1));
          if (bi >= uni) l2 += double(c);
          else l1 += double(c);
        }
    }
    const double lsum = l1 + l2 + l3;
    lambdas_ = lsum > 0 ? std::vector<double>{l1 / lsum, l2 / lsum, l3 / lsum} : std::vector<double>{1.0, 0.0, 0.0};

    // Emission totals per tag, the unconditional tag distribution, and the suffix model.
    tag_count_.assign(static_cast<std::size_t>(k), 0);
    for (const auto& [word, row] : lexicon_)
      for (const auto& [t, c] : row) tag_count_[static_cast<std::size_t>(t)] += c;
    std::int64_t tokens = 0;
    for (auto c : tag_count_) tokens += c;
    log_tag_prob_.assign(static_cast<std::size_t>(k), -std::numeric_limits<double>::infinity());
    double mean = 1.0 / double(k), var = 0;
    for (std::size_t t = 0; t < tag_count_.size(); ++t) {
      const double p = double(tag_count_[t]) / double(std::max<std::int64_t>(tokens, 1));
      if (p > 0) log_tag_prob_[t] = std::log(p);
      var += (p - mean) * (p - mean);
    }
    theta_ = k > 1 ? std::sqrt(var / double(k - 1)) : 1.0;
    suffixes_.clear();
    for (const auto& [word, row] : lexicon_) {
      std::int64_t count = 0;
      for (const auto& tc : row) count += tc.second;
      if (count > options_.rare_threshold) continue;
      const char shape = shape_of(word);
      const auto longest = std::min<std::size_t>(word.size(), static_cast<std::size_t>(options_.max_suffix));
      for (std::size_t len = 0; len <= longest; ++len) {
        auto& entry = suffixes_[std::string(1, shape) + word.substr(word.size() - len)];
        for (const auto& [t, c] : row) {
          // the binding is copied into the lambda: clang before 16 cannot capture structured bindings
          auto it = std::find_if(entry.counts.begin(), entry.counts.end(), [tag = t](const auto& p) { return p.first == tag; });
          if (it == entry.counts.end()) entry.counts.emplace_back(t, c);
          else it->second += c;
          entry.total += c;
        }
      }
    }
  }

  double log_transition(Index t1, Index t2, Index t3) const {
    const auto ss = static_cast<std::size_t>(n_tags() + 2);
    const auto u1 = static_cast<std::size_t>(t1), u2 = static_cast<std::size_t>(t2), u3 = static_cast<std::size_t>(t3);
    const double outcomes = double(n_tags() + 1);  // K tags and the end of the sentence
    if (options_.smoothing == TransitionSmoothing::add_k) {
      const double kk = options_.transition_k;
      if (options_.order == 2) return std::log((double(bigram_[u2 * ss + u3]) + kk) / (double(context1_[u2]) + kk * outcomes));
      const auto it = trigram_counts_.find(key(t1, t2, t3));
      const double c = it == trigram_counts_.end() ? 0.0 : double(it->second);
      return std::log((c + kk) / (double(context2_[u1 * ss + u2]) + kk * outcomes));
    }
    const double uni = double(unigram_[u3]) / double(total_);
    const double bi = context1_[u2] > 0 ? double(bigram_[u2 * ss + u3]) / double(context1_[u2]) : 0.0;
    double tri = 0;
    if (options_.order == 3 && context2_[u1 * ss + u2] > 0) {
      const auto it = trigram_counts_.find(key(t1, t2, t3));
      if (it != trigram_counts_.end()) tri = double(it->second) / double(context2_[u1 * ss + u2]);
    }
    const double p = lambdas_[0] * uni + lambdas_[1] * bi + lambdas_[2] * tri;
    // A tag never seen as an outcome gets the smallest normal probability: finite, so Viterbi still picks a path.
    return p > 0 ? std::log(p) : std::log(std::numeric_limits<double>::min());
  }

  // The tags `word` may take, with log P(word | tag) up to a constant shared by all its candidates.
  void candidates(const std::string& word, bool sentence_start, std::vector<std::pair<Index, double>>& out) const {
    out.clear();
    auto known = lexicon_.find(word);
    if (known == lexicon_.end() && sentence_start && !word.empty()) {
      // "The" at the start of a sentence is "the": try the lower-cased spelling.
      std::string lower = word;
      lower[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[0])));
      known = lexicon_.find(lower);
    }
    if (known != lexicon_.end()) {
      for (const auto& [t, c] : known->second)
        out.emplace_back(t, std::log(double(c) / double(tag_count_[static_cast<std::size_t>(t)])));
      return;
    }
    // Unknown word: P(t | shape, suffix) by successive abstraction, then Bayes: P(w | t) ~ P(t | suffix) / P(t).
    const auto k = static_cast<std::size_t>(n_tags());
    std::vector<double> p(k, 0.0);
    const char shape = shape_of(word);
    auto root = suffixes_.find(std::string(1, shape));
    if (root == suffixes_.end()) {
      for (std::size_t t = 0; t < k; ++t) p[t] = std::exp(log_tag_prob_[t]);
    } else {
      for (const auto& [t, c] : root->second.counts) p[static_cast<std::size_t>(t)] = double(c) / double(root->second.total);
      const auto longest = std::min<std::size_t>(word.size(), static_cast<std::size_t>(options_.max_suffix));
      std::vector<double> ml(k);
      for (std::size_t len = 1; len <= longest; ++len) {
        const auto it = suffixes_.find(std::string(1, shape) + word.substr(word.size() - len));
        if (it == suffixes_.end()) break;
        std::fill(ml.begin(), ml.end(), 0.0);
        for (const auto& [t, c] : it->second.counts) ml[static_cast<std::size_t>(t)] = double(c) / double(it->second.total);
        for (std::size_t t = 0; t < k; ++t) p[t] = (ml[t] + theta_ * p[t]) / (1.0 + theta_);
      }
    }
    for (std::size_t t = 0; t < k; ++t)
      if (p[t] > 0 && std::isfinite(log_tag_prob_[t])) out.emplace_back(static_cast<Index>(t), std::log(p[t]) - log_tag_prob_[t]);
    const auto keep = std::min(out.size(), static_cast<std::size_t>(options_.max_unknown_tags));
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                      [&](const auto& x, const auto& y) {
                        return p[static_cast<std::size_t>(x.first)] > p[static_cast<std::size_t>(y.first)];
                      });
    out.resize(keep);
    if (out.empty()) out.emplace_back(0, 0.0);  // no estimate at all (a one-tag model): the only tag
  }

  PosTaggerOptions options_;
  std::vector<std::string> tags_;
  std::unordered_map<std::string, Index> tag_ids_;
  std::unordered_map<std::string, std::vector<std::pair<Index, std::int64_t>>> lexicon_;
  std::unordered_map<std::int64_t, std::int64_t> trigram_counts_;
  // Derived by build().
  std::vector<std::int64_t> unigram_, bigram_, context1_, context2_, tag_count_;
  std::int64_t total_ = 0;
  std::vector<double> lambdas_, log_tag_prob_;
  double theta_ = 1.0;
  std::unordered_map<std::string, SuffixEntry> suffixes_;
};

}  // namespace elm::classic
