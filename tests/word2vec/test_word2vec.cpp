// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "elm/models/word2vec.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using elm::models::Word2Vec;
using elm::models::Word2VecConfig;
using elm::models::Word2VecCorpus;

namespace {

Word2VecCorpus corpus_of(const std::string& text, std::int64_t min_count = 1,
                         elm::models::Tokenization tok = elm::models::Tokenization::whitespace) {
  std::istringstream in(text);
  return elm::models::build_word2vec_corpus(in, min_count, tok, "c.txt");
}

// Two families of sentences: {cat, dog} fill the slot between the contexts a1 a2 _ a3 a4, {car, bus} the slot of
// b1 b2 _ b3 b4, in equal numbers. By construction cat and dog have identical context distributions, as do car and
// bus, and the families share no context: the nearest neighbour of cat must be dog, that of car must be bus.
std::string two_family_corpus(elm::Rng& rng, int sentences) {
  const char* a_fill[] = {"cat", "dog"};
  const char* b_fill[] = {"car", "bus"};
  std::string text;
  for (int s = 0; s < sentences; ++s) {
    const bool a = rng.below(2) == 0;
    const char* fill = a ? a_fill[rng.below(2)] : b_fill[rng.below(2)];
    text += a ? "a1 a2 " : "b1 b2 ";
    text += fill;
    text += a ? " a3 a4\n" : " b3 b4\n";
  }
  return text;
}

}  // namespace

TEST_CASE("corpus: vocabulary sorted by count, min_count drops rare words from the text", "[word2vec]") {
  const Word2VecCorpus c = corpus_of("b a b c\n\n a b d d d\n", 2);
  // counts: b 3, a 2, c 1, d 3; ties keep first occurrence (b before d); c is dropped.
  REQUIRE(c.words == std::vector<std::string>{"b", "d", "a"});
  REQUIRE(c.counts == std::vector<std::int64_t>{3, 3, 2});
  REQUIRE(c.tokens == std::vector<std::int32_t>{0, 2, 0, 2, 0, 1, 1, 1});
  REQUIRE(c.sentence_starts == std::vector<std::int64_t>{0, 3, 8});  // the blank line makes no sentence
  REQUIRE(c.raw_tokens == 9);
}

TEST_CASE("corpus: character mode makes each non-space code point a token", "[word2vec]") {
  const Word2VecCorpus c = corpus_of("我爱北京\n北京　天安门\n", 1, elm::models::Tokenization::characters);
  // 北 and 京 occur twice; the ideographic space U+3000 is dropped.
  REQUIRE(c.words.size() == 7);
  REQUIRE(c.words[0] == "北");
  REQUIRE(c.words[1] == "京");
  REQUIRE(c.counts[0] == 2);
  REQUIRE(c.tokens.size() == 9);
  REQUIRE(c.sentences() == 2);
}

TEST_CASE("corpus: bad input throws with the file and line", "[word2vec][bad-input]") {
  REQUIRE_THROWS_MATCHES(corpus_of(""), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::models::build_word2vec_corpus: c.txt: the corpus is empty, "
                                                  "expected at least one token"));
  REQUIRE_THROWS_AS(corpus_of(" \n\t\n"), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(corpus_of("a b c\n", 2), Contains("the vocabulary is empty after min_count = 2: the most "
                                                        "frequent of 3 distinct words occurs 1 time(s)"));
  REQUIRE_THROWS_WITH(corpus_of("ok\nbad \xc3\x28 word\n"), Contains("c.txt:2: invalid UTF-8 at byte offset 4"));
  REQUIRE_THROWS_WITH(corpus_of("a\n", 0), Contains("min_count = 0, expected >= 1"));
  REQUIRE_THROWS_AS(elm::models::build_word2vec_corpus(std::vector<std::vector<std::string>>{{"a", ""}}, 1),
                    elm::InvalidArgument);
}

