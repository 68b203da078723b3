// SPDX-License-Identifier: MIT
// Losses with their gradients: cross-entropy over logits, BCE with logits, MSE, KL between diagonal Gaussians.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"

namespace elm::nn {

/// How per-element (or per-target) losses are combined: averaged or summed.
enum class Reduction { mean, sum };

/// Options of cross_entropy, PyTorch's F.cross_entropy arguments of the same names.
struct CrossEntropyOptions {
  Index ignore_index = -100;    ///< targets equal to it contribute neither loss nor gradient
  double label_smoothing = 0.0;  ///< in [0, 1]: the target distribution is (1 - s) one_hot + s / V
  Reduction reduction = Reduction::mean;  ///< mean divides by the number of targets not ignored
};

/// Cross-entropy of logits against class ids (PyTorch's F.cross_entropy on (N, V) logits):
/// loss_n = -(1 - s) log p(target_n) - (s / V) sum_v log p(v), p = softmax(logits[:, n]).
/// logits: (V, N), targets: N ids in [0, V) or ignore_index. If dlogits is given it receives d loss / d logits
/// (V, N), overwritten. With mean reduction and every target ignored, returns 0 with a zero gradient (PyTorch
/// returns NaN). Throws ShapeError (targets.size() != N), RangeError (a target outside [0, V)),
/// InvalidArgument (label_smoothing outside [0, 1]). Cost O(V N).
template <typename Scalar>
Scalar cross_entropy(const Eigen::Ref<const Matrix<Scalar>>& logits, const std::vector<Index>& targets,
                     const CrossEntropyOptions& options = {}, Matrix<Scalar>* dlogits = nullptr) {
  constexpr const char* where = "elm::nn::cross_entropy";
  const Index v_size = logits.rows();
  const Index n = logits.cols();
  ELM_EXPECT(to_index(targets.size()) == n, ShapeError, where, ": targets has ", targets.size(),
             " entries, expected one per column of logits (", n, ")");
  ELM_EXPECT(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0, InvalidArgument, where,
             ": expected 0 <= label_smoothing <= 1, got ", options.label_smoothing);
  ELM_EXPECT(v_size > 0, ShapeError, where, ": logits has 0 rows, expected V > 0");
  Index count = 0;
  for (Index t : targets) {
    if (t == options.ignore_index) continue;
    check_id(t, v_size, where, "target");
    ++count;
  }
  const Scalar smooth = static_cast<Scalar>(options.label_smoothing);
  const Scalar on_target = Scalar(1) - smooth;
  const Scalar uniform = smooth / static_cast<Scalar>(v_size);
  if (dlogits) dlogits->setZero(v_size, n);
  if (count == 0) return Scalar(0);
  const Scalar scale = options.reduction == Reduction::mean ? Scalar(1) / static_cast<Scalar>(count) : Scalar(1);
  double total = 0.0;  // accumulated in double: a sum over many tokens
  Vector<Scalar> log_p(v_size);
  for (Index j = 0; j < n; ++j) {
    const Index t = targets[static_cast<std::size_t>(j)];
    if (t == options.ignore_index) continue;
    const Scalar lse = log_sum_exp(logits.col(j));
    log_p = logits.col(j).array() - lse;
    Scalar loss = -on_target * log_p(t);
    if (smooth > Scalar(0)) loss -= uniform * log_p.sum();
    total += static_cast<double>(loss);
    if (dlogits) {
      // d/dlogits = softmax - target distribution
      dlogits->col(j) = log_p.array().exp().matrix();
      dlogits->col(j).array() -= uniform;
      (*dlogits)(t, j) -= on_target;
      dlogits->col(j) *= scale;
    }
  }
  return static_cast<Scalar>(total * static_cast<double>(scale));
}

/// Binary cross-entropy with logits (PyTorch's F.binary_cross_entropy_with_logits), element-wise:
/// l = max(x, 0) - x z + log(1 + exp(-|x|)); d l / d x = sigmoid(x) - z. logits, targets: any equal shapes,
/// targets in [0, 1]. Throws ShapeError for different shapes.
template <typename Scalar>
Scalar bce_with_logits(const Eigen::Ref<const Matrix<Scalar>>& logits, const Eigen::Ref<const Matrix<Scalar>>& targets,
                       Reduction reduction = Reduction::mean, Matrix<Scalar>* dlogits = nullptr) {
  check_shape(targets, logits.rows(), logits.cols(), "elm::nn::bce_with_logits", "targets");
  const Scalar scale = reduction == Reduction::mean && logits.size() > 0
                           ? Scalar(1) / static_cast<Scalar>(logits.size())
                           : Scalar(1);
  if (dlogits) dlogits->resize(logits.rows(), logits.cols());
  double total = 0.0;
  for (Index j = 0; j < logits.cols(); ++j)
    for (Index i = 0; i < logits.rows(); ++i) {
      const Scalar x = logits(i, j);
      const Scalar z = targets(i, j);
      const Scalar l = std::max(x, Scalar(0)) - x * z + std::log1p(std::exp(-std::abs(x)));
      total += static_cast<double>(l);
      if (dlogits) {
        const Scalar s = x >= Scalar(0) ? Scalar(1) / (Scalar(1) + std::exp(-x)) : std::exp(x) / (Scalar(1) + std::exp(x));
        (*dlogits)(i, j) = (s - z) * scale;
      }
    }
  return static_cast<Scalar>(total * static_cast<double>(scale));
}

/// Mean (or summed) squared error: l = (y - target)^2 element-wise; d l / d y = 2 (y - target).
template <typename Scalar>
Scalar mse(const Eigen::Ref<const Matrix<Scalar>>& prediction, const Eigen::Ref<const Matrix<Scalar>>& target,
           Reduction reduction = Reduction::mean, Matrix<Scalar>* dprediction = nullptr) {
  check_shape(target, prediction.rows(), prediction.cols(), "elm::nn::mse", "target");
  const Scalar scale = reduction == Reduction::mean && prediction.size() > 0
                           ? Scalar(1) / static_cast<Scalar>(prediction.size())
                           : Scalar(1);
  const Matrix<Scalar> diff = prediction - target;
  if (dprediction) *dprediction = diff * (Scalar(2) * scale);
  return diff.squaredNorm() * scale;
}

/// Gradients of gaussian_kl; each pointer may be null.
template <typename Scalar>
struct GaussianKlGrads {
  Matrix<Scalar>* mu_q = nullptr;
  Matrix<Scalar>* logvar_q = nullptr;
  Matrix<Scalar>* mu_p = nullptr;
  Matrix<Scalar>* logvar_p = nullptr;
};

/// KL(q || p) between diagonal Gaussians given by means and log-variances, one distribution per column:
/// KL = 1/2 sum_i (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1).
/// All arguments (D, B). Reduction::sum adds over every column; Reduction::mean averages over the B columns
/// (the VAE convention: summed over latent dimensions, averaged over the batch). Throws ShapeError.
template <typename Scalar>
Scalar gaussian_kl(const Eigen::Ref<const Matrix<Scalar>>& mu_q, const Eigen::Ref<const Matrix<Scalar>>& logvar_q,
                   const Eigen::Ref<const Matrix<Scalar>>& mu_p, const Eigen::Ref<const Matrix<Scalar>>& logvar_p,
                   Reduction reduction = Reduction::mean, const GaussianKlGrads<Scalar>& grads = {}) {
  constexpr const char* where = "elm::nn::gaussian_kl";
  check_shape(logvar_q, mu_q.rows(), mu_q.cols(), where, "logvar_q");
  check_shape(mu_p, mu_q.rows(), mu_q.cols(), where, "mu_p");
  check_shape(logvar_p, mu_q.rows(), mu_q.cols(), where, "logvar_p");
  const Scalar scale =
      reduction == Reduction::mean && mu_q.cols() > 0 ? Scalar(1) / static_cast<Scalar>(mu_q.cols()) : Scalar(1);
  const Scalar half = Scalar(0.5);
  const auto diff = (mu_q - mu_p).array().eval();
  const auto var_q = logvar_q.array().exp().eval();
  const auto inv_var_p = (-logvar_p.array()).exp().eval();
  const auto ratio = ((var_q + diff.square()) * inv_var_p).eval();
  const Scalar total = half * (logvar_p.array() - logvar_q.array() + ratio - Scalar(1)).sum();
  if (grads.mu_q) *grads.mu_q = (diff * inv_var_p * scale).matrix();
  if (grads.logvar_q) *grads.logvar_q = (half * (var_q * inv_var_p - Scalar(1)) * scale).matrix();
  if (grads.mu_p) *grads.mu_p = (-diff * inv_var_p * scale).matrix();
  if (grads.logvar_p) *grads.logvar_p = (half * (Scalar(1) - ratio) * scale).matrix();
  return total * scale;
}

/// KL(q || N(0, I)) = -1/2 sum (1 + logvar - mu^2 - exp(logvar)), the VAE's regulariser. mu, logvar: (D, B).
template <typename Scalar>
Scalar gaussian_kl(const Eigen::Ref<const Matrix<Scalar>>& mu, const Eigen::Ref<const Matrix<Scalar>>& logvar,
                   Reduction reduction = Reduction::mean, Matrix<Scalar>* dmu = nullptr,
                   Matrix<Scalar>* dlogvar = nullptr) {
  const Matrix<Scalar> zeros = Matrix<Scalar>::Zero(mu.rows(), mu.cols());
  GaussianKlGrads<Scalar> grads;
  grads.mu_q = dmu;
  grads.logvar_q = dlogvar;
  return gaussian_kl<Scalar>(mu, logvar, zeros, zeros, reduction, grads);
}

}  // namespace elm::nn
