// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/nn/pooling.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::GlobalPool;
using elm::nn::ImageShape;
using elm::nn::Pool1d;
using elm::nn::Pool1dConfig;
using elm::nn::Pool2d;
using elm::nn::Pool2dConfig;
using elm::nn::Pooling;

static_assert(elm::nn::is_layer_v<Pool1d<float>>, "Pool1d keeps the layer contract");
static_assert(elm::nn::is_layer_v<Pool2d<float>>, "Pool2d keeps the layer contract");
static_assert(elm::nn::is_layer_v<GlobalPool<float>>, "GlobalPool keeps the layer contract");

namespace {

Pooling mode_of(const Fixture& f) {
  return f.meta.at("mode").get<std::string>() == "max" ? Pooling::max : Pooling::average;
}

}  // namespace

TEST_CASE("Pooling on a hand-sized sequence", "[cnn][pooling]") {
  // x = (1, 5, 2, 4, 3), kernel 2, stride 2, padding 1: windows (pad, 1), (5, 2), (4, 3)
  Matrix<double> x(1, 5), y;
  x << 1, 5, 2, 4, 3;
  Pool1d<double>(Pool1dConfig{Pooling::max, 2, 2, 1}).forward(x, 1, y);
  REQUIRE(y.cols() == 3);
  CHECK(y(0, 0) == 1.0);
  CHECK(y(0, 1) == 5.0);
  CHECK(y(0, 2) == 4.0);
  Pool1d<double>(Pool1dConfig{Pooling::average, 2, 2, 1}).forward(x, 1, y);
  CHECK(y(0, 0) == Approx(0.5));  // the padding counts (count_include_pad)
  CHECK(y(0, 1) == Approx(3.5));
  Pool1d<double>(Pool1dConfig{Pooling::average, 2, 2, 1, false}).forward(x, 1, y);
  CHECK(y(0, 0) == Approx(1.0));
  GlobalPool<double>(Pooling::max).forward(x, 1, y);
  CHECK(y(0, 0) == 5.0);
}

TEMPLATE_TEST_CASE("Pool1d and Pool2d match torch.nn's MaxPool and AvgPool", "[cnn][pooling][parity]", float,
                   double) {
  SECTION("1-D") {
    const std::string name = GENERATE(as<std::string>{}, "maxpool1d_stride_padding", "maxpool1d_default_stride",
                                      "avgpool1d_include_pad", "avgpool1d_exclude_pad");
    INFO("fixture " << name);
    const Fixture f = load(name);
    Pool1d<TestType> pool(Pool1dConfig{mode_of(f), sizes(f, "kernel")[0], sizes(f, "stride")[0],
                                       sizes(f, "padding")[0], f.meta.at("count_include_pad").get<bool>()});
    check_parity<TestType>(pool, f, f.dim("batch"));
  }
  SECTION("2-D") {
    const std::string name = GENERATE(as<std::string>{}, "maxpool2d_stride_padding", "maxpool2d_default_stride",
                                      "avgpool2d_include_pad", "avgpool2d_exclude_pad");
    INFO("fixture " << name);
    const Fixture f = load(name);
    const auto k = sizes(f, "kernel"), s = sizes(f, "stride"), p = sizes(f, "padding"), hw = sizes(f, "size");
    Pool2d<TestType> pool(Pool2dConfig{mode_of(f), {k[0], k[1]}, {s[0], s[1]}, {p[0], p[1]},
                                       f.meta.at("count_include_pad").get<bool>()});
    const ImageShape shape{f.dim("batch"), hw[0], hw[1]};
    const ImageShape out = pool.output_shape(shape);
    CHECK(out.height == sizes(f, "out_size")[0]);
    CHECK(out.width == sizes(f, "out_size")[1]);
    check_parity<TestType>(pool, f, shape);
  }
}

