// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/models/keyed_vectors.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using elm::models::AnalogyMethod;
using elm::models::KeyedVectors;

namespace {

const std::string data_dir = std::string(ELM_TEST_DATA_DIR) + "/word2vec/";
const std::string eval_dir = std::string(ELM_SOURCE_DIR) + "/examples/data/word2vec-eval/";

// Four 2-d vectors: a = (1, 0), b = (0, 2), c = (3, 3), d = (-1, 0); e = (0, 0) has no direction.
KeyedVectors plane() {
  elm::Matrix<float> v(2, 5);
  v << 1, 0, 3, -1, 0,  //
      0, 2, 3, 0, 0;
  return KeyedVectors({"a", "b", "c", "d", "e"}, v);
}

// Scores are float32 dot products of 16-d unit vectors, summed in a different order than NumPy's: they agree to a
// few float32 ulps (~1e-7); 1e-5 leaves room without hiding a wrong formula (which would be off by >= 1e-2).
constexpr double score_tol = 1e-5;

void check_neighbors(const std::vector<elm::models::Neighbor>& got, const nlohmann::json& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("rank " << i);
    CHECK(got[i].word == want[i][0].get<std::string>());
    CHECK_THAT(double(got[i].similarity), WithinAbs(want[i][1].get<double>(), score_tol));
  }
}

}  // namespace

TEST_CASE("keyed vectors: hand-sized similarity, neighbours and analogies", "[word2vec][keyed-vectors]") {
  const KeyedVectors kv = plane();
  // cos(a, c) = 3 / (1 * sqrt(18)) = 1/sqrt(2); cos(a, d) = -1; e is zero, so its cosine is 0 by definition.
  CHECK_THAT(kv.similarity("a", "c"), WithinAbs(0.70710678, 1e-6));
  CHECK_THAT(kv.similarity("a", "d"), WithinAbs(-1.0, 1e-6));
  CHECK(kv.similarity("a", "e") == 0.0f);
  CHECK_THAT(kv.normalized().col(1).norm(), WithinAbs(1.0, 1e-6));
  // Neighbours of a: c (0.7071), then b and e (0; b first: lower index), then d (-1).
  const auto n = kv.most_similar({"a"}, {}, 4);
  REQUIRE(n.size() == 4);
  CHECK(n[0].word == "c");
  CHECK(n[1].word == "b");
  CHECK(n[2].word == "e");
  CHECK(n[3].word == "d");
  // restrict_vocab = 3 searches a, b, c only.
  CHECK(kv.most_similar({"a"}, {}, 10, 3).size() == 2);
  // a : d :: b : ?  direction -a + d + b_hat = (-2, 1)/sqrt(5): cos with b = 1/sqrt(5) = 0.4472 beats
  // c (-1/sqrt(10) = -0.316) and e (0); b is a query word, excluded: the answer is e (0), then c.
  const auto x = kv.analogy("a", "d", "b", 2);
  CHECK(x[0].word == "e");
  CHECK(x[1].word == "c");
  // 3CosMul of the same: score(x) = (1+cos(x,d))/2 (1+cos(x,b))/2 / ((1+cos(x,a))/2 + 1e-6).
  // c: cos 1/sqrt2 with b, -1/sqrt2 with d and 1/sqrt2 with a: 0.1464 * 0.8536 / 0.8536 = 0.1464;
  // e: 0.5 * 0.5 / 0.5 = 0.5 (up to 1e-6): e first.
  const auto m = kv.analogy("a", "d", "b", 2, AnalogyMethod::mul);
  CHECK(m[0].word == "e");
  CHECK_THAT(double(m[0].similarity), WithinAbs(0.5, 1e-5));
  CHECK_THAT(double(m[1].similarity), WithinAbs((1.0 - std::sqrt(0.5)) / 2.0, 1e-5));
  const auto by_vector = kv.most_similar_to_vector(elm::Vector<float>::Unit(2, 1), 1);
  CHECK(by_vector[0].word == "b");
}

