// SPDX-License-Identifier: MIT
// The Brown corpus's files read from a folder, and its word graph: frequent words as nodes, weighted by how often
// they occur near each other, labelled by their most frequent part of speech, with suffix and shape features.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "brown_files.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/graph.hpp"

namespace elm::examples {

/// The twelve universal part-of-speech tags of Petrov, Das and McDonald, "A Universal Part-of-Speech Tagset"
/// (LREC 2012), the coarse set NLTK maps the Brown tags to (its tagset="universal").
inline constexpr std::array<const char*, 12> universal_tags = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                                               "ADP",  "NUM",  "CONJ", "PRT", ".",    "X"};

/// The universal tag (an index into universal_tags) of a Brown tag. The tag is first reduced to its base as
/// classic::base_tag does (the title -tl and headline -hl suffixes and the negation mark * removed), then the
/// cited-word suffix -nc is removed, a foreign word (fw-...) is X, and a contraction's compound tag (ppss+bem,
/// "I'm") counts as its first part. The rest follows Petrov et al.'s Brown mapping: nn* np* nr* NOUN; vb* be* do*
/// hv* md VERB; jj* od ADJ; rb* rn ql* wrb ADV; pp* pn* wp* PRON; at ap* abn abx dt* wdt* ex DET; in ADP; cd NUM;
/// cc cs CONJ; to rp PRT; punctuation "."; uh, nil and anything else X.
inline Index universal_tag(std::string_view brown_tag) {
  std::string tag = classic::base_tag(brown_tag);
  if (tag.size() > 3 && tag.compare(tag.size() - 3, 3, "-nc") == 0) tag.resize(tag.size() - 3);
  const auto index_of = [](std::string_view name) {
    return Index(std::find_if(universal_tags.begin(), universal_tags.end(), [&](const char* t) { return name == t; }) -
                 universal_tags.begin());
  };
  if (tag.rfind("fw-", 0) == 0) return index_of("X");
  tag = tag.substr(0, tag.find('+'));
  const auto starts = [&](std::string_view prefix) { return tag.rfind(prefix, 0) == 0; };
  if (tag.empty() || !std::isalpha(static_cast<unsigned char>(tag[0]))) return index_of(".");
  if (starts("nn") || starts("np") || starts("nr")) return index_of("NOUN");
  if (starts("vb") || starts("be") || starts("do") || starts("hv") || tag == "md") return index_of("VERB");
  if (starts("jj") || tag == "od") return index_of("ADJ");
  if (starts("rb") || tag == "rn" || starts("ql") || tag == "wrb") return index_of("ADV");
  if (starts("pp") || starts("pn") || starts("wp")) return index_of("PRON");
  if (tag == "at" || starts("ap") || tag == "abn" || tag == "abx" || starts("dt") || starts("wdt") || tag == "ex")
    return index_of("DET");
  if (tag == "in") return index_of("ADP");
  if (tag == "cd") return index_of("NUM");
  if (tag == "cc" || tag == "cs") return index_of("CONJ");
  if (tag == "to" || tag == "rp") return index_of("PRT");
  return index_of("X");
}

/// How the word graph is built.
struct WordGraphOptions {
  Index min_count = 5;          ///< a word (as written, case kept) occurring at least this often is a node
  Index window = 2;             ///< two words co-occur when at most this many positions apart in a sentence
  Index min_pair_count = 2;     ///< an edge needs at least this many co-occurrences
  Index min_suffix_words = 10;  ///< a suffix is a feature when at least this many nodes end with it
  Index frequent_words = 100;   ///< the identities of this many most frequent words are features too
};

