// SPDX-License-Identifier: MIT
// Checkpoints: every parameter saved and loaded by name; strict and all-or-nothing on load; loading a module from
// under a prefix of a Hugging Face style file, with a name map and transposed tensors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "elm/core/rng.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace {

using Catch::Matchers::Contains;

// The smallest module the checkpoint functions accept: two named parameters.
template <typename Scalar>
struct TinyModule {
  elm::nn::Parameter<Scalar> weight{{4, 3}};
  elm::nn::Parameter<Scalar> bias{{4}};
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(elm::nn::join_name(prefix, "proj.weight"), weight);
    f(elm::nn::join_name(prefix, "proj.bias"), bias);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    f(elm::nn::join_name(prefix, "proj.weight"), weight);
    f(elm::nn::join_name(prefix, "proj.bias"), bias);
  }
};

// A GPT-2 style block and final norm, with the module's own names and PyTorch's Linear layout: c_attn.weight is
// (out, in) = (6, 4), where Hugging Face's GPT-2 file stores the Conv1D weight (in, out) = (4, 6).
struct TinyGptBlock {
  elm::nn::Parameter<float> ln_1_weight{{4}}, ln_1_bias{{4}}, c_attn_weight{{6, 4}}, c_attn_bias{{6}};
  elm::nn::Parameter<float> ln_f_weight{{4}}, ln_f_bias{{4}};
  template <typename Self, typename F>
  static void visit(Self& self, std::string_view prefix, F&& f) {
    f(elm::nn::join_name(prefix, "h.0.ln_1.weight"), self.ln_1_weight);
    f(elm::nn::join_name(prefix, "h.0.ln_1.bias"), self.ln_1_bias);
    f(elm::nn::join_name(prefix, "h.0.attn.c_attn.weight"), self.c_attn_weight);
    f(elm::nn::join_name(prefix, "h.0.attn.c_attn.bias"), self.c_attn_bias);
    f(elm::nn::join_name(prefix, "ln_f.weight"), self.ln_f_weight);
    f(elm::nn::join_name(prefix, "ln_f.bias"), self.ln_f_bias);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) { visit(*this, prefix, f); }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const { visit(*this, prefix, f); }
};

static_assert(elm::nn::has_parameters_v<TinyModule<float>>);
static_assert(elm::nn::has_parameters_v<TinyGptBlock>);
static_assert(!elm::nn::has_parameters_v<int>);

// GPT-2's names in the file: the final norm under the old LayerNorm names, the Conv1D weight transposed.
elm::io::NameMap gpt2_names() {
  return elm::io::name_map_from(std::map<std::string, elm::io::TensorSource>{
      {"h.0.attn.c_attn.weight", {"h.0.attn.c_attn.weight", true}},
      {"ln_f.weight", {"ln_f.gamma", false}},
      {"ln_f.bias", {"ln_f.beta", false}}});
}

std::string hf_fixture() { return ELM_TEST_DATA_DIR "/io/hf_prefixed.safetensors"; }

nlohmann::json hf_fixture_values() {
  std::ifstream in(ELM_TEST_DATA_DIR "/io/hf_prefixed.json");
  return nlohmann::json::parse(in);
}

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

TEST_CASE("load_parameters in place reads the same values, and on failure keeps what it read before",
          "[io][checkpoint][bad-input]") {
  elm::Rng rng(8);
  TinyModule<float> source;
  rng.fill_normal(source.weight.value, 0.0, 1.0);
  rng.fill_normal(source.bias.value, 0.0, 1.0);
  const std::string path = temp_path("in-place.safetensors");
  elm::io::save_parameters(path, source);
  elm::io::LoadOptions options;
  options.in_place = true;
  TinyModule<float> loaded;
  const float* storage = loaded.weight.value.data();
  elm::io::load_parameters(elm::io::SafetensorsReader(path), loaded, options);
  CHECK(loaded.weight.value == source.weight.value);
  CHECK(loaded.bias.value == source.bias.value);
  CHECK(loaded.weight.value.data() == storage);  // read into the parameter's own storage

  // proj.weight is read before proj.bias is found of the wrong shape: in place, it stays read (the caller
  // discards the module), where the default load changes nothing
  elm::io::SafetensorsWriter wrong_shape;
  wrong_shape.add("proj.weight", {4, 3}, elm::Matrix<float>(elm::Matrix<float>::Constant(3, 4, 5.0f)));
  wrong_shape.add("proj.bias", {5}, elm::Matrix<float>(elm::Matrix<float>::Zero(5, 1)));
  wrong_shape.save(temp_path("in-place-wrong-shape.safetensors"));
  TinyModule<float> partial;
  REQUIRE_THROWS_AS(elm::io::load_parameters(elm::io::SafetensorsReader(temp_path("in-place-wrong-shape.safetensors")),
                                             partial, options),
                    elm::ShapeError);
  CHECK((partial.weight.value.array() == 5.0f).all());
}

