// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/nn/conv1d.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/product_kernel.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::Conv1d;
using elm::nn::Conv1dConfig;
using elm::nn::Conv2d;
using elm::nn::Conv2dConfig;
using elm::nn::ImageShape;
using elm::nn::ProductKernel;

static_assert(elm::nn::is_layer_v<Conv1d<float>>, "Conv1d keeps the layer contract");
static_assert(elm::nn::is_layer_v<Conv2d<float>>, "Conv2d keeps the layer contract");
static_assert(elm::nn::has_reset_parameters_v<Conv2d<float>>, "Conv2d initialises as PyTorch does");

namespace {

Conv1dConfig conv1d_config(const Fixture& f) {
  return {f.dim("in_channels"), f.dim("out_channels"), sizes(f, "kernel")[0], sizes(f, "stride")[0],
          sizes(f, "padding")[0], sizes(f, "dilation")[0], f.meta.at("bias").get<bool>()};
}

Conv2dConfig conv2d_config(const Fixture& f) {
  const auto k = sizes(f, "kernel"), s = sizes(f, "stride"), p = sizes(f, "padding"), d = sizes(f, "dilation");
  return {f.dim("in_channels"), f.dim("out_channels"), {k[0], k[1]}, {s[0], s[1]}, {p[0], p[1]}, {d[0], d[1]},
          f.meta.at("bias").get<bool>()};
}

ImageShape image_shape(const Fixture& f) {
  const auto hw = sizes(f, "size");
  return {f.dim("batch"), hw[0], hw[1]};
}

}  // namespace

TEST_CASE("Conv1d on a hand-sized sequence", "[cnn][conv]") {
  // one channel, kernel (1, 0, -1), bias 0.5, padding 1 over x = (1, 2, 3, 4): y_t = x_{t-1} - x_{t+1} + 0.5
  Conv1d<double> conv(Conv1dConfig{1, 1, 3, 1, 1, 1, true});
  conv.weight().value << 1, 0, -1;
  conv.bias().value << 0.5;
  Matrix<double> x(1, 4), y;
  x << 1, 2, 3, 4;
  conv.forward(x, 1, y);
  REQUIRE(y.rows() == 1);
  REQUIRE(y.cols() == 4);
  CHECK(y(0, 0) == Approx(-1.5));
  CHECK(y(0, 1) == Approx(-1.5));
  CHECK(y(0, 2) == Approx(-1.5));
  CHECK(y(0, 3) == Approx(3.5));
  CHECK(conv.output_length(4) == 4);
}

TEMPLATE_TEST_CASE("Conv1d matches torch.nn.Conv1d: output and every gradient", "[cnn][conv][parity]", float,
                   double) {
  const std::string name = GENERATE(as<std::string>{}, "conv1d_basic", "conv1d_stride_padding", "conv1d_dilation",
                                    "conv1d_whole_sequence");
  INFO("fixture " << name);
  const Fixture f = load(name);
  Conv1d<TestType> conv(conv1d_config(f));
  CHECK(conv.output_length(sizes(f, "size")[0]) == sizes(f, "out_size")[0]);
  check_parity<TestType>(conv, f, f.dim("batch"));
}

TEMPLATE_TEST_CASE("Conv2d matches torch.nn.Conv2d: output and every gradient", "[cnn][conv][parity]", float,
                   double) {
  const std::string name = GENERATE(as<std::string>{}, "conv2d_basic", "conv2d_stride_padding", "conv2d_dilation",
                                    "conv2d_odd");
  INFO("fixture " << name);
  const Fixture f = load(name);
  Conv2d<TestType> conv(conv2d_config(f));
  const ImageShape out = conv.output_shape(image_shape(f));
  CHECK(out.height == sizes(f, "out_size")[0]);
  CHECK(out.width == sizes(f, "out_size")[1]);
  check_parity<TestType>(conv, f, image_shape(f));
}

