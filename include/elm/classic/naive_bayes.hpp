// SPDX-License-Identifier: MIT
// MultinomialNaiveBayes: the bag-of-words document classifier (scikit-learn's MultinomialNB): class priors and
// additively smoothed per-class feature distributions from counts, prediction by the largest posterior.
#pragma once

#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"

namespace elm::classic {

/// A document as a bag of features: (feature id, count) pairs; a feature may repeat (its counts add up).
using FeatureCounts = std::vector<std::pair<Index, double>>;

/// Options of MultinomialNaiveBayes::fit, scikit-learn's MultinomialNB arguments of the same names.
struct NaiveBayesOptions {
  double alpha = 1.0;     ///< additive (Lidstone) smoothing of the feature counts; 1 is Laplace's
  bool fit_prior = true;  ///< class priors from the class frequencies; false: uniform
};

/// Multinomial naive Bayes (McCallum and Nigam 1998; scikit-learn's MultinomialNB):
///   log P(c) = log(N_c / N) (or -log K),  log P(f | c) = log((n_cf + alpha) / (n_c + alpha F)),
///   score(x, c) = log P(c) + sum_f x_f log P(f | c),  predict(x) = argmax_c score(x, c),
/// with N_c the documents of class c, n_cf the count of feature f in them, n_c = sum_f n_cf, F features, K classes.
/// A fitted model is immutable: its const methods may run from several threads.
class MultinomialNaiveBayes {
 public:
  /// Fits from documents and their classes in [0, num_classes). Throws ShapeError when labels and documents
  /// differ in number, RangeError for a label or feature id out of range, InvalidArgument for no documents,
  /// num_classes < 2, num_features < 1, a negative count or alpha <= 0 (scikit-learn clips alpha = 0 to 1e-10
  /// with a warning; elm asks for alpha > 0).
  static MultinomialNaiveBayes fit(const std::vector<FeatureCounts>& documents, const std::vector<Index>& labels,
                                   Index num_classes, Index num_features, const NaiveBayesOptions& options = {}) {
    constexpr std::string_view where = "elm::classic::MultinomialNaiveBayes::fit";
    ELM_EXPECT(!documents.empty(), InvalidArgument, where, ": no documents, expected at least one");
    ELM_EXPECT(labels.size() == documents.size(), ShapeError, where, ": labels has ", labels.size(),
               " entries, expected one per document (", documents.size(), ")");
    ELM_EXPECT(num_classes >= 2 && num_features >= 1, InvalidArgument, where, ": num_classes = ", num_classes,
               " and num_features = ", num_features, ", expected >= 2 and >= 1");
    ELM_EXPECT(options.alpha > 0.0, InvalidArgument, where, ": alpha = ", options.alpha,
               ", expected > 0 (smoothing keeps unseen features possible)");
    MultinomialNaiveBayes m;
    Matrix<double> counts = Matrix<double>::Zero(num_features, num_classes);  // n_cf, one column per class
    Vector<double> documents_of = Vector<double>::Zero(num_classes);
    for (std::size_t d = 0; d < documents.size(); ++d) {
      const Index c = labels[d];
      check_id(c, num_classes, where, "label");
      documents_of(c) += 1.0;
      for (const auto& [f, x] : documents[d]) {
        check_id(f, num_features, where, "feature id");
        ELM_EXPECT(x >= 0.0, InvalidArgument, where, ": document ", d, " has count ", x, " of feature ", f,
                   ", expected >= 0");
        counts(f, c) += x;
      }
    }
    // 1) priors, 2) smoothed feature log-probabilities per class
    m.class_log_prior_.resize(num_classes);
    for (Index c = 0; c < num_classes; ++c)
      m.class_log_prior_(c) = options.fit_prior ? std::log(documents_of(c) / double(documents.size()))
                                                : -std::log(double(num_classes));
    counts.array() += options.alpha;
    m.feature_log_prob_ = counts;
    for (Index c = 0; c < num_classes; ++c)
      m.feature_log_prob_.col(c) = (counts.col(c) / counts.col(c).sum()).array().log().matrix();
    return m;
  }

  Index num_classes() const { return feature_log_prob_.cols(); }
  Index num_features() const { return feature_log_prob_.rows(); }
  /// log P(c): (K). A class without training documents has -inf (it is never predicted) under fit_prior.
  const Vector<double>& class_log_prior() const { return class_log_prior_; }
  /// log P(f | c): (F, K), one column per class (scikit-learn's feature_log_prob_ transposed).
  const Matrix<double>& feature_log_prob() const { return feature_log_prob_; }

  /// score(x, c) for every class: (K) (scikit-learn's joint log-likelihood). Throws RangeError for a feature id
  /// outside [0, F).
  Vector<double> joint_log_likelihood(const FeatureCounts& document) const {
    Vector<double> out = class_log_prior_;
    for (const auto& [f, x] : document) {
      check_id(f, num_features(), "elm::classic::MultinomialNaiveBayes::joint_log_likelihood", "feature id");
      out += x * feature_log_prob_.row(f).transpose();
    }
    return out;
  }

  /// log P(c | x) = score(x, c) - log sum_c' exp score(x, c'): (K).
  Vector<double> predict_log_proba(const FeatureCounts& document) const {
    Vector<double> s = joint_log_likelihood(document);
    const double z = log_sum_exp(s);
    s.array() -= z;
    return s;
  }

  /// The most probable class (the first on ties, as numpy's argmax).
  Index predict(const FeatureCounts& document) const {
    const Vector<double> s = joint_log_likelihood(document);
    Index best = 0;
    for (Index c = 1; c < s.size(); ++c)
      if (s(c) > s(best)) best = c;
    return best;
  }

 private:
  MultinomialNaiveBayes() = default;
  Vector<double> class_log_prior_;
  Matrix<double> feature_log_prob_;
};

}  // namespace elm::classic
