// SPDX-License-Identifier: MIT
// Checkpoints: every parameter saved and loaded by name; strict and all-or-nothing on load.
#include <catch2/catch.hpp>

#include <filesystem>

#include "elm/core/rng.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/nn/parameter.hpp"

namespace {

using Catch::Matchers::Contains;

// The smallest module the checkpoint functions accept: two named parameters.
template <typename Scalar>
struct TinyModule {
  elm::nn::Parameter<Scalar> weight{{4, 3}};
  elm::nn::Parameter<Scalar> bias{{4}};
  template <typename F>
  void for_each_parameter(const std::string& prefix, F&& f) {
    f(elm::nn::join_name(prefix, "proj.weight"), weight);
    f(elm::nn::join_name(prefix, "proj.bias"), bias);
  }
  template <typename F>
  void for_each_parameter(const std::string& prefix, F&& f) const {
    f(elm::nn::join_name(prefix, "proj.weight"), weight);
    f(elm::nn::join_name(prefix, "proj.bias"), bias);
  }
};

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "elm-tests-io";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace

TEMPLATE_TEST_CASE("save_parameters then load_parameters gives identical parameters", "[io][checkpoint]", float, double) {
  elm::Rng rng(7);
  TinyModule<TestType> a;
  rng.fill_normal(a.weight.value, 0.0, 1.0);
  rng.fill_normal(a.bias.value, 0.0, 1.0);
  const std::string path = temp_path("tiny.safetensors");
  elm::io::save_parameters(path, a, {{"architecture", "tiny"}});

  TinyModule<TestType> b;
  const auto metadata = elm::io::load_parameters(path, b);
  CHECK(metadata.at("architecture") == "tiny");
  CHECK(b.weight.value == a.weight.value);
  CHECK(b.bias.value == a.bias.value);
  const elm::io::SafetensorsReader reader(path);
  CHECK(reader.info("proj.weight").shape == std::vector<elm::Index>{4, 3});
  CHECK(reader.info("proj.weight").dtype == (std::is_same_v<TestType, float> ? elm::io::Dtype::F32 : elm::io::Dtype::F64));
}

TEST_CASE("save_parameters saves a const module", "[io][checkpoint]") {
  TinyModule<float> source;
  source.weight.value.setConstant(3.0f);
  source.bias.value.setConstant(-1.0f);
  const TinyModule<float>& model = source;  // saving reads the parameters only
  const std::string path = temp_path("const.safetensors");
  elm::io::save_parameters(path, model);
  TinyModule<float> loaded;
  elm::io::load_parameters(path, loaded);
  CHECK(loaded.weight.value == source.weight.value);
  CHECK(loaded.bias.value == source.bias.value);
}

TEST_CASE("load_parameters is strict and leaves the model unchanged on failure", "[io][checkpoint][bad-input]") {
  TinyModule<float> model;
  model.weight.value.setConstant(1.0f);
  model.bias.value.setConstant(2.0f);

  elm::io::SafetensorsWriter missing;
  missing.add("proj.weight", {4, 3}, elm::Matrix<float>(elm::Matrix<float>::Zero(3, 4)));
  missing.save(temp_path("missing.safetensors"));
  REQUIRE_THROWS_AS(elm::io::load_parameters(temp_path("missing.safetensors"), model), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(temp_path("missing.safetensors"), model), Contains("missing tensor 'proj.bias'"));

  elm::io::SafetensorsWriter wrong_shape;
  wrong_shape.add("proj.weight", {4, 3}, elm::Matrix<float>(elm::Matrix<float>::Zero(3, 4)));
  wrong_shape.add("proj.bias", {5}, elm::Matrix<float>(elm::Matrix<float>::Zero(5, 1)));
  wrong_shape.save(temp_path("wrong-shape.safetensors"));
  REQUIRE_THROWS_AS(elm::io::load_parameters(temp_path("wrong-shape.safetensors"), model), elm::ShapeError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(temp_path("wrong-shape.safetensors"), model), Contains("'proj.bias'") && Contains("has shape [5], expected [4]"));
  // proj.weight was readable, but nothing was assigned: the strong guarantee.
  CHECK((model.weight.value.array() == 1.0f).all());
  CHECK((model.bias.value.array() == 2.0f).all());

  elm::io::SafetensorsWriter extra;
  extra.add("proj.weight", {4, 3}, elm::Matrix<float>(elm::Matrix<float>::Zero(3, 4)));
  extra.add("proj.bias", {4}, elm::Matrix<float>(elm::Matrix<float>::Zero(4, 1)));
  extra.add("head.weight", {2}, elm::Matrix<float>(elm::Matrix<float>::Zero(2, 1)));
  extra.save(temp_path("extra.safetensors"));
  REQUIRE_THROWS_AS(elm::io::load_parameters(temp_path("extra.safetensors"), model), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(temp_path("extra.safetensors"), model), Contains("'head.weight' that the model does not have"));
}