/// Brown's word graph. Nodes: the words of the given files occurring at least min_count times (case kept). Label:
/// each word's most frequent universal tag over its occurrences (ties: the lower tag index). Edges: pairs of nodes
/// co-occurring at least min_pair_count times within `window` positions of each other in a sentence, and more
/// often than chance: pointwise mutual information log(c(u, v) T / (c(u) c(v))) > 0, with c(u) = sum_v c(u, v) and
/// T = sum_u c(u) (frequent words such as "the" co-occur with nearly everything and would otherwise tie the whole
/// graph together); undirected, weighted log(1 + c(u, v)). (Weighting by the PMI itself, which favours rare pairs,
/// gave lower accuracies.) Word order: the distinct pairs of nodes seen side by side, as directed edges. Features (F, N), 0 or 1: the lower-cased word's last 1, 2 and 3 letters when at least
/// min_suffix_words nodes share them; the word's shape (capitalised, all capitals, digit, all digits, hyphen,
/// apostrophe, no letter or digit, length 1, 2, 3, 4-5, 6-8, 9+); and, for the frequent_words most frequent words,
/// the word itself ("word:the"), so that a neighbour such as "the" or "to" is recognisable.
struct WordGraph {
  std::vector<std::string> words;          ///< node i's word
  std::vector<Index> labels;               ///< node i's universal tag
  std::vector<nn::GraphEdge> edges;        ///< source < target, read undirected
  /// Word order: an edge u -> v for every distinct pair of nodes seen side by side as "u v" in a sentence (weight
  /// 1, each pair once however often it occurs), sorted. Read as directed, each word hears from the words seen
  /// just before it; reversed, from those seen just after it.
  std::vector<nn::GraphEdge> next_word;
  Matrix<float> features;                  ///< (F, N)
  std::vector<std::string> feature_names;  ///< F names: "suffix:ing", "shape:capitalised", ...
  std::int64_t tokens = 0;                 ///< tokens read
};