TEST_CASE("noise distribution: count^0.75 normalised, encoded exactly and sampled accordingly", "[word2vec]") {
  // counts 16 and 1: 16^0.75 = 8 and 1^0.75 = 1, so P = 8/9 and 1/9. counts 81: 81^0.75 = 27, so with {81, 16, 1}
  // P = 27/36, 8/36, 1/36.
  const elm::models::NoiseDistribution two({16, 1});
  CHECK_THAT(two.probability(0), WithinAbs(8.0 / 9.0, 1e-9));  // the alias table stores 2^-32 steps
  CHECK_THAT(two.probability(1), WithinAbs(1.0 / 9.0, 1e-9));
  const elm::models::NoiseDistribution three({81, 16, 1});
  const double expected[3] = {27.0 / 36.0, 8.0 / 36.0, 1.0 / 36.0};
  elm::Rng rng(7);
  std::vector<int> hits(3, 0);
  const int draws = 200000;
  for (int k = 0; k < draws; ++k) ++hits[std::size_t(three.sample(rng))];
  for (int i = 0; i < 3; ++i) {
    CHECK_THAT(three.probability(i), WithinAbs(expected[i], 1e-9));
    // Binomial standard deviation sqrt(p (1 - p) / n) <= 0.0011 here; allow 5 of them.
    const double sd = std::sqrt(expected[i] * (1.0 - expected[i]) / draws);
    CHECK_THAT(double(hits[std::size_t(i)]) / draws, WithinAbs(expected[i], 5.0 * sd));
  }
  // A Zipf vocabulary: the table's probabilities match the formula for every word.
  std::vector<std::int64_t> zipf;
  for (int r = 1; r <= 500; ++r) zipf.push_back(100000 / r);
  double z = 0.0;
  for (auto c : zipf) z += std::pow(double(c), 0.75);
  const elm::models::NoiseDistribution table(zipf);
  double max_err = 0.0;
  for (int i = 0; i < 500; ++i)
    max_err = std::max(max_err, std::abs(table.probability(i) - std::pow(double(zipf[std::size_t(i)]), 0.75) / z));
  INFO("max |P_table - P| = " << max_err);
  CHECK(max_err < 1e-9);
  REQUIRE_THROWS_AS(elm::models::NoiseDistribution({3, 0}), elm::InvalidArgument);
}

TEST_CASE("subsampling keeps a word with probability (sqrt(c/t) + 1) t / c, t = sample * total", "[word2vec]") {
  // counts 900, 90, 10 (total 1000), sample 0.01: t = 10.
  // keep(900) = (sqrt(90) + 1) * 10 / 900 = (9.486832980505138 + 1) / 90 = 0.11652036645005709
  // keep(90)  = (3 + 1) * 10 / 90 = 0.4444444444444444;  keep(10) = (1 + 1) * 10 / 10 = 2, capped at 1.
  const auto keep = elm::models::subsampling_keep_probabilities({900, 90, 10}, 0.01);
  CHECK_THAT(keep[0], WithinRel(0.11652036645005709, 1e-12));
  CHECK_THAT(keep[1], WithinRel(0.4444444444444444, 1e-12));
  CHECK(keep[2] == 1.0);
  const auto all = elm::models::subsampling_keep_probabilities({900, 90, 10}, 0.0);
  CHECK(all == std::vector<double>{1.0, 1.0, 1.0});
  REQUIRE_THROWS_AS(elm::models::subsampling_keep_probabilities({1}, -1e-3), elm::InvalidArgument);
}

TEST_CASE("Huffman tree of hierarchical softmax, as the C tool builds it", "[word2vec]") {
  // counts 5 3 2 1: merge 1+2 -> node 0 (3), then node0 (3) + word1 (3) -> node 1 (6), then word0 (5) + node1 -> root
  // node 2. The second-smallest of each merge takes code 1. Paths from the root:
  //   word0: root -0-> (code 0)            word1: root -1-> node1 -1-> (codes 1 1)
  //   word2: root -1-> node1 -0-> node0 -1->   word3: root -1-> node1 -0-> node0 -0->
  const auto tree = elm::models::build_huffman_tree({5, 3, 2, 1});
  using P = std::vector<std::int32_t>;
  using C = std::vector<std::uint8_t>;
  CHECK(tree.points[0] == P{2});
  CHECK(tree.codes[0] == C{0});
  CHECK(tree.points[1] == P{2, 1});
  CHECK(tree.codes[1] == C{1, 1});
  CHECK(tree.points[2] == P{2, 1, 0});
  CHECK(tree.codes[2] == C{1, 0, 1});
  CHECK(tree.points[3] == P{2, 1, 0});
  CHECK(tree.codes[3] == C{1, 0, 0});
  CHECK(elm::models::build_huffman_tree({4}).codes[0].empty());
  REQUIRE_THROWS_AS(elm::models::build_huffman_tree({1, 2}), elm::InvalidArgument);
}

TEST_CASE("a tiny corpus where the nearest neighbour is known by construction", "[word2vec]") {
  struct Mode {
    bool cbow, hs;
    elm::Index negative;
  };
  const Mode mode = GENERATE(Mode{false, false, 5}, Mode{true, false, 5}, Mode{false, true, 0}, Mode{true, true, 0});
  const elm::Index threads = GENERATE(1, 2);
  INFO("cbow " << mode.cbow << " hs " << mode.hs << " negative " << mode.negative << " threads " << threads);
  elm::Rng data_rng(3);
  const Word2VecCorpus corpus = corpus_of(two_family_corpus(data_rng, 1000));
  Word2VecConfig cfg;
  cfg.size = 16;
  cfg.window = 2;
  cfg.cbow = mode.cbow;
  cfg.hs = mode.hs;
  cfg.negative = mode.negative;
  cfg.sample = 0.0;
  cfg.iter = 10;
  cfg.threads = threads;
  elm::Rng rng(11);
  const auto kv = Word2Vec::train(corpus, cfg, rng).keyed_vectors();
  CHECK(kv.most_similar({"cat"}, {}, 1)[0].word == "dog");
  CHECK(kv.most_similar({"dog"}, {}, 1)[0].word == "cat");
  CHECK(kv.most_similar({"car"}, {}, 1)[0].word == "bus");
  CHECK(kv.most_similar({"bus"}, {}, 1)[0].word == "car");
  CHECK(kv.similarity("cat", "dog") > kv.similarity("cat", "car") + 0.05f);
}

