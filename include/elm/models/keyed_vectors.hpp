// SPDX-License-Identifier: MIT
// KeyedVectors: word vectors with their vocabulary, cosine neighbours, similarity, analogies and the standard
// word-similarity and analogy evaluations, with gensim's semantics.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <istream>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/word_vectors.hpp"

namespace elm::models {

/// A word found by a similarity query: the word, its index in the vocabulary and its score (a cosine for
/// 3CosAdd and most_similar, the 3CosMul objective for cosmul).
struct Neighbor {
  std::string word;
  Index index = 0;
  float similarity = 0.0f;
};

/// How an analogy a : b :: c : ? is solved (Levy and Goldberg, 2014). add: argmax cos(x, b - a + c) over unit
/// vectors (3CosAdd, Mikolov et al. 2013; gensim's most_similar). mul: argmax cos'(x,b) cos'(x,c) / (cos'(x,a) +
/// 1e-6) with cos' = (1 + cos) / 2 (3CosMul; gensim's most_similar_cosmul).
enum class AnalogyMethod { add, mul };

/// Analogy accuracy per section of a questions file (": section" lines, then "a b c d" lines).
struct AnalogySection {
  std::string name;
  Index correct = 0;
  Index incorrect = 0;
};

/// Result of KeyedVectors::evaluate_analogies. accuracy() is over covered questions (all four words in the
/// restricted vocabulary), gensim's "Total accuracy"; skipped counts the others.
struct AnalogyEvaluation {
  std::vector<AnalogySection> sections;
  Index correct = 0;
  Index incorrect = 0;
  Index skipped = 0;
  double accuracy() const { return correct + incorrect > 0 ? double(correct) / double(correct + incorrect) : 0.0; }
};

/// Result of KeyedVectors::evaluate_word_pairs: correlations between the human scores and the cosines over the
/// covered pairs, and how many pairs were skipped for an out-of-vocabulary word.
struct WordPairEvaluation {
  double pearson = 0.0;
  double spearman = 0.0;
  Index pairs = 0;
  Index skipped = 0;
  double oov_ratio() const { return pairs + skipped > 0 ? 100.0 * double(skipped) / double(pairs + skipped) : 0.0; }
};

namespace detail {

/// ASCII upper case, byte by byte: the evaluation files are ASCII, and case folding beyond ASCII would need
/// Unicode tables (gensim's str.upper() does more; the difference only matters for non-ASCII questions).
inline std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

/// Splits on runs of spaces, tabs, '\r' and '\n'.
inline std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (pos < line.size()) {
    while (pos < line.size() && space(line[pos])) ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && !space(line[pos])) ++pos;
    if (pos > start) out.push_back(line.substr(start, pos - start));
  }
  return out;
}

/// Ranks with ties given their average rank (1-based), as scipy.stats.rankdata(method="average").
inline std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  std::size_t i = 0;
  while (i < order.size()) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double r = 0.5 * double(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

}  // namespace detail

/// Pearson correlation of x and y (equal sizes >= 2); NaN when either is constant, as scipy returns.
inline double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  ELM_EXPECT(x.size() == y.size() && x.size() >= 2, InvalidArgument,
             "elm::models::pearson_correlation: expected two series of the same size >= 2, got ", x.size(), " and ",
             y.size());
  const double n = double(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

/// Spearman rank correlation: the Pearson correlation of the average ranks (scipy.stats.spearmanr).
inline double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  ELM_EXPECT(x.size() == y.size() && x.size() >= 2, InvalidArgument,
             "elm::models::spearman_correlation: expected two series of the same size >= 2, got ", x.size(), " and ",
             y.size());
  return pearson_correlation(detail::average_ranks(x), detail::average_ranks(y));
}

/// Word vectors with their vocabulary (gensim's KeyedVectors). Word j's vector is column j of vectors(), (d, V).
/// The unit-length vectors are computed once at construction (a zero vector stays zero, so its cosine with
/// anything is 0), so every const method may be called from several threads at once.
/// Unknown words: find() returns -1; every other query throws InvalidArgument naming the word.
class KeyedVectors {
 public:
  KeyedVectors() = default;

  /// words: V unique words; vectors: (d, V). Throws ShapeError / InvalidArgument on a mismatch or duplicate.
  KeyedVectors(std::vector<std::string> words, Matrix<float> vectors)
      : words_(std::move(words)), vectors_(std::move(vectors)) {
    ELM_EXPECT(vectors_.cols() == to_index(words_.size()), ShapeError, "elm::models::KeyedVectors: vectors has ",
               vectors_.cols(), " columns, expected one per word = ", words_.size());
    index_.reserve(words_.size());
    for (std::size_t j = 0; j < words_.size(); ++j) {
      const auto [it, inserted] = index_.emplace(words_[j], Index(j));
      ELM_EXPECT(inserted, InvalidArgument, "elm::models::KeyedVectors: duplicate word '", words_[j], "' at ", j,
                 ", first at ", it->second);
    }
    normalized_ = vectors_;
    for (Index j = 0; j < normalized_.cols(); ++j) {
      const float norm = normalized_.col(j).norm();
      if (norm > 0.0f) normalized_.col(j) /= norm;
    }
  }

