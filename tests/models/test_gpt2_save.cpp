// SPDX-License-Identifier: MIT
// Saving GPT-2 as a Hugging Face directory: what elm writes loads back bit for bit, is transformers' own
// model.safetensors byte for byte, and replaces a previous save all at once or not at all.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "gpt2_random.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"

namespace gpt2_save_test {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::io::Dtype;
using elm::models::Gpt2;
using elm::models::Gpt2Config;

std::string fixture_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/gpt2/" + name; }

fs::path fresh_directory(const std::string& name) { return elm_test::fresh_directory("gpt2-save-" + name); }
using elm_test::file_bytes;
using elm_test::file_names;

// A small model whose every option differs from GPT2Config's defaults, so that a field the save or the load
// dropped would show.
Gpt2Config unusual_config() {
  Gpt2Config c = gpt2_test::config_of(37, 11, 12, 2, 3);
  c.n_inner = 20;
  c.layer_norm_epsilon = 1e-6;
  c.resid_pdrop = 0.05;
  c.embd_pdrop = 0.15;
  c.attn_pdrop = 0.0;
  c.initializer_range = 0.03;
  c.activation = elm::nn::ActivationKind::gelu;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = std::nullopt;
  return c;
}

using gpt2_test::random_model;

void check_same_config(const Gpt2Config& a, const Gpt2Config& b) {
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.n_positions == b.n_positions);
  CHECK(a.n_embd == b.n_embd);
  CHECK(a.n_layer == b.n_layer);
  CHECK(a.n_head == b.n_head);
  CHECK(a.n_inner == b.n_inner);
  CHECK(a.layer_norm_epsilon == b.layer_norm_epsilon);
  CHECK(a.resid_pdrop == b.resid_pdrop);
  CHECK(a.embd_pdrop == b.embd_pdrop);
  CHECK(a.attn_pdrop == b.attn_pdrop);
  CHECK(a.initializer_range == b.initializer_range);
  CHECK(a.activation == b.activation);
  CHECK(a.bos_token_id == b.bos_token_id);
  CHECK(a.eos_token_id == b.eos_token_id);
  CHECK(a.pad_token_id == b.pad_token_id);
}

// Every parameter of b equals a's, bit for bit (after `round`, the storage dtype's rounding).
template <typename Scalar, typename Round>
void check_same_parameters(const Gpt2<Scalar>& a, const Gpt2<Scalar>& b, Round round) {
  std::vector<Matrix<Scalar>> values;
  a.for_each_parameter("", [&](const std::string&, const elm::nn::Parameter<Scalar>& p) {
    values.push_back(p.value.unaryExpr(round));
  });
  std::size_t i = 0;
  b.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    INFO("parameter " << name);
    REQUIRE(i < values.size());
    CHECK(p.value == values[i++]);
  });
  CHECK(i == values.size());
}

const std::vector<Index> test_ids = {3, 0, 36, 7, 7, 12, 1, 30, 2, 9};  // B = 2 sequences of T = 5

TEMPLATE_TEST_CASE("a saved GPT-2 directory loads back with the same config, parameters and logits, bit for bit",
                   "[models][gpt2][save]", float, double) {
  const Gpt2Config config = GENERATE(unusual_config(), gpt2_test::config_of(50, 16, 8, 1, 2));
  const Gpt2<TestType> model = random_model<TestType>(config, 11);
  const fs::path dir = fresh_directory("roundtrip");
  // F64 keeps a double model's every bit; F32 a float model's
  const Dtype dtype = std::is_same_v<TestType, float> ? Dtype::F32 : Dtype::F64;
  elm::io::save_gpt2_hf(model, dir.string(), dtype);
  CHECK(file_names(dir) == std::vector<std::string>{"config.json", "model.safetensors"});
  const Gpt2<TestType> loaded = elm::io::load_gpt2_hf<TestType>(dir.string());
  check_same_config(model.config(), loaded.config());
  check_same_parameters(model, loaded, [](TestType v) { return v; });
  Matrix<TestType> a, b;
  model.forward(test_ids, 2, {}, a);
  loaded.forward(test_ids, 2, {}, b);
  CHECK(a == b);
  fs::remove_all(dir);
}

TEST_CASE("a GPT-2 saved as F16 or BF16 loads back as the parameters rounded to nearest even",
          "[models][gpt2][save]") {
  const Gpt2<float> model = random_model<float>(unusual_config(), 12);
  const fs::path dir = fresh_directory("half");
  for (const Dtype dtype : {Dtype::F16, Dtype::BF16}) {
    INFO("dtype " << elm::io::dtype_name(dtype));
    elm::io::save_gpt2_hf(model, dir.string(), dtype);
    const elm::io::SafetensorsReader reader((dir / "model.safetensors").string());
    CHECK(reader.info("transformer.wte.weight").dtype == dtype);
    const nlohmann::json config = nlohmann::json::parse(file_bytes(dir / "config.json"));
    CHECK(config.at("dtype") == (dtype == Dtype::F16 ? "float16" : "bfloat16"));
    const Gpt2<float> loaded = elm::io::load_gpt2_hf<float>(dir.string());
    check_same_parameters(model, loaded, [dtype](float v) {
      namespace d = elm::io::detail;
      return dtype == Dtype::F16 ? d::half_to_float(d::float_to_half(v))
                                 : d::bfloat16_to_float(d::float_to_bfloat16(v));
    });
  }
  fs::remove_all(dir);
}