TEST_CASE("load_parameters reads a module from under a prefix, with a name map and a transposed tensor",
          "[io][checkpoint][reference]") {
  const elm::io::SafetensorsReader reader(hf_fixture());
  const auto expected = hf_fixture_values();
  const auto values = [&](const std::string& name) { return expected[name]["values"].get<std::vector<double>>(); };
  TinyGptBlock block;
  elm::io::LoadOptions options;
  options.prefix = "transformer";
  options.name_map = gpt2_names();
  options.strict = false;
  const elm::io::LoadReport report = elm::io::load_parameters(reader, block, options);
  CHECK(report.missing_keys.empty());
  // The causal-mask buffer is under the prefix and no parameter reads it; lm_head.weight, input_ids, ... are
  // outside the prefix and ignored.
  CHECK(report.unexpected_keys == std::vector<std::string>{"transformer.h.0.attn.bias"});

  const auto ln_1 = values("transformer.h.0.ln_1.weight");
  for (elm::Index i = 0; i < 4; ++i) CHECK(block.ln_1_weight.value(i) == static_cast<float>(ln_1[std::size_t(i)]));
  // The file's Conv1D weight W is (in, out) = (4, 6), row-major; the module's (out, in) weight is the Eigen (in, out)
  // matrix whose entry (i, o) is W[i][o].
  const auto w = values("transformer.h.0.attn.c_attn.weight");
  REQUIRE(block.c_attn_weight.value.rows() == 4);
  REQUIRE(block.c_attn_weight.value.cols() == 6);
  for (elm::Index i = 0; i < 4; ++i)
    for (elm::Index o = 0; o < 6; ++o)
      CHECK(block.c_attn_weight.value(i, o) == static_cast<float>(w[std::size_t(i * 6 + o)]));
  // F16 (gamma) is exact in float; F64 (beta) rounds to float.
  const auto gamma = values("transformer.ln_f.gamma");
  const auto beta = values("transformer.ln_f.beta");
  for (elm::Index i = 0; i < 4; ++i) {
    CHECK(static_cast<double>(block.ln_f_weight.value(i)) == gamma[std::size_t(i)]);
    CHECK(block.ln_f_bias.value(i) == static_cast<float>(beta[std::size_t(i)]));
  }

  // Two parameters may read one tensor (tied weights): ln_f.weight tied to h.0.ln_1.weight leaves gamma unread.
  TinyGptBlock tied;
  options.name_map = [](const std::string& name) {
    if (name == "ln_f.weight") return elm::io::TensorSource{"h.0.ln_1.weight", false};
    if (name == "ln_f.bias") return elm::io::TensorSource{"ln_f.beta", false};
    return elm::io::TensorSource{name, name == "h.0.attn.c_attn.weight"};
  };
  const auto tied_report = elm::io::load_parameters(reader, tied, options);
  CHECK(tied_report.missing_keys.empty());
  std::vector<std::string> unread = tied_report.unexpected_keys;
  std::sort(unread.begin(), unread.end());
  CHECK(unread == std::vector<std::string>{"transformer.h.0.attn.bias", "transformer.ln_f.gamma"});
  CHECK(tied.ln_f_weight.value == block.ln_1_weight.value);
  CHECK(tied.ln_1_weight.value == block.ln_1_weight.value);
}

TEST_CASE("a strict load names what is missing or unexpected under the prefix and changes nothing",
          "[io][checkpoint][bad-input]") {
  const elm::io::SafetensorsReader reader(hf_fixture());
  TinyGptBlock block;
  block.ln_1_weight.value.setConstant(5.0f);
  elm::io::LoadOptions options;
  options.prefix = "transformer";
  options.name_map = gpt2_names();
  // Strict is the default: the causal-mask buffer under the prefix is an error.
  REQUIRE_THROWS_AS(elm::io::load_parameters(reader, block, options), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, block, options),
                      Contains("has tensor 'transformer.h.0.attn.bias' that the model does not have") &&
                          Contains("1 unexpected tensor(s) in all under 'transformer.'") && Contains("hf_prefixed.safetensors"));
  CHECK((block.ln_1_weight.value.array() == 5.0f).all());

  // Without the name map, ln_f.weight is looked for under its own name.
  elm::io::LoadOptions plain;
  plain.prefix = "transformer";
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, block, plain),
                      Contains("is missing tensor 'transformer.ln_f.weight' for parameter 'ln_f.weight'") &&
                          Contains("2 missing in all: 'ln_f.weight', 'ln_f.bias'"));
  CHECK((block.ln_1_weight.value.array() == 5.0f).all());

  // Not strict: the parameters the file lacks keep their values and are reported.
  plain.strict = false;
  block.ln_f_weight.value.setConstant(9.0f);
  // c_attn.weight read untransposed has the wrong shape, which throws even when not strict.
  REQUIRE_THROWS_AS(elm::io::load_parameters(reader, block, plain), elm::ShapeError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, block, plain),
                      Contains("tensor 'transformer.h.0.attn.c_attn.weight'") &&
                          Contains("(parameter 'h.0.attn.c_attn.weight')") && Contains("has shape [4, 6], expected [6, 4]"));
  CHECK((block.ln_1_weight.value.array() == 5.0f).all());
  plain.name_map = elm::io::name_map_from(
      std::map<std::string, elm::io::TensorSource>{{"h.0.attn.c_attn.weight", {"h.0.attn.c_attn.weight", true}}});
  const auto report = elm::io::load_parameters(reader, block, plain);
  CHECK(report.missing_keys == std::vector<std::string>{"ln_f.weight", "ln_f.bias"});
  std::vector<std::string> unexpected = report.unexpected_keys;  // in the file's order
  std::sort(unexpected.begin(), unexpected.end());
  CHECK(unexpected == std::vector<std::string>{"transformer.h.0.attn.bias", "transformer.ln_f.beta", "transformer.ln_f.gamma"});
  CHECK((block.ln_f_weight.value.array() == 9.0f).all());
  CHECK((block.ln_1_weight.value.array() != 5.0f).all());
}