  /// From the words and vectors of a word2vec file: KeyedVectors(io::read_word_vectors(path, format)) loads one
  /// (io/word_vectors.hpp reads and writes the formats; io::write_word_vectors(path, {words(), vectors()},
  /// format) saves).
  explicit KeyedVectors(io::WordVectors wv) : KeyedVectors(std::move(wv.words), std::move(wv.vectors)) {}

  Index size() const { return vectors_.cols(); }
  Index dim() const { return vectors_.rows(); }
  const std::vector<std::string>& words() const { return words_; }
  /// (d, V), as given.
  const Matrix<float>& vectors() const { return vectors_; }
  /// (d, V), each column scaled to unit length (zero columns stay zero).
  const Matrix<float>& normalized() const { return normalized_; }

  /// Index of `word`, or -1 when it is not in the vocabulary.
  Index find(std::string_view word) const {
    const auto it = index_.find(std::string(word));
    return it == index_.end() ? Index(-1) : it->second;
  }
  bool contains(std::string_view word) const { return find(word) >= 0; }

  /// Index of `word`; throws InvalidArgument when it is not in the vocabulary.
  Index index(std::string_view word) const {
    const Index i = find(word);
    ELM_EXPECT(i >= 0, InvalidArgument, "elm::models::KeyedVectors: word '", word,
               "' is not in the vocabulary (V = ", size(), ")");
    return i;
  }

  /// The vector of `word` (a copy), (d). Throws InvalidArgument for an unknown word.
  Vector<float> vector(std::string_view word) const { return vectors_.col(index(word)); }

  /// cos(a, b) = a.b / (|a| |b|); 0 when either vector is zero. Throws InvalidArgument for an unknown word.
  float similarity(std::string_view a, std::string_view b) const {
    return normalized_.col(index(a)).dot(normalized_.col(index(b)));
  }

  /// The topn words closest by cosine to the mean of the unit vectors of `positive` minus those of `negative`
  /// (gensim's most_similar), among the first restrict_vocab words (0: all), excluding the query words, best
  /// first (ties: lower index first). Throws InvalidArgument for an unknown word or an empty query.
  std::vector<Neighbor> most_similar(const std::vector<std::string>& positive,
                                     const std::vector<std::string>& negative = {}, Index topn = 10,
                                     Index restrict_vocab = 0) const {
    std::vector<Index> exclude;
    const Vector<float> query = mean_direction(positive, negative, "most_similar", exclude);
    const Index limit = restricted(restrict_vocab, "most_similar");
    const Vector<float> scores = (normalized_.leftCols(limit).transpose() * query).eval();
    return best(scores, exclude, topn);
  }

  /// most_similar for a vector query (d): nothing is excluded.
  std::vector<Neighbor> most_similar_to_vector(const Eigen::Ref<const Vector<float>>& v, Index topn = 10,
                                               Index restrict_vocab = 0) const {
    ELM_EXPECT(v.size() == dim(), ShapeError, "elm::models::KeyedVectors::most_similar_to_vector: v has ", v.size(),
               " rows, expected d = ", dim());
    const float norm = v.norm();
    const Vector<float> unit = norm > 0.0f ? Vector<float>(v / norm) : Vector<float>(v);
    const Index limit = restricted(restrict_vocab, "most_similar_to_vector");
    const Vector<float> scores = (normalized_.leftCols(limit).transpose() * unit).eval();
    return best(scores, {}, topn);
  }

  /// 3CosMul (gensim's most_similar_cosmul): score(x) = prod_p (1 + cos(x,p))/2 / (prod_n (1 + cos(x,n))/2 + 1e-6).
  std::vector<Neighbor> most_similar_cosmul(const std::vector<std::string>& positive,
                                            const std::vector<std::string>& negative = {}, Index topn = 10,
                                            Index restrict_vocab = 0) const {
    ELM_EXPECT(!positive.empty() || !negative.empty(), InvalidArgument,
               "elm::models::KeyedVectors::most_similar_cosmul: expected at least one word, got none");
    const Index limit = restricted(restrict_vocab, "most_similar_cosmul");
    std::vector<Index> exclude;
    Vector<float> pos = Vector<float>::Ones(limit);
    Vector<float> neg = Vector<float>::Ones(limit);
    for (const auto* list : {&positive, &negative}) {
      for (const std::string& w : *list) {
        const Index i = index(w);
        exclude.push_back(i);
        const Vector<float> shifted =
            ((normalized_.leftCols(limit).transpose() * normalized_.col(i)).array() + 1.0f).matrix() / 2.0f;
        (list == &positive ? pos : neg).array() *= shifted.array();
      }
    }
    const Vector<float> scores = negative.empty() ? pos : Vector<float>(pos.array() / (neg.array() + 1e-6f));
    return best(scores, exclude, topn);
  }

