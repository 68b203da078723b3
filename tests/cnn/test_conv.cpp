// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/nn/conv1d.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/linear.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::Conv1d;
using elm::nn::Conv1dConfig;
using elm::nn::Conv2d;
using elm::nn::Conv2dConfig;
using elm::nn::ImageShape;

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
               Contains("another layer's") && Contains("expected kernel taps x in_channels = 15"));
  }
}

TEST_CASE("Conv2d at a width the packed product kernel serves agrees with the definition", "[cnn][conv]") {
  // kh*kw*C_in = 288 and C_out = 192 features over 128 columns: the packed kernel's shapes unless
  // ELM_PRODUCT_KERNEL=reference (CTest runs this folder both ways); the sums below, in double, are the reference
  const Index cin = 32, cout = 192, B = 2, H = 8, W = 8;
  INFO("packed kernel: " << elm::nn::detail::dense_uses_packed_products<float>(9 * cin, cout, B * H * W));
  elm::Rng rng(17);
  Conv2d<float> conv(Conv2dConfig{cin, cout, {3, 3}, {1, 1}, {1, 1}}, rng);
  Matrix<float> x(cin, B * H * W), dy(cout, B * H * W), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  Conv2d<float>::Cache cache;
  conv.forward(x, ImageShape{B, H, W}, y, &cache);
  conv.zero_grad();
  conv.backward(cache, dy, dx);

  const float* w = conv.weight().value.data();
  Matrix<double> y_ref(cout, B * H * W), dx_ref = Matrix<double>::Zero(cin, B * H * W);
  Matrix<double> dw_ref = Matrix<double>::Zero(conv.weight().value.rows(), conv.weight().value.cols());
  for (Index o = 0; o < cout; ++o) y_ref.row(o).setConstant(double(conv.bias().value(o, 0)));
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index v = 0; v < W; ++v)
        for (Index r = 0; r < 3; ++r)
          for (Index s = 0; s < 3; ++s) {
            const Index ih = h + r - 1, iw = v + s - 1;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const Index out = (b * H + h) * W + v, in = (b * H + ih) * W + iw;
            for (Index o = 0; o < cout; ++o)
              for (Index i = 0; i < cin; ++i) {
                const Index k = ((o * cin + i) * 3 + r) * 3 + s;
                y_ref(o, out) += double(w[k]) * double(x(i, in));
                dx_ref(i, in) += double(w[k]) * double(dy(o, out));
                dw_ref.data()[k] += double(dy(o, out)) * double(x(i, in));
              }
          }
  const Matrix<double> db_ref = dy.cast<double>().rowwise().sum();
  CHECK(relative_error<float>("y", y, y_ref) < 1e-5);
  CHECK(relative_error<float>("dx", dx, dx_ref) < 1e-5);
  CHECK(relative_error<float>("dweight", conv.weight().grad, dw_ref) < 1e-5);
  CHECK(relative_error<float>("dbias", conv.bias().grad, db_ref) < 1e-5);
}