inline WordGraph brown_word_graph(const std::vector<std::pair<std::string, std::string>>& files,
                                  const WordGraphOptions& options = {}) {
  WordGraph g;
  // 1) every sentence's words and universal tags; word counts and tag counts per word
  std::vector<std::vector<std::string>> sentences;
  std::unordered_map<std::string, std::pair<Index, std::array<Index, universal_tags.size()>>> seen;
  for (const auto& [name, text] : files)
    for (classic::TaggedSentence& s : classic::parse_brown(text, classic::TagSet::full, name)) {
      for (std::size_t i = 0; i < s.words.size(); ++i) {
        auto& entry = seen[s.words[i]];
        entry.first += 1;
        entry.second[static_cast<std::size_t>(universal_tag(s.tags[i]))] += 1;
      }
      g.tokens += std::int64_t(s.words.size());
      sentences.push_back(std::move(s.words));
    }
  // 2) the nodes, in decreasing frequency (ties by spelling), and their labels
  std::vector<std::pair<Index, std::string>> frequent;
  for (const auto& [word, entry] : seen)
    if (entry.first >= options.min_count) frequent.emplace_back(-entry.first, word);
  std::sort(frequent.begin(), frequent.end());
  std::unordered_map<std::string, Index> node;
  for (const auto& [minus_count, word] : frequent) {
    node.emplace(word, to_index(g.words.size()));
    g.words.push_back(word);
    const auto& tags = seen[word].second;
    g.labels.push_back(Index(std::max_element(tags.begin(), tags.end()) - tags.begin()));
  }
  const Index n = to_index(g.words.size());
  // 3) co-occurrence counts of node pairs within the window; the pairs above chance become edges
  std::unordered_map<std::uint64_t, Index> pairs;
  std::unordered_set<std::uint64_t> adjacent;  // u * n + v for "u v"
  for (const auto& words : sentences) {
    std::vector<Index> ids(words.size(), -1);
    for (std::size_t i = 0; i < words.size(); ++i) {
      const auto it = node.find(words[i]);
      if (it != node.end()) ids[i] = it->second;
    }
    for (std::size_t i = 0; i + 1 < ids.size(); ++i)
      if (ids[i] >= 0 && ids[i + 1] >= 0) adjacent.insert(std::uint64_t(ids[i]) * std::uint64_t(n) + std::uint64_t(ids[i + 1]));
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (std::size_t j = i + 1; j < ids.size() && j <= i + std::size_t(options.window); ++j)
        if (ids[i] >= 0 && ids[j] >= 0 && ids[i] != ids[j]) {
          const auto [a, b] = std::minmax(ids[i], ids[j]);
          pairs[std::uint64_t(a) * std::uint64_t(n) + std::uint64_t(b)] += 1;
        }
  }
  std::vector<double> marginal(static_cast<std::size_t>(n), 0.0);
  double total = 0.0;
  for (const auto& [key, count] : pairs) {
    marginal[key / std::uint64_t(n)] += double(count);
    marginal[key % std::uint64_t(n)] += double(count);
    total += 2.0 * double(count);
  }
  for (const auto& [key, count] : pairs) {
    if (count < options.min_pair_count) continue;
    const Index a = Index(key / std::uint64_t(n)), b = Index(key % std::uint64_t(n));
    const double pmi = std::log(double(count) * total / (marginal[std::size_t(a)] * marginal[std::size_t(b)]));
    if (pmi > 0.0) g.edges.push_back({a, b, std::log1p(double(count))});
  }
  for (const std::uint64_t key : adjacent)
    g.next_word.push_back({Index(key / std::uint64_t(n)), Index(key % std::uint64_t(n)), 1.0});
  const auto by_ends = [](const nn::GraphEdge& x, const nn::GraphEdge& y) {
    return std::make_pair(x.source, x.target) < std::make_pair(y.source, y.target);
  };
  std::sort(g.edges.begin(), g.edges.end(), by_ends);
  std::sort(g.next_word.begin(), g.next_word.end(), by_ends);
  // 4) features: frequent suffixes, then the shape
  const auto lower = [](std::string w) {
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return w;
  };
  const auto suffixes = [&](const std::string& word) {
    const std::string w = lower(word);
    std::vector<std::string> out;
    for (std::size_t k = 1; k <= 3 && k <= w.size(); ++k) out.push_back("suffix:" + w.substr(w.size() - k));
    return out;
  };
  std::map<std::string, Index> suffix_nodes;
  for (const std::string& w : g.words)
    for (const std::string& s : suffixes(w)) suffix_nodes[s] += 1;
  std::map<std::string, Index> feature;
  for (const auto& [s, count] : suffix_nodes)
    if (count >= options.min_suffix_words) feature.emplace(s, to_index(feature.size()));
  const std::array<const char*, 13> shapes = {
      "capitalised", "all_capitals", "digit",    "all_digits", "hyphen",     "apostrophe",   "no_alphanumeric",
      "length_1",    "length_2",     "length_3", "length_4_5", "length_6_8", "length_9_plus"};
  g.feature_names.resize(feature.size());
  for (const auto& [s, index] : feature) g.feature_names[std::size_t(index)] = s;
  for (const char* s : shapes) g.feature_names.push_back(std::string("shape:") + s);
  const Index shape0 = to_index(feature.size()), word0 = to_index(g.feature_names.size());
  const Index frequent_words = std::min(options.frequent_words, n);
  for (Index i = 0; i < frequent_words; ++i) g.feature_names.push_back("word:" + g.words[std::size_t(i)]);
  g.features = Matrix<float>::Zero(to_index(g.feature_names.size()), n);
  for (Index i = 0; i < n; ++i) {
    const std::string& w = g.words[std::size_t(i)];
    for (const std::string& s : suffixes(w)) {
      const auto it = feature.find(s);
      if (it != feature.end()) g.features(it->second, i) = 1.0f;
    }
    const auto any = [&](auto pred) {
      return std::any_of(w.begin(), w.end(), [&](unsigned char c) { return pred(c); });
    };
    const auto all = [&](auto pred) {
      return std::all_of(w.begin(), w.end(), [&](unsigned char c) { return pred(c); });
    };
    const bool flags[7] = {std::isupper(static_cast<unsigned char>(w[0])) != 0,
                           any([](unsigned char c) { return std::isalpha(c) != 0; }) &&
                               all([](unsigned char c) { return !std::islower(c); }),
                           any([](unsigned char c) { return std::isdigit(c) != 0; }),
                           all([](unsigned char c) { return std::isdigit(c) != 0; }),
                           w.find('-') != std::string::npos,
                           w.find('\'') != std::string::npos,
                           !any([](unsigned char c) { return std::isalnum(c) != 0; })};
    for (Index f = 0; f < 7; ++f)
      if (flags[f]) g.features(shape0 + f, i) = 1.0f;
    const std::size_t len = w.size();
    const Index length_bucket = len == 1 ? 0 : len == 2 ? 1 : len == 3 ? 2 : len <= 5 ? 3 : len <= 8 ? 4 : 5;
    g.features(shape0 + 7 + length_bucket, i) = 1.0f;
    if (i < frequent_words) g.features(word0 + i, i) = 1.0f;  // the nodes are in decreasing frequency
  }
  return g;
}

}  // namespace elm::examples