TEST_CASE("load_parameters checks each tensor's dtype and shape against the parameter it fills",
          "[io][checkpoint][bad-input]") {
  const elm::io::SafetensorsReader reader(hf_fixture());
  TinyModule<float> module;
  module.weight.value.setConstant(1.0f);
  elm::io::LoadOptions options;
  options.strict = false;
  // An integer tensor is not a parameter.
  options.name_map = elm::io::name_map_from(std::map<std::string, std::string>{{"proj.bias", "position"}});
  REQUIRE_THROWS_AS(elm::io::load_parameters(reader, module, options), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, module, options),
                      Contains("tensor 'position'") && Contains("(parameter 'proj.bias')") &&
                          Contains("is I64, expected a floating-point dtype (F64, F32, F16, BF16) to read as float"));
  // Transposing needs two dimensions.
  options.name_map = [](const std::string& name) {
    return elm::io::TensorSource{name == "proj.bias" ? "transformer.h.0.ln_1.bias" : "lm_head.weight", true};
  };
  REQUIRE_THROWS_AS(elm::io::load_parameters(reader, module, options), elm::ShapeError);
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, module, options),
                      Contains("(parameter 'proj.bias', stored transposed)") && Contains("expected two dimensions"));
  CHECK((module.weight.value.array() == 1.0f).all());
  // lm_head.weight is (3, 4): read transposed into the (4, 3) proj.weight.
  options.name_map = [](const std::string& name) {
    return name == "proj.weight" ? elm::io::TensorSource{"lm_head.weight", true} : elm::io::TensorSource{name, false};
  };
  const auto report = elm::io::load_parameters(reader, module, options);
  CHECK(report.missing_keys == std::vector<std::string>{"proj.bias"});
  CHECK(report.unexpected_keys.size() == reader.names().size() - 1);
  CHECK(module.weight.value == reader.read_matrix<float>("lm_head.weight").transpose());

  elm::io::LoadOptions trailing;
  trailing.prefix = "transformer.";
  REQUIRE_THROWS_WITH(elm::io::load_parameters(reader, module, trailing), Contains("prefix 'transformer.'"));
  trailing.name_map = [](const std::string&) { return elm::io::TensorSource{}; };
  trailing.prefix = "";
  REQUIRE_THROWS_AS(elm::io::load_parameters(reader, module, trailing), elm::InvalidArgument);
}

TEMPLATE_TEST_CASE("a module saved under a prefix loads back from it",
                   "[io][checkpoint]", float, double) {
  elm::Rng rng(11);
  TinyModule<TestType> a;
  rng.fill_normal(a.weight.value, 0.0, 1.0);
  rng.fill_normal(a.bias.value, 0.0, 1.0);
  // Two modules in one file, as a Hugging Face checkpoint holds a body and a head; the names h.1 and h.10 share a
  // first character but not a prefix.
  elm::io::SafetensorsWriter writer;
  a.for_each_parameter("h.1", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value, elm::io::Dtype::BF16); });
  a.for_each_parameter("h.10", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
  const std::string path = temp_path("two-modules.safetensors");
  writer.save(path);
  const elm::io::SafetensorsReader reader(path);

  TinyModule<TestType> b;
  elm::io::LoadOptions options;
  options.prefix = "h.10";
  const auto report = elm::io::load_parameters(reader, b, options);
  CHECK(report.missing_keys.empty());
  CHECK(report.unexpected_keys.empty());
  CHECK(b.weight.value == a.weight.value);
  CHECK(b.bias.value == a.bias.value);
  // BF16 keeps 8 significant bits: each value within 2^-8 of the original, relatively.
  options.prefix = "h.1";
  elm::io::load_parameters(reader, b, options);
  CHECK(((b.weight.value - a.weight.value).array().abs() <= a.weight.value.array().abs() / TestType(256)).all());
  CHECK(b.weight.value != a.weight.value);

}