TEMPLATE_TEST_CASE("GlobalPool matches AdaptiveMaxPool1d and AdaptiveAvgPool2d with output size 1",
                   "[cnn][pooling][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "global_max_time", "global_avg_image");
  INFO("fixture " << name);
  const Fixture f = load(name);
  GlobalPool<TestType> pool(mode_of(f));
  check_parity<TestType>(pool, f, f.dim("batch"));
}

TEST_CASE("Pooling gradients agree with central differences", "[cnn][pooling][gradcheck]") {
  elm::Rng rng(GENERATE(11u, 12u));
  const Pooling mode = GENERATE(Pooling::max, Pooling::average);
  SECTION("Pool1d, stride 2, padding 1, batch 2") {
    Pool1d<double> pool(Pool1dConfig{mode, 3, 2, 1, false});
    check_gradients(pool, random_matrix(rng, 3, 2 * 9), Index(2), rng);
  }
  SECTION("Pool2d, per-axis kernel, stride and padding, batch 2") {
    Pool2d<double> pool(Pool2dConfig{mode, {3, 2}, {2, 1}, {1, 1}});
    check_gradients(pool, random_matrix(rng, 2, 2 * 5 * 4), ImageShape{2, 5, 4}, rng);
  }
  SECTION("GlobalPool over batch 3") {
    GlobalPool<double> pool(mode);
    check_gradients(pool, random_matrix(rng, 4, 3 * 5), Index(3), rng);
  }
}

TEST_CASE("Pooling rejects bad input with clear errors", "[cnn][pooling][errors]") {
  Matrix<float> y;
  SECTION("kernel larger than the padded input") {
    Pool2d<float> pool(Pool2dConfig{Pooling::max, {5, 2}});
    const std::string m =
        error_message<elm::ShapeError>([&] { pool.forward(Matrix<float>::Zero(2, 3 * 4), ImageShape{1, 3, 4}, y); });
    CHECK_THAT(m, Contains("elm::nn::Pool2d::forward") && Contains("larger than the padded input's 3"));
    CHECK_THROWS_AS(Pool1d<float>(Pool1dConfig{Pooling::average, 4}).forward(Matrix<float>::Zero(1, 3), 1, y),
                    elm::ShapeError);
  }
  SECTION("wrong input shape and empty batch") {
    Pool1d<float> pool(Pool1dConfig{Pooling::max, 2});
    CHECK_THAT(error_message<elm::ShapeError>([&] { pool.forward(Matrix<float>::Zero(2, 7), 2, y); }),
               Contains("7 columns"));
    CHECK_THAT(error_message<elm::ShapeError>([&] { pool.forward(Matrix<float>::Zero(2, 0), 0, y); }),
               Contains("batch of at least one"));
    CHECK_THROWS_AS(GlobalPool<float>(Pooling::max).forward(Matrix<float>::Zero(2, 0), 1, y), elm::ShapeError);
    CHECK_THROWS_AS(Pool2d<float>(Pool2dConfig{Pooling::max, {2, 2}}).forward(Matrix<float>::Zero(2, 8),
                                                                              ImageShape{1, 3, 3}, y),
                    elm::ShapeError);
  }
  SECTION("bad options") {
    const std::string m =
        error_message<elm::InvalidArgument>([] { Pool2d<float>(Pool2dConfig{Pooling::max, {3, 3}, {1, 1}, {2, 1}}); });
    CHECK_THAT(m, Contains("padding at most half the kernel"));
    CHECK_THROWS_AS(Pool1d<float>(Pool1dConfig{Pooling::max, 0}), elm::InvalidArgument);
    CHECK_THROWS_AS(Pool1d<float>(Pool1dConfig{Pooling::max, 2, -1}), elm::InvalidArgument);
  }
  SECTION("backward without a forward") {
    Pool1d<float> pool(Pool1dConfig{Pooling::max, 2});
    Pool1d<float>::Cache cache;
    Matrix<float> dx;
    CHECK_THROWS_AS(pool.backward(cache, Matrix<float>::Zero(1, 0), dx), elm::InvalidArgument);
  }
}