TEST_CASE("keyed vectors: unknown words and bad queries", "[word2vec][keyed-vectors][bad-input]") {
  const KeyedVectors kv = plane();
  CHECK(kv.find("zz") == -1);
  CHECK(kv.find("c") == 2);
  CHECK_FALSE(kv.contains("A"));
  REQUIRE_THROWS_MATCHES(kv.similarity("a", "zz"), elm::InvalidArgument,
                         Catch::Matchers::Message("elm::models::KeyedVectors: word 'zz' is not in the vocabulary (V = 5)"));
  REQUIRE_THROWS_AS(kv.most_similar({"a", "nope"}), elm::InvalidArgument);
  REQUIRE_THROWS_AS(kv.analogy("a", "b", "nope"), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(kv.most_similar({}), Contains("expected at least one word, got none"));
  REQUIRE_THROWS_AS(kv.most_similar({"a"}, {}, -1), elm::InvalidArgument);
  REQUIRE_THROWS_AS(kv.most_similar({"a"}, {}, 3, -2), elm::InvalidArgument);
  REQUIRE_THROWS_AS(kv.most_similar_to_vector(elm::Vector<float>::Ones(3)), elm::ShapeError);
  REQUIRE_THROWS_AS(KeyedVectors({"a", "a"}, elm::Matrix<float>::Ones(2, 2)), elm::InvalidArgument);
  REQUIRE_THROWS_AS(KeyedVectors({"a"}, elm::Matrix<float>::Ones(2, 2)), elm::ShapeError);
  std::istringstream no_section("a b c d\n");
  REQUIRE_THROWS_WITH(kv.evaluate_analogies(no_section, "q.txt"),
                      Contains("q.txt:1: expected a section header \": name\" before the first question"));
  std::istringstream uncovered("# comment\nzz\tyy\t3.0\na\tb\t1.0\n");
  REQUIRE_THROWS_WITH(kv.evaluate_word_pairs(uncovered, "p.tsv"),
                      Contains("p.tsv: only 1 pair(s) covered by the vocabulary, expected at least 2 (1 skipped)"));
}

TEST_CASE("Spearman and Pearson correlations, with ties", "[word2vec][keyed-vectors]") {
  // No ties: d = rank differences (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8.
  CHECK_THAT(elm::models::spearman_correlation({1, 2, 3, 4}, {10, 30, 20, 40}), WithinAbs(0.8, 1e-12));
  // Ties in x: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): sxy = 4.5, sxx = 4.5, syy = 5: 4.5 / sqrt(22.5).
  CHECK_THAT(elm::models::spearman_correlation({1, 2, 2, 3}, {1, 2, 3, 4}), WithinAbs(0.9486832980505138, 1e-12));
  CHECK_THAT(elm::models::pearson_correlation({1, 2, 3}, {2, 4, 6}), WithinAbs(1.0, 1e-12));
  REQUIRE_THROWS_AS(elm::models::spearman_correlation({1}, {1}), elm::InvalidArgument);
}

TEST_CASE("keyed vectors agree with gensim's queries and evaluations on the same vectors", "[word2vec][keyed-vectors]") {
  const KeyedVectors kv(elm::io::read_word_vectors(data_dir + "kv_austen.txt", elm::io::WordVectorFormat::text));
  std::ifstream json_in(data_dir + "kv_austen.json");
  REQUIRE(json_in.is_open());
  const nlohmann::json ref = nlohmann::json::parse(json_in);
  for (const auto& q : ref["most_similar"]) {
    INFO("most_similar " << q["positive"].dump() << " - " << q["negative"].dump());
    check_neighbors(kv.most_similar(q["positive"].get<std::vector<std::string>>(),
                                    q["negative"].get<std::vector<std::string>>(), q["topn"].get<elm::Index>(),
                                    q["restrict"].get<elm::Index>()),
                    q["result"]);
  }
  for (const char* key : {"analogy_add", "analogy_mul"}) {
    const auto method = std::string(key) == "analogy_add" ? AnalogyMethod::add : AnalogyMethod::mul;
    for (const auto& q : ref[key]) {
      INFO(key << " " << q["abc"].dump());
      const auto abc = q["abc"].get<std::vector<std::string>>();
      check_neighbors(kv.analogy(abc[0], abc[1], abc[2], 3, method), q["result"]);
    }
  }
  for (const auto& q : ref["similarity"])
    CHECK_THAT(double(kv.similarity(q["a"].get<std::string>(), q["b"].get<std::string>())),
               WithinAbs(q["result"].get<double>(), score_tol));

  for (const elm::Index restrict : {300000, 400}) {
    INFO("restrict_vocab " << restrict);
    const auto& a_ref = ref["evaluations"]["analogies_" + std::to_string(restrict)];
    std::ifstream questions(eval_dir + "questions-words.txt");
    const auto a = kv.evaluate_analogies(questions, "questions-words.txt", restrict);
    CHECK(a.correct == a_ref["correct"].get<elm::Index>());
    CHECK(a.incorrect == a_ref["incorrect"].get<elm::Index>());
    CHECK_THAT(a.accuracy(), WithinAbs(a_ref["accuracy"].get<double>(), 1e-12));
    REQUIRE(a.sections.size() == a_ref["sections"].size());
    for (std::size_t s = 0; s < a.sections.size(); ++s) {
      CHECK(a.sections[s].name == a_ref["sections"][s][0].get<std::string>());
      CHECK(a.sections[s].correct == a_ref["sections"][s][1].get<elm::Index>());
      CHECK(a.sections[s].incorrect == a_ref["sections"][s][2].get<elm::Index>());
    }
    const auto& p_ref = ref["evaluations"]["pairs_" + std::to_string(restrict)];
    std::ifstream pairs(eval_dir + "wordsim353.tsv");
    const auto p = kv.evaluate_word_pairs(pairs, "wordsim353.tsv", restrict);
    // Correlations of float32 cosines: the cosines agree to ~1e-7, so the correlations to ~1e-6.
    CHECK_THAT(p.spearman, WithinAbs(p_ref["spearman"].get<double>(), 1e-6));
    CHECK_THAT(p.pearson, WithinAbs(p_ref["pearson"].get<double>(), 1e-6));
    CHECK_THAT(p.oov_ratio(), WithinAbs(p_ref["oov_ratio"].get<double>(), 1e-9));
  }
}
