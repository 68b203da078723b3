// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/batch_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/sequential.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::BatchNorm;
using elm::nn::BatchNormConfig;
using elm::nn::ForwardContext;

static_assert(elm::nn::is_matrix_layer_v<BatchNorm<float>>, "BatchNorm chains in Sequential");
static_assert(elm::nn::has_reset_parameters_v<BatchNorm<float>>, "BatchNorm initialises as PyTorch does");

namespace {

BatchNormConfig batch_norm_config(const Fixture& f) {
  return {f.dim("channels"), f.meta.at("eps").get<double>(), f.meta.at("momentum").get<double>(),
          f.meta.at("affine").get<bool>()};
}

template <typename Scalar>
void check_step(BatchNorm<Scalar>& bn, const Fixture& f, const std::string& p, const ForwardContext& context) {
  const double tol = parity_tolerance<Scalar>();
  typename BatchNorm<Scalar>::Cache cache;
  Matrix<Scalar> y, dx;
  bn.forward(f.matrix<Scalar>(p + "x"), y, &cache, context);
  CHECK(relative_error<Scalar>(p + "y", y, f.matrix<double>(p + "y")) < tol);
  bn.zero_grad();
  bn.backward(cache, f.matrix<Scalar>(p + "g"), dx);
  CHECK(relative_error<Scalar>(p + "grad.x", dx, f.matrix<double>(p + "grad.x")) < tol);
  if (bn.config().affine) {
    CHECK(relative_error<Scalar>(p + "grad.weight", bn.weight().grad, f.matrix<double>(p + "grad.weight")) < tol);
    CHECK(relative_error<Scalar>(p + "grad.bias", bn.bias().grad, f.matrix<double>(p + "grad.bias")) < tol);
  }
}

}  // namespace

TEST_CASE("BatchNorm on a hand-sized batch", "[cnn][batch_norm]") {
  // one channel over (1, 3): mean 2, biased variance 1, unbiased 2; eps 0 would give (-1, 1)
  BatchNorm<double> bn(BatchNormConfig{1, 1e-12, 0.5});
  Matrix<double> x(1, 2), y, dx;
  x << 1, 3;
  BatchNorm<double>::Cache cache;
  bn.forward(x, y, &cache, ForwardContext::train_deterministic());
  CHECK(y(0, 0) == Approx(-1.0));
  CHECK(y(0, 1) == Approx(1.0));
  bn.backward(cache, Matrix<double>::Ones(1, 2), dx);
  CHECK(bn.running_mean().value(0, 0) == Approx(0.5 * 0 + 0.5 * 2));
  CHECK(bn.running_var().value(0, 0) == Approx(0.5 * 1 + 0.5 * 2));
  CHECK(bn.num_batches_tracked() == 1);
  CHECK(dx.cwiseAbs().maxCoeff() < 1e-9);  // a constant upstream gradient is normalised away
  bn.forward(x, y);  // inference: (x - 1) / sqrt(1.5)
  CHECK(y(0, 1) == Approx(2.0 / std::sqrt(1.5)));
}

TEMPLATE_TEST_CASE("BatchNorm matches torch.nn.BatchNorm1d/2d: training steps, running statistics, inference",
                   "[cnn][batch_norm][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "batchnorm1d_features", "batchnorm1d_sequences",
                                    "batchnorm2d", "batchnorm2d_no_affine");
  INFO("fixture " << name);
  const Fixture f = load(name);
  const double tol = parity_tolerance<TestType>();
  BatchNorm<TestType> bn(batch_norm_config(f));
  load_parameters<TestType>(bn, f);  // weight, bias and the initial running statistics, by PyTorch's names
  const Index steps = f.dim("steps");
  for (Index s = 0; s < steps; ++s) {
    const std::string p = "train" + std::to_string(s) + ".";
    check_step(bn, f, p, ForwardContext::train_deterministic());
    CHECK(relative_error<TestType>(p + "running_mean", bn.running_mean().value, f.matrix<double>(p + "running_mean")) <
          tol);
    CHECK(relative_error<TestType>(p + "running_var", bn.running_var().value, f.matrix<double>(p + "running_var")) <
          tol);
  }
  CHECK(bn.num_batches_tracked() == f.dim("num_batches_tracked"));
  const Matrix<TestType> mean = bn.running_mean().value, var = bn.running_var().value;
  check_step(bn, f, "eval.", ForwardContext::inference());
  CHECK(bn.running_mean().value == mean);  // inference leaves the statistics alone
  CHECK(bn.running_var().value == var);
}