TEST_CASE("elm writes transformers' model.safetensors byte for byte and config.json with its values",
          "[models][gpt2][save]") {
  // The fixtures are save_pretrained's output (tools/make_gpt2_fixtures.py): F32, and F16 / BF16 saves of the
  // same model. Loading one and saving it in its own dtype must give the same bytes.
  const auto [name, dtype] = GENERATE(std::pair{"tiny", Dtype::F32}, std::pair{"tiny_gelu", Dtype::F32},
                                      std::pair{"tiny_f16", Dtype::F16}, std::pair{"tiny_bf16", Dtype::BF16});
  INFO("fixture " << name);
  const fs::path dir = fresh_directory(std::string("bytes-") + name);
  elm::io::save_gpt2_hf(elm::io::load_gpt2_hf<float>(fixture_dir(name)), dir.string(), dtype);
  CHECK(file_bytes(dir / "model.safetensors") == file_bytes(fs::path(fixture_dir(name)) / "model.safetensors"));
  // every key elm writes has transformers' value; transformers writes a few more that GPT2LMHeadModel does not
  // use (summary_* of the double-heads model, its own version), and elm adds n_ctx, as the hub's gpt2 has it
  const nlohmann::json ours = nlohmann::json::parse(file_bytes(dir / "config.json"));
  const nlohmann::json theirs = nlohmann::json::parse(file_bytes(fs::path(fixture_dir(name)) / "config.json"));
  for (const auto& [key, value] : ours.items()) {
    INFO("config.json key " << key);
    if (key == "n_ctx")
      CHECK(value == theirs.at("n_positions"));
    else
      CHECK(value == theirs.at(key));
  }
  fs::remove_all(dir);
}

TEST_CASE("saving over a GPT-2 directory replaces both files and keeps the others", "[models][gpt2][save]") {
  const fs::path dir = fresh_directory("replace");
  const Gpt2<float> first = random_model<float>(unusual_config(), 1);
  Gpt2Config other_config = unusual_config();
  other_config.n_layer = 1;
  other_config.eos_token_id = 36;
  const Gpt2<float> second = random_model<float>(other_config, 2);
  elm::io::save_gpt2_hf(first, dir.string());
  std::ofstream(dir / "vocab.json") << "{}";  // the tokenizer's files live beside the weights
  elm::io::save_gpt2_hf(second, dir.string());
  CHECK(file_names(dir) == std::vector<std::string>{"config.json", "model.safetensors", "vocab.json"});
  CHECK(file_bytes(dir / "vocab.json") == "{}");
  const Gpt2<float> loaded = elm::io::load_gpt2_hf<float>(dir.string());
  check_same_config(second.config(), loaded.config());
  check_same_parameters(second, loaded, [](float v) { return v; });
  fs::remove_all(dir);
}

TEST_CASE("a GPT-2 save that fails leaves the previous directory as it was", "[models][gpt2][save][bad-input]") {
  const fs::path dir = fresh_directory("failing");
  Gpt2<float> model = random_model<float>(unusual_config(), 3);
  elm::io::save_gpt2_hf(model, dir.string());
  const std::string config_before = file_bytes(dir / "config.json");
  const std::string weights_before = file_bytes(dir / "model.safetensors");
  const auto unchanged = [&] {
    CHECK(file_names(dir) == std::vector<std::string>{"config.json", "model.safetensors"});  // no temporaries
    CHECK(file_bytes(dir / "config.json") == config_before);
    CHECK(file_bytes(dir / "model.safetensors") == weights_before);
  };
  Gpt2<float> changed = random_model<float>(unusual_config(), 4);

  SECTION("a value F16 cannot hold: RangeError naming the parameter, before anything is written") {
    changed.blocks().for_each_parameter("", [](const std::string& name, elm::nn::Parameter<float>& p) {
      if (name == "h.1.mlp.c_fc.weight") p.value(3, 4) = 7e4f;
    });
    const auto save_f16 = [&] { elm::io::save_gpt2_hf(changed, dir.string(), Dtype::F16); };
    CHECK_THAT(elm_test::error_message<elm::RangeError>(save_f16),
               Contains("'transformer.h.1.mlp.c_fc.weight' holds 70000") && Contains("F16 cannot represent"));
    unchanged();
  }
  SECTION("config.json cannot be replaced (a directory stands there): the new weights are taken back") {
    // as root too: rename(2) does not put a file over a directory
    fs::remove(dir / "config.json");
    fs::create_directories(dir / "config.json" / "occupied");
    REQUIRE_THROWS_WITH(elm::io::save_gpt2_hf(changed, dir.string()), Contains("config.json"));
    CHECK(file_names(dir) == std::vector<std::string>{"config.json", "model.safetensors"});
    CHECK(file_bytes(dir / "model.safetensors") == weights_before);
  }
  SECTION("a dtype that is not floating-point") {
    const auto save_i32 = [&] { elm::io::save_gpt2_hf(changed, dir.string(), Dtype::I32); };
    CHECK_THAT(elm_test::error_message<elm::InvalidArgument>(save_i32),
               Contains("dtype I32, expected F32, F16, BF16 or F64"));
    unchanged();
  }
  SECTION("a target below a regular file: IoError naming the directory") {
    const fs::path below = dir / "model.safetensors" / "sub";
    CHECK_THAT(elm_test::error_message<elm::IoError>([&] { elm::io::save_gpt2_hf(changed, below.string()); }),
               Contains("cannot create the directory " + below.string()));
    unchanged();
  }
  fs::remove_all(dir);
}

}  // namespace gpt2_save_test
