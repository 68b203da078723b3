// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../common/files.hpp"
#include "cnn_fixture.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/nn/batch_norm.hpp"
#include "elm/nn/conv1d.hpp"
#include "elm/nn/conv2d.hpp"

using namespace cnn_test;
using elm::nn::BatchNorm2d;
using elm::nn::BatchNormConfig;
using elm::nn::Conv2d;
using elm::nn::Conv2dConfig;
using elm::nn::ForwardContext;
using elm::nn::ImageShape;

TEST_CASE("A PyTorch Conv2d + BatchNorm2d state dict loads by its names and gives PyTorch's inference output",
          "[cnn][io]") {
  const elm::io::SafetensorsReader reader(std::string(ELM_TEST_DATA_DIR) + "/conv/conv_bn_state_dict.safetensors");
  const Fixture f = load("conv_bn_state_dict");
  Conv2d<float> conv(Conv2dConfig{2, 3, {3, 3}, {1, 1}, {1, 1}});
  BatchNorm2d<float> norm(BatchNormConfig{3});
  elm::io::LoadOptions options;
  options.prefix = "0";
  elm::io::load_parameters(reader, conv, options);  // strict: weight and bias, nothing else under "0"
  options.prefix = "1";
  options.strict = false;  // PyTorch's int64 num_batches_tracked is no floating parameter
  const elm::io::LoadReport report = elm::io::load_parameters(reader, norm, options);
  CHECK(report.missing_keys.empty());
  CHECK(report.unexpected_keys == std::vector<std::string>{"1.num_batches_tracked"});
  norm.set_num_batches_tracked(reader.read_vector<std::int64_t>("1.num_batches_tracked").at(0));
  CHECK(norm.num_batches_tracked() == f.dim("num_batches_tracked"));

  const ImageShape shape{f.dim("batch"), f.dim("height"), f.dim("width")};
  Matrix<float> h, y;
  conv.forward(f.matrix<float>("x"), shape, h);
  norm.forward(h, y);  // inference: the running statistics PyTorch saved
  CHECK(relative_error<float>("y", y, f.matrix<double>("y")) < parity_tolerance<float>());
}

TEST_CASE("Convolution and BatchNorm parameters and running statistics survive a checkpoint", "[cnn][io]") {
  elm::Rng rng(3);
  elm::nn::Conv1d<float> conv(elm::nn::Conv1dConfig{3, 4, 3, 2, 1}, rng);
  BatchNorm2d<float> norm(BatchNormConfig{4, 1e-5, 0.5});
  // a training step moves the running statistics away from their initial values
  Matrix<float> x(4, 6), y, dx;
  rng.fill_normal(x, 1.0, 2.0);
  BatchNorm2d<float>::Cache cache;
  norm.forward(x, y, &cache, ForwardContext::train_deterministic());
  norm.backward(cache, Matrix<float>::Ones(4, 6), dx);
  const auto dir = elm_test::fresh_directory("cnn-checkpoint");
  std::filesystem::create_directories(dir);
  elm::io::save_parameters((dir / "conv.safetensors").string(), conv);
  elm::io::save_parameters((dir / "norm.safetensors").string(), norm);
  elm::nn::Conv1d<float> conv2(elm::nn::Conv1dConfig{3, 4, 3, 2, 1});
  BatchNorm2d<float> norm2(BatchNormConfig{4, 1e-5, 0.5});
  elm::io::load_parameters((dir / "conv.safetensors").string(), conv2);
  elm::io::load_parameters((dir / "norm.safetensors").string(), norm2);
  CHECK(conv2.weight().value == conv.weight().value);
  CHECK(conv2.bias().value == conv.bias().value);
  CHECK(norm2.running_mean().value == norm.running_mean().value);
  CHECK(norm2.running_var().value == norm.running_var().value);
  CHECK(norm2.running_var().value != Matrix<float>::Ones(4, 1));
  Matrix<float> y1, y2;
  norm.forward(x, y1);
  norm2.forward(x, y2);
  CHECK(y1 == y2);
}
