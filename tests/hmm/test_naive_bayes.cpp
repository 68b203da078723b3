// SPDX-License-Identifier: MIT
// Multinomial naive Bayes against scikit-learn's MultinomialNB (tools/make_naive_bayes_fixture.py), a case worked
// by hand, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "elm/classic/naive_bayes.hpp"

namespace naive_bayes_test {

using elm::Index;
using elm::Matrix;
using elm::classic::FeatureCounts;
using elm::classic::MultinomialNaiveBayes;
using elm::classic::NaiveBayesOptions;

// Rows of a (D, F) count matrix as sparse documents (zeros left out).
std::vector<FeatureCounts> documents_of(const Matrix<double>& x) {  // x: (F, D), one column per document
  std::vector<FeatureCounts> out;
  for (Index d = 0; d < x.cols(); ++d) {
    out.emplace_back();
    for (Index f = 0; f < x.rows(); ++f)
      if (x(f, d) != 0.0) out.back().emplace_back(f, x(f, d));
  }
  return out;
}

TEST_CASE("MultinomialNaiveBayes is scikit-learn's MultinomialNB", "[classic][naive-bayes][parity]") {
  const attention_test::Fixture fx = attention_test::load_fixture("naive_bayes", "classic");
  const auto train = documents_of(fx.matrix<double>("X"));
  const auto test = documents_of(fx.matrix<double>("X_test"));
  const Matrix<double> y = fx.matrix<double>("y");
  std::vector<Index> labels;
  for (Index i = 0; i < y.size(); ++i) labels.push_back(Index(y(i)));
  for (const auto& [name, options] : {std::pair<std::string, NaiveBayesOptions>{"laplace", {1.0, true}},
                                      std::pair<std::string, NaiveBayesOptions>{"uniform", {0.3, false}}}) {
    INFO("fit " << name);
    const auto nb = MultinomialNaiveBayes::fit(train, labels, 3, 6, options);
    // float64 on both sides: only summation order differs
    CHECK((nb.class_log_prior() - fx.matrix<double>(name + ".class_log_prior")).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((nb.feature_log_prob() - fx.matrix<double>(name + ".feature_log_prob")).cwiseAbs().maxCoeff() < 1e-12);
    const Matrix<double> log_proba = fx.matrix<double>(name + ".predict_log_proba");  // (K, D)
    const Matrix<double> predicted = fx.matrix<double>(name + ".predict");
    for (std::size_t d = 0; d < test.size(); ++d) {
      INFO("test document " << d);
      CHECK((nb.predict_log_proba(test[d]) - log_proba.col(Index(d))).cwiseAbs().maxCoeff() < 1e-12);
      CHECK(nb.predict(test[d]) == Index(predicted(Index(d))));
    }
  }
}

TEST_CASE("MultinomialNaiveBayes on a case worked by hand", "[classic][naive-bayes]") {
  // class 0: one document "a a b"; class 1: two documents "b", "c". alpha = 1, F = 3:
  // P(a|0) = 3/6, P(b|0) = 2/6, P(c|0) = 1/6; P(a|1) = 1/5, P(b|1) = 2/5, P(c|1) = 2/5; P(0) = 1/3, P(1) = 2/3.
  const auto nb = MultinomialNaiveBayes::fit({{{0, 2.0}, {1, 1.0}}, {{1, 1.0}}, {{2, 1.0}}}, {0, 1, 1}, 2, 3);
  CHECK(nb.feature_log_prob()(0, 0) == Approx(std::log(0.5)));
  CHECK(nb.feature_log_prob()(2, 1) == Approx(std::log(0.4)));
  CHECK(nb.class_log_prior()(1) == Approx(std::log(2.0 / 3.0)));
  // "a": 1/3 * 1/2 = 1/6 against 2/3 * 1/5 = 2/15: class 0, with posterior (1/6) / (1/6 + 2/15) = 5/9
  CHECK(nb.predict({{0, 1.0}}) == 0);
  CHECK(std::exp(nb.predict_log_proba({{0, 1.0}})(0)) == Approx(5.0 / 9.0));
  CHECK(nb.predict({{2, 1.0}}) == 1);
}

TEST_CASE("MultinomialNaiveBayes refuses bad input, naming it", "[classic][naive-bayes][bad-input]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::Message;
  const std::vector<FeatureCounts> docs = {{{0, 1.0}}, {{1, 1.0}}};
  CHECK_THAT(elm_test::error_message<elm::ShapeError>([&] { (void)MultinomialNaiveBayes::fit(docs, {0}, 2, 2); }),
           Contains("labels has 1 entries, expected one per document (2)"));
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { (void)MultinomialNaiveBayes::fit(docs, {0, 2}, 2, 2); }),
           Contains("label"));
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { (void)MultinomialNaiveBayes::fit(docs, {0, 1}, 2, 1); }),
           Contains("feature id"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { (void)MultinomialNaiveBayes::fit(docs, {0, 1}, 2, 2, {0.0, true}); }),
           Contains("alpha = 0, expected > 0"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { (void)MultinomialNaiveBayes::fit({{{0, -1.0}}, {{1, 1.0}}}, {0, 1}, 2, 2); }),
           Contains("count -1"));
  CHECK_THROWS_AS(MultinomialNaiveBayes::fit({}, {}, 2, 2), elm::InvalidArgument);
  const auto nb = MultinomialNaiveBayes::fit(docs, {0, 1}, 2, 2);
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { (void)nb.predict({{5, 1.0}}); }),
           Contains("feature id"));
}

}  // namespace naive_bayes_test