  /// a : b :: c : ?  (positive {b, c}, negative {a}) with the chosen method.
  std::vector<Neighbor> analogy(const std::string& a, const std::string& b, const std::string& c, Index topn = 1,
                                AnalogyMethod method = AnalogyMethod::add, Index restrict_vocab = 0) const {
    return method == AnalogyMethod::add ? most_similar({b, c}, {a}, topn, restrict_vocab)
                                        : most_similar_cosmul({b, c}, {a}, topn, restrict_vocab);
  }

  /// Analogy accuracy on a questions file (questions-words.txt: ": section" lines, then "a b c d" lines), as
  /// gensim's evaluate_word_analogies: only the first restrict_vocab words count (a question with a word outside
  /// them is skipped); with case_insensitive (ASCII) each upper-cased word maps to its most frequent spelling; the
  /// prediction is the best of the top 5 answers that is not a, b or c. Malformed lines are skipped, as gensim
  /// does. Throws FormatError (name:line) for a question before any section.
  AnalogyEvaluation evaluate_analogies(std::istream& in, std::string_view name = "<stream>",
                                       Index restrict_vocab = 300000, bool case_insensitive = true,
                                       AnalogyMethod method = AnalogyMethod::add) const {
    const Index limit = restricted(restrict_vocab, "evaluate_analogies");
    const auto ok_vocab = restricted_vocabulary(limit, case_insensitive);
    AnalogyEvaluation result;
    std::string line;
    Index line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.rfind(": ", 0) == 0) {
        std::string section = line.substr(2);
        while (!section.empty() && (section.back() == '\r' || section.back() == ' ')) section.pop_back();
        result.sections.push_back({section, 0, 0});
        continue;
      }
      const auto parts = detail::split_whitespace(line);
      if (parts.empty()) continue;
      ELM_EXPECT(!result.sections.empty(), FormatError, name, ":", line_no,
                 ": expected a section header \": name\" before the first question");
      if (parts.size() != 4) continue;
      Index ids[4];
      std::string keys[4];
      bool covered = true;
      for (int k = 0; k < 4; ++k) {
        keys[k] = case_insensitive ? detail::ascii_upper(parts[std::size_t(k)]) : std::string(parts[std::size_t(k)]);
        const auto it = ok_vocab.find(keys[k]);
        covered = covered && it != ok_vocab.end();
        ids[k] = covered ? it->second : -1;
      }
      if (!covered) {
        ++result.skipped;
        continue;
      }
      const std::vector<Neighbor> sims =
          analogy(words_[to_size(ids[0])], words_[to_size(ids[1])], words_[to_size(ids[2])], 5, method, limit);
      std::string predicted;
      for (const Neighbor& n : sims) {
        predicted = case_insensitive ? detail::ascii_upper(n.word) : n.word;
        if (ok_vocab.count(predicted) && predicted != keys[0] && predicted != keys[1] && predicted != keys[2]) break;
      }
      AnalogySection& s = result.sections.back();
      if (predicted == keys[3]) {
        ++s.correct;
        ++result.correct;
      } else {
        ++s.incorrect;
        ++result.incorrect;
      }
    }
    ELM_EXPECT(!in.bad(), IoError, name, ": read error");
    return result;
  }

  /// Correlation with human similarity judgements on a file of "word1<TAB>word2<TAB>score" lines ('#' starts a
  /// comment line), as gensim's evaluate_word_pairs: cosine of the two words for every pair whose words are both
  /// among the first restrict_vocab (case-insensitive: ASCII upper case, most frequent spelling); other pairs are
  /// skipped and counted. Malformed lines are skipped, as gensim does. Throws InvalidArgument when fewer than two
  /// pairs are covered.
  WordPairEvaluation evaluate_word_pairs(std::istream& in, std::string_view name = "<stream>",
                                         Index restrict_vocab = 300000, bool case_insensitive = true) const {
    const Index limit = restricted(restrict_vocab, "evaluate_word_pairs");
    const auto ok_vocab = restricted_vocabulary(limit, case_insensitive);
    std::vector<double> gold, model;
    WordPairEvaluation result;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string_view> parts;
      std::size_t start = 0;
      for (;;) {
        const std::size_t tab = line.find('\t', start);
        parts.push_back(std::string_view(line).substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
      }
      if (parts.size() != 3) continue;
      std::string_view score_text = parts[2];
      while (!score_text.empty() && (score_text.back() == '\r' || score_text.back() == ' ' || score_text.back() == '\n'))
        score_text.remove_suffix(1);
      while (!score_text.empty() && score_text.front() == ' ') score_text.remove_prefix(1);
      double score = 0.0;
      const auto parsed = std::from_chars(score_text.data(), score_text.data() + score_text.size(), score);
      if (parsed.ec != std::errc() || parsed.ptr != score_text.data() + score_text.size()) continue;
      const std::string a = case_insensitive ? detail::ascii_upper(parts[0]) : std::string(parts[0]);
      const std::string b = case_insensitive ? detail::ascii_upper(parts[1]) : std::string(parts[1]);
      const auto ia = ok_vocab.find(a);
      const auto ib = ok_vocab.find(b);
      if (ia == ok_vocab.end() || ib == ok_vocab.end()) {
        ++result.skipped;
        continue;
      }
      gold.push_back(score);
      model.push_back(double(normalized_.col(ia->second).dot(normalized_.col(ib->second))));
    }
    ELM_EXPECT(!in.bad(), IoError, name, ": read error");
    ELM_EXPECT(gold.size() >= 2, InvalidArgument, "elm::models::KeyedVectors::evaluate_word_pairs: ", name, ": only ",
               gold.size(), " pair(s) covered by the vocabulary, expected at least 2 (", result.skipped, " skipped)");
    result.pairs = to_index(gold.size());
    result.pearson = pearson_correlation(gold, model);
    result.spearman = spearman_correlation(gold, model);
    return result;
  }

 private:
  Index restricted(Index restrict_vocab, std::string_view where) const {
    ELM_EXPECT(restrict_vocab >= 0, InvalidArgument, "elm::models::KeyedVectors::", where,
               ": restrict_vocab = ", restrict_vocab, ", expected >= 0 (0: the whole vocabulary)");
    return restrict_vocab == 0 ? size() : std::min(restrict_vocab, size());
  }

  // Upper-cased (or exact) key -> index among the first `limit` words; the most frequent (lowest index) wins.
  std::unordered_map<std::string, Index> restricted_vocabulary(Index limit, bool case_insensitive) const {
    std::unordered_map<std::string, Index> ok;
    ok.reserve(to_size(limit));
    for (Index j = limit - 1; j >= 0; --j)
      ok[case_insensitive ? detail::ascii_upper(words_[to_size(j)]) : words_[to_size(j)]] = j;
    return ok;
  }

  Vector<float> mean_direction(const std::vector<std::string>& positive, const std::vector<std::string>& negative,
                               std::string_view where, std::vector<Index>& exclude) const {
    ELM_EXPECT(!positive.empty() || !negative.empty(), InvalidArgument, "elm::models::KeyedVectors::", where,
               ": expected at least one word, got none");
    Vector<float> sum = Vector<float>::Zero(dim());
    for (const std::string& w : positive) {
      const Index i = index(w);
      exclude.push_back(i);
      sum += normalized_.col(i);
    }
    for (const std::string& w : negative) {
      const Index i = index(w);
      exclude.push_back(i);
      sum -= normalized_.col(i);
    }
    // gensim takes the mean then normalises: the mean's scale cancels, the direction is the sum's.
    const float norm = sum.norm();
    if (norm > 0.0f) sum /= norm;
    return sum;
  }

  std::vector<Neighbor> best(const Vector<float>& scores, const std::vector<Index>& exclude, Index topn) const {
    ELM_EXPECT(topn >= 0, InvalidArgument, "elm::models::KeyedVectors: topn = ", topn, ", expected >= 0");
    std::vector<Index> candidates;
    candidates.reserve(to_size(scores.size()));
    for (Index i = 0; i < scores.size(); ++i)
      if (std::find(exclude.begin(), exclude.end(), i) == exclude.end()) candidates.push_back(i);
    const std::size_t k = std::min(to_size(topn), candidates.size());
    const auto better = [&](Index a, Index b) { return scores(a) > scores(b) || (scores(a) == scores(b) && a < b); };
    std::partial_sort(candidates.begin(), candidates.begin() + std::ptrdiff_t(k), candidates.end(), better);
    std::vector<Neighbor> out;
    out.reserve(k);
    for (std::size_t r = 0; r < k; ++r) out.push_back({words_[to_size(candidates[r])], candidates[r], scores(candidates[r])});
    return out;
  }

  std::vector<std::string> words_;
  Matrix<float> vectors_;
  Matrix<float> normalized_;
  std::unordered_map<std::string, Index> index_;
};

}  // namespace elm::models