TEST_CASE("BatchNorm gradients agree with central differences, training and inference", "[cnn][batch_norm][gradcheck]") {
  elm::Rng rng(GENERATE(21u, 22u));
  const bool training = GENERATE(true, false);
  BatchNorm<double> bn(BatchNormConfig{3, 1e-5, 0.1});
  bn.weight().value = random_matrix(rng, 3, 1);
  bn.bias().value = random_matrix(rng, 3, 1);
  bn.running_mean().value = random_matrix(rng, 3, 1);
  bn.running_var().value = random_matrix(rng, 3, 1).cwiseAbs().array() + 0.5;
  const ForwardContext context = training ? ForwardContext::train_deterministic() : ForwardContext::inference();
  Matrix<double> x = random_matrix(rng, 3, 7, 2.0), y, dx;
  BatchNorm<double>::Cache cache;
  bn.forward(x, y, &cache, context);
  const Matrix<double> r = random_matrix(rng, 3, 7);
  bn.zero_grad();
  bn.backward(cache, r, dx);
  const auto loss = [&] {
    Matrix<double> out;
    bn.forward(x, out, nullptr, context);
    return out.cwiseProduct(r).sum();
  };
  check_gradient("dx", x, loss, dx);
  const Matrix<double> dweight = bn.weight().grad, dbias = bn.bias().grad;
  check_gradient("weight", bn.weight().value, loss, dweight);
  check_gradient("bias", bn.bias().value, loss, dbias);
}

TEST_CASE("BatchNorm in training and at inference differ, and the buffers are visited but not trained",
          "[cnn][batch_norm]") {
  elm::Rng rng(5);
  BatchNorm<double> bn(BatchNormConfig{2});
  std::vector<std::string> names;
  std::vector<bool> trainable;
  bn.for_each_parameter("bn", [&](const std::string& name, const elm::nn::Parameter<double>& p) {
    names.push_back(name);
    trainable.push_back(p.trainable);
  });
  CHECK(names == std::vector<std::string>{"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"});
  CHECK(trainable == std::vector<bool>{true, true, false, false});
  const Matrix<double> x = (random_matrix(rng, 2, 6, 3.0).array() + 4.0).matrix();
  Matrix<double> y_train, y_eval;
  bn.forward(x, y_train, nullptr, ForwardContext::train_deterministic());
  bn.forward(x, y_eval);
  // training normalises each row to mean 0; inference, with running mean 0 and variance 1, nearly keeps x
  CHECK(std::abs(y_train.row(0).mean()) < 1e-12);
  CHECK((y_eval - x).cwiseAbs().maxCoeff() < 1e-4);
  CHECK(bn.num_batches_tracked() == 0);  // a forward alone does not update the statistics
}

TEST_CASE("BatchNorm rejects bad input with clear errors", "[cnn][batch_norm][errors]") {
  BatchNorm<float> bn(BatchNormConfig{3});
  Matrix<float> y, dx;
  CHECK_THAT(error_message<elm::ShapeError>([&] { bn.forward(Matrix<float>::Zero(4, 5), y); }),
             Contains("elm::nn::BatchNorm::forward") && Contains("x is 4x5, expected 3xany"));
  CHECK_THAT(error_message<elm::ShapeError>([&] { bn.forward(Matrix<float>::Zero(3, 0), y); }),
             Contains("non-empty batch"));
  CHECK_THAT(error_message<elm::ShapeError>(
                 [&] { bn.forward(Matrix<float>::Zero(3, 1), y, nullptr, ForwardContext::train_deterministic()); }),
             Contains("more than one value per channel"));
  bn.forward(Matrix<float>::Zero(3, 1), y);  // inference needs no batch statistics
  BatchNorm<float>::Cache cache;
  CHECK_THROWS_AS(bn.backward(cache, Matrix<float>::Zero(3, 1), dx), elm::InvalidArgument);
  CHECK_THROWS_AS(BatchNorm<float>(BatchNormConfig{0}), elm::InvalidArgument);
  CHECK_THROWS_AS(BatchNorm<float>(BatchNormConfig{2, 0.0}), elm::InvalidArgument);
  CHECK_THROWS_AS(BatchNorm<float>(BatchNormConfig{2, 1e-5, 1.5}), elm::InvalidArgument);
}

TEST_CASE("BatchNorm in Sequential: a training step through the chain updates the running statistics",
          "[cnn][batch_norm]") {
  elm::Rng rng(9);
  elm::nn::Sequential net(elm::nn::Linear<double>(3, 4, rng), BatchNorm<double>(BatchNormConfig{4}),
                          elm::nn::Activation<double>(elm::nn::ActivationKind::relu));
  const Matrix<double> x = random_matrix(rng, 3, 5);
  Matrix<double> y, dx;
  decltype(net)::Cache cache;
  net.forward(x, y, &cache, ForwardContext::train_deterministic());
  net.zero_grad();
  net.backward(cache, Matrix<double>::Ones(4, 5), dx);
  CHECK(net.layer<1>().num_batches_tracked() == 1);
  CHECK(net.layer<1>().running_mean().value.cwiseAbs().maxCoeff() > 0.0);
  std::vector<std::string> names;
  net.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<double>&) { names.push_back(name); });
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                          "1.running_var"});
}