TEST_CASE("Conv1d and Conv2d gradients agree with central differences", "[cnn][conv][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u, 3u));
  SECTION("Conv1d, stride 2, padding 2, dilation 2, batch 2") {
    Conv1d<double> conv(Conv1dConfig{3, 2, 3, 2, 2, 2, true}, rng);
    check_gradients(conv, random_matrix(rng, 3, 2 * 7), Index(2), rng);
  }
  SECTION("Conv1d without bias, kernel the whole padded sequence") {
    Conv1d<double> conv(Conv1dConfig{2, 3, 6, 1, 1, 1, false}, rng);
    check_gradients(conv, random_matrix(rng, 2, 3 * 4), Index(3), rng);
  }
  SECTION("Conv2d, per-axis stride, padding and dilation, batch 2") {
    Conv2d<double> conv(Conv2dConfig{2, 3, {3, 2}, {2, 1}, {1, 2}, {1, 2}, true}, rng);
    check_gradients(conv, random_matrix(rng, 2, 2 * 5 * 4), ImageShape{2, 5, 4}, rng);
  }
}

TEST_CASE("Conv1d is Conv2d over images of one row, and a 1x1 Conv2d is a Linear on every pixel", "[cnn][conv]") {
  elm::Rng rng(GENERATE(4u, 5u));
  SECTION("Conv1d and Conv2d of height 1") {
    Conv1d<double> conv1(Conv1dConfig{3, 2, 3, 2, 1, 2, true}, rng);
    Conv2d<double> conv2(Conv2dConfig{3, 2, {1, 3}, {1, 2}, {0, 1}, {1, 2}, true});
    conv2.weight().value = conv1.weight().value;  // (out, in, k) and (out, in, 1, k): the same bytes
    conv2.bias().value = conv1.bias().value;
    const Matrix<double> x = random_matrix(rng, 3, 2 * 9);
    Matrix<double> y1, y2;
    conv1.forward(x, 2, y1);
    conv2.forward(x, ImageShape{2, 1, 9}, y2);
    CHECK(y1 == y2);
  }
  SECTION("1x1 Conv2d and Linear") {
    Conv2d<double> conv(Conv2dConfig{4, 3, {1, 1}}, rng);
    elm::nn::Linear<double> linear(4, 3);
    // (out, in, 1, 1) and (out, in): the same bytes, in Eigen matrices of other shapes
    linear.weight().value = Eigen::Map<const Matrix<double>>(conv.weight().value.data(), 4, 3);
    linear.bias().value = conv.bias().value;
    const Matrix<double> x = random_matrix(rng, 4, 2 * 3 * 5);
    Matrix<double> y_conv, y_linear;
    conv.forward(x, ImageShape{2, 3, 5}, y_conv);
    linear.forward(x, y_linear);
    CHECK((y_conv - y_linear).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("Conv reset_parameters draws PyTorch's bounds", "[cnn][conv]") {
  elm::Rng rng(7);
  Conv2d<float> conv(Conv2dConfig{4, 6, {3, 2}}, rng);
  const double bound = 1.0 / std::sqrt(4.0 * 3 * 2);
  CHECK(conv.weight().shape == std::vector<Index>{6, 4, 3, 2});
  CHECK(double(conv.weight().value.cwiseAbs().maxCoeff()) <= bound);
  CHECK(double(conv.weight().value.cwiseAbs().maxCoeff()) > 0.5 * bound);
  CHECK(double(conv.bias().value.cwiseAbs().maxCoeff()) <= bound);
  CHECK(elm::nn::count_parameters(conv) == 6 * 4 * 3 * 2 + 6);
}

TEST_CASE("Conv1d and Conv2d reject bad input with clear errors", "[cnn][conv][errors]") {
  Conv1d<float> conv1(Conv1dConfig{3, 2, 5, 1, 1, 2, true});  // spans 9 positions
  Conv2d<float> conv2(Conv2dConfig{3, 2, {3, 3}});
  Matrix<float> y;
  SECTION("kernel larger than the padded input") {
    const std::string m1 = error_message<elm::ShapeError>([&] { conv1.forward(Matrix<float>::Zero(3, 2 * 6), 2, y); });
    CHECK_THAT(m1, Contains("elm::nn::Conv1d::forward") && Contains("spans 9 positions") &&
                       Contains("larger than the padded input's 8"));
    const std::string m2 =
        error_message<elm::ShapeError>([&] { conv2.forward(Matrix<float>::Zero(3, 2 * 5), ImageShape{1, 2, 5}, y); });
    CHECK_THAT(m2, Contains("elm::nn::Conv2d::forward") && Contains("along the height"));
    CHECK_THROWS_AS(conv1.output_length(6), elm::ShapeError);
  }
  SECTION("mismatched channels") {
    const std::string m = error_message<elm::ShapeError>([&] { conv1.forward(Matrix<float>::Zero(4, 20), 2, y); });
    CHECK_THAT(m, Contains("x has 4 rows") && Contains("expected in_channels = 3"));
    CHECK_THROWS_AS(conv2.forward(Matrix<float>::Zero(2, 16), ImageShape{1, 4, 4}, y), elm::ShapeError);
  }
  SECTION("wrong input shape") {
    const std::string m1 = error_message<elm::ShapeError>([&] { conv1.forward(Matrix<float>::Zero(3, 21), 2, y); });
    CHECK_THAT(m1, Contains("21 columns") && Contains("batch = 2"));
    const std::string m2 =
        error_message<elm::ShapeError>([&] { conv2.forward(Matrix<float>::Zero(3, 30), ImageShape{2, 4, 4}, y); });
    CHECK_THAT(m2, Contains("30 columns") && Contains("= 32"));
  }
  SECTION("empty batch") {
    const std::string m1 = error_message<elm::ShapeError>([&] { conv1.forward(Matrix<float>::Zero(3, 0), 0, y); });
    CHECK_THAT(m1, Contains("batch of at least one"));
    const std::string m2 =
        error_message<elm::ShapeError>([&] { conv2.forward(Matrix<float>::Zero(3, 0), ImageShape{0, 4, 4}, y); });
    CHECK_THAT(m2, Contains("batch of at least one"));
    CHECK_THROWS_AS(conv1.forward(Matrix<float>::Zero(3, 0), 2, y), elm::ShapeError);
  }
  SECTION("bad options") {
    CHECK_THROWS_AS(Conv1d<float>(Conv1dConfig{0, 2, 3}), elm::InvalidArgument);
    CHECK_THROWS_AS(Conv1d<float>(Conv1dConfig{1, 2, 0}), elm::InvalidArgument);
    const std::string m =
        error_message<elm::InvalidArgument>([] { Conv2d<float>(Conv2dConfig{1, 1, {3, 3}, {1, 0}}); });
    CHECK_THAT(m, Contains("elm::nn::Conv2d") && Contains("expected stride > 0"));
    CHECK_THROWS_AS(Conv2d<float>(Conv2dConfig{1, 1, {3, 3}, {1, 1}, {-1, 0}}), elm::InvalidArgument);
  }
  SECTION("backward without a forward, or with a wrong dy") {
    Conv1d<float>::Cache cache;
    Matrix<float> dx;
    CHECK_THROWS_AS(conv1.backward(cache, Matrix<float>::Zero(2, 0), dx), elm::InvalidArgument);
    conv1.forward(Matrix<float>::Ones(3, 10), 1, y, &cache);
    const std::string m = error_message<elm::ShapeError>([&] { conv1.backward(cache, Matrix<float>::Zero(2, 3), dx); });
    CHECK_THAT(m, Contains("dy is 2x3") && Contains("expected 2x4"));
    Conv1d<float> other(Conv1dConfig{2, 2, 5, 1, 1, 2, true});  // the same output shape from 2 channels
    Conv1d<float>::Cache other_cache;
    other.forward(Matrix<float>::Ones(2, 10), 1, y, &other_cache);
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { conv1.backward(other_cache, y, dx); }),
               Contains("another layer's (2 input channels") && Contains("expected in_channels = 3"));
    // the same channels and output shape, another kernel: its cached geometry is not this layer's
    Conv1d<float> wider(Conv1dConfig{3, 2, 7, 1, 2, 1, true});
    Conv1d<float>::Cache wider_cache;
    wider.forward(Matrix<float>::Ones(3, 10), 1, y, &wider_cache);
    REQUIRE(y.cols() == 8);
    Conv1d<float> narrower(Conv1dConfig{3, 2, 3, 1, 0, 1, true});
    CHECK_THAT(error_message<elm::InvalidArgument>([&] { narrower.backward(wider_cache, y, dx); }),
               Contains("another layer's") && Contains("kernel 1x7") && Contains("kernel 1x3"));
  }
}

namespace {

// Conv2d's output and gradients by their definition, summed in double: y = b + sum over taps of W x, and the
// adjoint sums for dx, dweight and dbias.
struct Conv2dDefinition {
  Matrix<double> y, dx, dweight, dbias;
};

Conv2dDefinition conv2d_definition(const Conv2d<float>& conv, const Matrix<float>& x, const Matrix<float>& dy,
                                   const ImageShape& in) {
  const Conv2dConfig& c = conv.config();
  const ImageShape out = conv.output_shape(in);
  const float* w = conv.weight().value.data();
  Conv2dDefinition d;
  d.y = Matrix<double>::Zero(c.out_channels, out.batch * out.height * out.width);
  d.dx = Matrix<double>::Zero(c.in_channels, in.batch * in.height * in.width);
  d.dweight = Matrix<double>::Zero(conv.weight().value.rows(), conv.weight().value.cols());
  if (c.bias)
    for (Index o = 0; o < c.out_channels; ++o) d.y.row(o).setConstant(double(conv.bias().value(o, 0)));
  for (Index b = 0; b < in.batch; ++b)
    for (Index h = 0; h < out.height; ++h)
      for (Index v = 0; v < out.width; ++v)
        for (Index r = 0; r < c.kernel.height; ++r)
          for (Index s = 0; s < c.kernel.width; ++s) {
            const Index ih = h * c.stride.height - c.padding.height + r * c.dilation.height;
            const Index iw = v * c.stride.width - c.padding.width + s * c.dilation.width;
            if (ih < 0 || ih >= in.height || iw < 0 || iw >= in.width) continue;
            const Index o_col = (b * out.height + h) * out.width + v, i_col = (b * in.height + ih) * in.width + iw;
            for (Index o = 0; o < c.out_channels; ++o)
              for (Index i = 0; i < c.in_channels; ++i) {
                const Index k = ((o * c.in_channels + i) * c.kernel.height + r) * c.kernel.width + s;
                d.y(o, o_col) += double(w[k]) * double(x(i, i_col));
                d.dx(i, i_col) += double(w[k]) * double(dy(o, o_col));
                d.dweight.data()[k] += double(dy(o, o_col)) * double(x(i, i_col));
              }
          }
  d.dbias = dy.cast<double>().rowwise().sum();
  return d;
}

// Runs conv forward and backward on random x and dy and checks them against the definition.
void check_against_definition(const Conv2dConfig& config, const ImageShape& in, std::uint64_t seed) {
  elm::Rng rng(seed);
  Conv2d<float> conv(config, rng);
  const ImageShape out = conv.output_shape(in);
  Matrix<float> x(config.in_channels, in.batch * in.height * in.width);
  Matrix<float> dy(config.out_channels, out.batch * out.height * out.width), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  Conv2d<float>::Cache cache;
  conv.forward(x, in, y, &cache);
  conv.zero_grad();
  conv.backward(cache, dy, dx);
  const Conv2dDefinition d = conv2d_definition(conv, x, dy, in);
  CHECK(relative_error<float>("y", y, d.y) < 1e-5);
  CHECK(relative_error<float>("dx", dx, d.dx) < 1e-5);
  CHECK(relative_error<float>("dweight", conv.weight().grad, d.dweight) < 1e-5);
  if (config.bias) CHECK(relative_error<float>("dbias", conv.bias().grad, d.dbias) < 1e-5);
}

}  // namespace

TEST_CASE("Conv2d at a width the packed product kernel serves agrees with the definition", "[cnn][conv]") {
  // kh*kw*C_in = 288 and C_out = 192 features over 128 columns: the packed kernel's shapes unless
  // ELM_PRODUCT_KERNEL=reference (CTest runs this folder both ways); the sums of the definition, in double, are
  // the reference
  INFO("packed kernel: " << elm::nn::detail::dense_uses_packed_products<float>(9 * 32, 192, 2 * 8 * 8));
  check_against_definition(Conv2dConfig{32, 192, {3, 3}, {1, 1}, {1, 1}}, ImageShape{2, 8, 8}, 17);
}

TEST_CASE("Conv2d over many pixels (the products gathered from the image) agrees with the definition, in every "
          "product kernel", "[cnn][conv]") {
  // >= 192 output pixels: the forward product and the input gradient take the pixels as the packed side,
  // gathered from x or dy panel by panel; the weight gradient too once kh*kw*C_in >= 192 (im2col's matrix never
  // formed). Strides above 1 take the input gradient through im2col's matrix of dy^T W instead.
  const std::vector<ProductKernel> kernels = elm::nn::supported_product_kernels();
  const ProductKernel kernel = GENERATE_COPY(from_range(kernels));
  elm::nn::ScopedProductKernel scoped(kernel);
  INFO("kernel " << elm::nn::product_kernel_name(kernel));
  SECTION("3x3, padding 1, 16 -> 24 channels") {
    check_against_definition(Conv2dConfig{16, 24, {3, 3}, {1, 1}, {1, 1}}, ImageShape{2, 12, 10}, 21);
  }
  SECTION("3x3 over 24 channels: im2col's 216 rows the weight gradient's packed side, no bias") {
    check_against_definition(Conv2dConfig{24, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false}, ImageShape{1, 16, 13}, 22);
  }
  SECTION("5x3 kernel, stride (2, 1), padding (2, 0), dilation (1, 2)") {
    check_against_definition(Conv2dConfig{8, 16, {5, 3}, {2, 1}, {2, 0}, {1, 2}}, ImageShape{3, 17, 15}, 23);
  }
  SECTION("dilation 2, padding 2, stride 1") {
    check_against_definition(Conv2dConfig{12, 20, {3, 3}, {1, 1}, {2, 2}, {2, 2}}, ImageShape{2, 11, 12}, 24);
  }
  SECTION("one input channel (a first layer) and 16 output channels") {
    check_against_definition(Conv2dConfig{1, 16, {3, 3}, {1, 1}, {1, 1}}, ImageShape{5, 8, 8}, 25);
  }
}

TEST_CASE("Conv2d through the direct products (channels in whole vectors) agrees with the definition, in every "
          "product kernel", "[cnn][conv]") {
  // channel counts that are multiples of 16 take the direct products under the AVX2 and AVX-512 kernels (the
  // im2col route under the others, which must agree as well), each product on its own: row tiles of 1 to 4 vectors, a weight-gradient
  // tile of 6 input channels and its remainder, pixels past a column table's 96, more than 16 taps, strides and
  // dilations, and more than 4096 pixels (the weight gradient in partial sums)
  const std::vector<ProductKernel> kernels = elm::nn::supported_product_kernels();
  const ProductKernel kernel = GENERATE_COPY(from_range(kernels));
  elm::nn::ScopedProductKernel scoped(kernel);
  INFO("kernel " << elm::nn::product_kernel_name(kernel));
  const bool wide = kernel == ProductKernel::avx2 || kernel == ProductKernel::avx512;
  CHECK(elm::nn::detail::direct_conv_serves<float>(32) == wide);
  CHECK_FALSE(elm::nn::detail::direct_conv_serves<float>(24 + 1));
  CHECK_FALSE(elm::nn::detail::direct_conv_serves<double>(32));
  SECTION("3x3, padding 1, 16 -> 32 channels over 297 pixels") {
    check_against_definition(Conv2dConfig{16, 32, {3, 3}, {1, 1}, {1, 1}}, ImageShape{3, 9, 11}, 31);
  }
  SECTION("5x3 kernel, stride (2, 1), padding (2, 1), dilation (1, 2), 32 -> 80 channels, no bias") {
    check_against_definition(Conv2dConfig{32, 80, {5, 3}, {2, 1}, {2, 1}, {1, 2}, false}, ImageShape{2, 13, 12},
                             32);
  }
  SECTION("5x5 kernel (25 taps), stride 3, padding 2, 48 -> 16 channels") {
    check_against_definition(Conv2dConfig{48, 16, {5, 5}, {3, 3}, {2, 2}}, ImageShape{2, 14, 16}, 33);
  }
  SECTION("3x3 over 4500 output pixels, 16 -> 16 channels") {
    check_against_definition(Conv2dConfig{16, 16, {3, 3}, {1, 1}, {1, 1}}, ImageShape{5, 30, 30}, 34);
  }
  // one side's channels in whole vectors, the other's not: the forward pass and the weight gradient direct and
  // the input gradient through im2col, or the other way round (weight-gradient tiles of 6, 2 and 1 channels)
  SECTION("1 -> 32 channels (a first layer), 3x3, padding 1") {
    check_against_definition(Conv2dConfig{1, 32, {3, 3}, {1, 1}, {1, 1}}, ImageShape{4, 8, 8}, 35);
  }
  SECTION("9 -> 16 channels, 5x3 kernel, stride (1, 2), no bias") {
    check_against_definition(Conv2dConfig{9, 16, {5, 3}, {1, 2}, {2, 1}, {1, 1}, false}, ImageShape{2, 10, 11},
                             36);
  }
  SECTION("32 -> 5 channels, stride 2, dilation 2") {
    check_against_definition(Conv2dConfig{32, 5, {3, 3}, {2, 2}, {2, 2}, {2, 2}}, ImageShape{2, 12, 13}, 37);
  }
}
