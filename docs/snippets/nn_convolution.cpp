// docs/snippets/nn_convolution.cpp
#include <cstdio>
#include <string>

#include "elm/nn/activations.hpp"
#include "elm/nn/batch_norm.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/flatten.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/pooling.hpp"

int main() {
  namespace nn = elm::nn;
  elm::Rng rng(1);
  // Four 8x8 grey images: (C = 1, B*H*W), image b's pixel (h, w) in column (b*8 + h)*8 + w.
  const nn::ImageShape images{4, 8, 8};
  elm::Matrix<float> x(1, 4 * 8 * 8);
  rng.fill_normal(x, 0.0, 1.0);
  nn::Conv2d<float> conv({1, 6, {3, 3}, {1, 1}, {1, 1}}, rng);  // 3x3, stride 1, padding 1: 8x8 stays 8x8
  nn::BatchNorm2d<float> norm({6});
  nn::Activation<float> relu(nn::ActivationKind::relu);
  nn::Pool2d<float> pool({nn::Pooling::max, {2, 2}});  // stride = kernel: 8x8 -> 4x4
  nn::Flatten<float> flatten;                          // (6, B*4*4) -> (6*4*4, B), PyTorch's feature order
  nn::Linear<float> head(6 * 4 * 4, 10, rng);

  // a training forward, keeping every cache for backward
  const auto train = nn::ForwardContext::train_deterministic();
  nn::Conv2d<float>::Cache c1;
  nn::BatchNorm2d<float>::Cache c2;
  nn::Activation<float>::Cache c3;
  nn::Pool2d<float>::Cache c4;
  nn::Flatten<float>::Cache c5;
  nn::Linear<float>::Cache c6;
  elm::Matrix<float> h1, h2, h3, h4, h5, logits;
  conv.forward(x, images, h1, &c1, train);
  norm.forward(h1, h2, &c2, train);
  relu.forward(h2, h3, &c3, train);
  pool.forward(h3, conv.output_shape(images), h4, &c4, train);
  flatten.forward(h4, images.batch, h5, &c5, train);
  head.forward(h5, logits, &c6, train);
  std::printf("conv %ldx%ld, pooled %ldx%ld, flat %ldx%ld, logits %ldx%ld\n", long(h1.rows()), long(h1.cols()),
              long(h4.rows()), long(h4.cols()), long(h5.rows()), long(h5.cols()), long(logits.rows()),
              long(logits.cols()));

  // backward from a gradient of the logits, in reverse order (backward also moves BatchNorm's running statistics)
  elm::Matrix<float> d5, d4, d3, d2, d1, dx;
  head.backward(c6, elm::Matrix<float>::Ones(10, 4), d5);
  flatten.backward(c5, d5, d4);
  pool.backward(c4, d4, d3);
  relu.backward(c3, d3, d2);
  norm.backward(c2, d2, d1);
  conv.backward(c1, d1, dx);
  std::printf("dx %ldx%ld, batches tracked %ld\n", long(dx.rows()), long(dx.cols()), long(norm.num_batches_tracked()));
  conv.for_each_parameter("conv", [](const std::string& name, const nn::Parameter<float>& p) {
    std::printf("%s (%ld values)\n", name.c_str(), long(p.numel()));
  });
  norm.for_each_parameter("norm", [](const std::string& name, const nn::Parameter<float>& p) {
    std::printf("%s%s\n", name.c_str(), p.trainable ? "" : " (buffer)");
  });
}