TEST_CASE("single-threaded training is reproducible from the seed", "[word2vec]") {
  elm::Rng data_rng(5);
  const Word2VecCorpus corpus = corpus_of(two_family_corpus(data_rng, 200));
  Word2VecConfig cfg;
  cfg.size = 8;
  cfg.iter = 2;
  cfg.sample = 0.1;
  cfg.hs = true;
  elm::Rng a(42), b(42), c(43);
  const Word2Vec m1 = Word2Vec::train(corpus, cfg, a);
  const Word2Vec m2 = Word2Vec::train(corpus, cfg, b);
  const Word2Vec m3 = Word2Vec::train(corpus, cfg, c);
  CHECK(m1.input_vectors() == m2.input_vectors());
  CHECK(m1.output_vectors() == m2.output_vectors());
  CHECK(m1.hs_vectors() == m2.hs_vectors());
  CHECK(m1.input_vectors() != m3.input_vectors());
}

TEST_CASE("progress reports a decreasing learning rate that ends near min_alpha", "[word2vec]") {
  elm::Rng data_rng(5);
  const Word2VecCorpus corpus = corpus_of(two_family_corpus(data_rng, 4000));  // 20,000 tokens per epoch
  Word2VecConfig cfg;
  cfg.size = 4;
  cfg.iter = 3;
  cfg.sample = 0.0;
  std::vector<elm::models::Word2VecProgress> seen;
  elm::Rng rng(1);
  Word2Vec::train(corpus, cfg, rng, [&](const elm::models::Word2VecProgress& p) { seen.push_back(p); });
  REQUIRE(seen.size() >= 5);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].alpha <= seen[i - 1].alpha);
  CHECK(seen.back().words == 60000);
  CHECK_THAT(seen.back().fraction, WithinAbs(1.0, 1e-12));
  CHECK_THAT(seen.back().alpha, WithinAbs(1e-4, 1e-12));  // alpha0 - (alpha0 - min_alpha) * 1
}

TEST_CASE("an exception thrown by the progress callback stops training and reaches the caller", "[word2vec]") {
  elm::Rng data_rng(5);
  const Word2VecCorpus corpus = corpus_of(two_family_corpus(data_rng, 4000));
  Word2VecConfig cfg;
  cfg.size = 4;
  cfg.sample = 0.0;
  cfg.threads = GENERATE(1, 2);  // with 2, the callback runs on a worker thread and must not terminate
  elm::Rng rng(1);
  const auto stop = [](const elm::models::Word2VecProgress&) { throw elm::Error("stopped by the callback"); };
  REQUIRE_THROWS_MATCHES(Word2Vec::train(corpus, cfg, rng, stop), elm::Error,
                         Catch::Matchers::Message("stopped by the callback"));
}

TEST_CASE("invalid training settings throw InvalidArgument", "[word2vec][bad-input]") {
  const Word2VecCorpus corpus = corpus_of("a b c a b c\n");
  elm::Rng rng(1);
  Word2VecConfig cfg;
  cfg.size = 0;
  REQUIRE_THROWS_WITH(Word2Vec::train(corpus, cfg, rng), Contains("size = 0, expected >= 1"));
  cfg = Word2VecConfig{};
  cfg.negative = 0;
  REQUIRE_THROWS_WITH(Word2Vec::train(corpus, cfg, rng), Contains("expected negative sampling, hierarchical softmax"));
  cfg = Word2VecConfig{};
  cfg.window = 0;
  REQUIRE_THROWS_AS(Word2Vec::train(corpus, cfg, rng), elm::InvalidArgument);
  cfg = Word2VecConfig{};
  cfg.sample = -1.0;
  REQUIRE_THROWS_AS(Word2Vec::train(corpus, cfg, rng), elm::InvalidArgument);
  Word2VecCorpus broken = corpus;
  broken.tokens[0] = 99;
  REQUIRE_THROWS_AS(Word2Vec::train(broken, Word2VecConfig{}, rng), elm::RangeError);
  REQUIRE_THROWS_AS(Word2Vec::train(Word2VecCorpus{}, Word2VecConfig{}, rng), elm::InvalidArgument);
  broken = corpus;
  broken.sentence_starts = {0};
  REQUIRE_THROWS_WITH(Word2Vec::train(broken, Word2VecConfig{}, rng),
                      Contains("sentence_starts must rise from 0 to the token count 6"));
  broken = corpus;
  broken.counts[1] = 0;
  REQUIRE_THROWS_WITH(Word2Vec::train(broken, Word2VecConfig{}, rng), Contains("is 0, expected >= 1"));
}
