// SPDX-License-Identifier: MIT
// Loading Hugging Face GPT-2 directories: F16 and BF16 checkpoints give transformers' logits, and every kind of
// bad directory is refused with an elm::Error that names the file and what is wrong.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"

namespace gpt2_load_test {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::models::Gpt2;

std::string fixture_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/gpt2/" + name; }

using elm_test::file_bytes;
using elm_test::write_bytes;

void load(const fs::path& dir) { (void)elm::io::load_gpt2_hf<float>(dir.string()); }

TEMPLATE_TEST_CASE("GPT-2 loaded from F16 and BF16 checkpoints gives transformers' logits of the upcast model",
                   "[models][gpt2][parity][dtype]", float, double) {
  // save_pretrained of the "tiny" model cast to float16 / bfloat16; the reference is transformers' forward of that
  // checkpoint upcast to float64 (exact), so elm must agree as closely as with an F32 checkpoint
  const std::string name = GENERATE(as<std::string>{}, "tiny_f16", "tiny_bf16");
  INFO("checkpoint " << name);
  const attention_test::Fixture f = attention_test::load_fixture(name, "gpt2");
  const Gpt2<TestType> model = elm::io::load_gpt2_hf<TestType>(fixture_dir(name));
  const Matrix<double> ids_matrix = f.matrix<double>("ids");
  std::vector<Index> ids;
  for (Index i = 0; i < ids_matrix.size(); ++i) ids.push_back(static_cast<Index>(ids_matrix.data()[i]));
  Matrix<TestType> logits;
  model.forward(ids, f.dim("B"), {}, logits);
  // the 1e-4 absolute; float: 1e-5 relative to logits of order one, as for F32 checkpoints
  CHECK(attention_test::relative_error<TestType>("logits", logits, f.matrix<double>("logits")) <
        attention_test::parity_tolerance<TestType>());
}

// A copy of the "tiny" checkpoint, then changed by the case: config.json as JSON, model.safetensors as tensors.
struct BadCheckpoint {
  fs::path dir;
  explicit BadCheckpoint(const std::string& name) : dir(fs::temp_directory_path() / ("elm-tests-gpt2-bad-" + name)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(fixture_dir("tiny") + "/config.json", dir / "config.json");
    fs::copy_file(fixture_dir("tiny") + "/model.safetensors", dir / "model.safetensors");
  }
  ~BadCheckpoint() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string config_path() const { return (dir / "config.json").string(); }
  std::string weights_path() const { return (dir / "model.safetensors").string(); }

  void edit_config(const std::function<void(nlohmann::json&)>& edit) const {
    nlohmann::json config = nlohmann::json::parse(file_bytes(dir / "config.json"));
    edit(config);
    write_bytes(dir / "config.json", config.dump(2));
  }

  // Rewrites model.safetensors with the original tensors, each passed through `rewrite`, which may drop it (by
  // clearing its name), change its shape or its dtype. (A tensor GPT-2 does not have: tests/models/test_gpt2.cpp.)
  void edit_weights(const std::function<void(std::string& name, std::vector<Index>& shape, elm::io::Dtype& dtype)>&
                        rewrite) const {
    const elm::io::SafetensorsReader original(fixture_dir("tiny") + "/model.safetensors");
    elm::io::SafetensorsWriter writer;
    for (std::string name : original.names()) {
      std::vector<Index> shape = original.info(name).shape;
      elm::io::Dtype dtype = elm::io::Dtype::F32;
      const Matrix<float> value = original.read_matrix<float>(name);
      rewrite(name, shape, dtype);
      if (name.empty()) continue;
      if (dtype == elm::io::Dtype::I32)
        writer.add(name, shape, Matrix<std::int32_t>(value.cast<std::int32_t>()), dtype);
      else
        writer.add(name, shape, value, dtype);
    }
    writer.save(weights_path());
  }

  std::string load_error() const {
    try {
      (void)elm::io::load_gpt2_hf<float>(dir.string());
    } catch (const elm::Error& e) {
      return e.what();
    }
    FAIL("load_gpt2_hf accepted " << dir.string());
    return {};
  }
};

TEST_CASE("a GPT-2 config.json that describes no model this implementation has is refused, naming the file",
          "[models][gpt2][bad-input]") {
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"heads", [](nlohmann::json& c) { c["n_head"] = 3; }, "heads H = 3 does not divide the width C = 16"},
      {"negative-width", [](nlohmann::json& c) { c["n_embd"] = -16; }, "expected positive width"},
      {"zero-layers", [](nlohmann::json& c) { c["n_layer"] = 0; }, "layers = 0"},
      {"no-positions", [](nlohmann::json& c) { c["n_positions"] = 0; }, "max_positions = 0"},
      {"negative-vocab", [](nlohmann::json& c) { c["vocab_size"] = -40; }, "vocab_size = -40, expected 0 < vocab_size <= 2^31"},
      {"negative-inner", [](nlohmann::json& c) { c["n_inner"] = -1; }, "n_inner = -1, expected >= 0"},
      {"dropout", [](nlohmann::json& c) { c["resid_pdrop"] = 1.5; }, "dropout = 1.5, expected 0 <= dropout < 1"},
      {"epsilon", [](nlohmann::json& c) { c["layer_norm_epsilon"] = 0; }, "layer_norm_eps = 0, expected > 0"},
      {"float-size", [](nlohmann::json& c) { c["n_embd"] = 16.5; }, "key 'n_embd' is 16.5, expected an integer"},
      {"no-vocab", [](nlohmann::json& c) { c.erase("vocab_size"); }, "has no key 'vocab_size'"},
      {"architecture", [](nlohmann::json& c) { c["architectures"] = {"GPTNeoForCausalLM"}; },
       "architectures names \"GPTNeoForCausalLM\", expected GPT2LMHeadModel"},
      {"classifier", [](nlohmann::json& c) { c["architectures"] = {"GPT2ForSequenceClassification"}; },
       "architectures names \"GPT2ForSequenceClassification\""},
      {"architectures-string", [](nlohmann::json& c) { c["architectures"] = "GPT2LMHeadModel"; },
       "architectures is \"GPT2LMHeadModel\", expected a list of class names"},
      {"model-type", [](nlohmann::json& c) { c["model_type"] = "gpt_neo"; }, "model_type is \"gpt_neo\""},
      {"activation", [](nlohmann::json& c) { c["activation_function"] = "silu"; }, "activation_function is \"silu\""},
      {"untied", [](nlohmann::json& c) { c["tie_word_embeddings"] = false; }, "tie_word_embeddings is false"},
      {"upcast-attention", [](nlohmann::json& c) { c["reorder_and_upcast_attn"] = true; }, "reorder_and_upcast_attn"},
      {"cross-attention", [](nlohmann::json& c) { c["add_cross_attention"] = true; }, "add_cross_attention is true"},
      {"unscaled-attention", [](nlohmann::json& c) { c["scale_attn_weights"] = false; }, "scale_attn_weights"},
      {"negative-bos", [](nlohmann::json& c) { c["bos_token_id"] = -1; }, "bos_token_id = -1, expected >= 0"},
      {"eos-list", [](nlohmann::json& c) { c["eos_token_id"] = {1, 2}; }, "key 'eos_token_id' is [1,2]"},
  };
  for (const Case& c : cases) {
    INFO("case " << c.name);
    const BadCheckpoint bad(c.name);
    bad.edit_config(c.edit);
    REQUIRE_THROWS_AS(elm::io::load_gpt2_hf<float>(bad.dir.string()), elm::FormatError);
    CHECK_THAT(bad.load_error(), Contains(bad.config_path()) && Contains(c.message));
  }
  {
    const BadCheckpoint bad("not-json");
    write_bytes(bad.dir / "config.json", "{\"n_embd\": 16,");
    CHECK_THAT(bad.load_error(), Contains(bad.config_path()) && Contains("is not valid JSON"));
  }
  {  // the special tokens: absent means GPT2Config's 50256, null means none
    const BadCheckpoint ok("special-tokens");
    ok.edit_config([](nlohmann::json& c) {
      c.erase("bos_token_id");
      c["eos_token_id"] = 7;
    });
    const Gpt2<float> model = elm::io::load_gpt2_hf<float>(ok.dir.string());
    CHECK(model.config().bos_token_id == Index(50256));
    CHECK(model.config().eos_token_id == Index(7));
    CHECK_FALSE(model.config().pad_token_id.has_value());
  }
}

TEST_CASE("a GPT-2 directory without its files is refused, naming the directory and the file",
          "[models][gpt2][bad-input]") {
  const BadCheckpoint bad("files");
  const std::string missing = (bad.dir / "missing").string();
  CHECK_THAT(elm_test::error_message<elm::IoError>([&] { load(missing); }),
               Contains(missing + " is not a directory"));
  fs::remove(bad.dir / "config.json");
  CHECK_THAT(elm_test::error_message<elm::IoError>([&] { load(bad.dir); }),
               Contains(bad.dir.string() + " has no config.json"));
  fs::copy_file(fixture_dir("tiny") + "/config.json", bad.dir / "config.json");
  fs::remove(bad.dir / "model.safetensors");
  CHECK_THAT(elm_test::error_message<elm::IoError>([&] { load(bad.dir); }),
               Contains(bad.dir.string() + " has no model.safetensors"));
  write_bytes(bad.dir / "model.safetensors.index.json", "{}");
  CHECK_THAT(elm_test::error_message<elm::FormatError>([&] { load(bad.dir); }),
               Contains("holds a sharded checkpoint"));
}

TEST_CASE("GPT-2 weights that do not fit the config are refused, naming the file and the tensor",
          "[models][gpt2][bad-input]") {
  using elm::io::Dtype;
  struct Case {
    const char* name;
    std::function<void(std::string&, std::vector<Index>&, Dtype&)> rewrite;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"missing",
       [](std::string& n, std::vector<Index>&, Dtype&) {
         if (n == "transformer.h.1.mlp.c_fc.bias") n.clear();
       },
       "has no tensor for parameter 'h.1.mlp.c_fc.bias' (1 missing in all)"},
      {"shape",
       [](std::string& n, std::vector<Index>& s, Dtype&) {
         if (n == "transformer.h.0.attn.c_attn.weight") s = {48, 16};  // nn.Linear's (out, in), not Conv1D's
       },
       "tensor 'transformer.h.0.attn.c_attn.weight'"},
      {"dtype",
       [](std::string& n, std::vector<Index>&, Dtype& d) {
         if (n == "transformer.wte.weight") d = Dtype::I32;
       },
       "is I32, expected a floating-point dtype (F64, F32, F16, BF16)"},
  };
  for (const Case& c : cases) {
    INFO("case " << c.name);
    const BadCheckpoint bad(std::string("weights-") + c.name);
    bad.edit_weights(c.rewrite);
    CHECK_THAT(bad.load_error(), Contains(bad.weights_path()) && Contains(c.message));
  }
  {
    const BadCheckpoint bad("weights-shape-type");
    bad.edit_weights([](std::string& n, std::vector<Index>& s, Dtype&) {
      if (n == "transformer.h.0.attn.c_attn.weight") s = {48, 16};
    });
    CHECK_THAT(elm_test::error_message<elm::ShapeError>([&] { load(bad.dir); }),
               Contains("has shape [48, 16], expected [16, 48]"));
  }
}

TEST_CASE("a GPT-2 config.json describing far more parameters than the weights hold is refused before allocating",
          "[models][gpt2][bad-input]") {
  // Every size within its cap (2^31), but 2^20 layers of width 2^12 are 2.1e14 parameters (850 TB in float):
  // refused from the weights file's size before the model is built.
  const BadCheckpoint bad("config-beyond-weights");
  bad.edit_config([](nlohmann::json& c) {
    c["n_layer"] = 1 << 20;
    c["n_embd"] = 1 << 12;
    c["n_head"] = 1 << 6;
  });
  // 211162067378176: (V + P) C + 2 C + L (4 C^2 + 2 C F + 9 C + F) with V = 40, P = 24, C = 4096, F = 4 C, L = 2^20
  CHECK_THAT(bad.load_error(), Contains(bad.config_path()) &&
                                   Contains("describes a model of 211162067378176 parameters, but " +
                                            bad.weights_path() + " holds 7616 values"));
}

TEST_CASE("a truncated or lying model.safetensors is refused before anything is read", "[models][gpt2][bad-input]") {
  const std::string original = file_bytes(fixture_dir("tiny") + "/model.safetensors");
  {
    const BadCheckpoint bad("truncated");
    write_bytes(bad.dir / "model.safetensors", original.substr(0, original.size() - 100));
    REQUIRE_THROWS_AS(elm::io::load_gpt2_hf<float>(bad.dir.string()), elm::FormatError);
    CHECK_THAT(bad.load_error(), Contains(bad.weights_path()) && Contains("past the data section"));
  }
  {  // the 8-byte header length claims more bytes than the file holds
    const BadCheckpoint bad("header-length");
    std::string bytes = original;
    const std::uint64_t claimed = bytes.size();
    for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = static_cast<char>((claimed >> (8 * i)) & 0xFFu);
    write_bytes(bad.dir / "model.safetensors", bytes);
    CHECK_THAT(bad.load_error(), Contains(bad.weights_path()) && Contains("runs past the end of the file"));
  }
  {
    const BadCheckpoint bad("empty");
    write_bytes(bad.dir / "model.safetensors", "");
    CHECK_THAT(bad.load_error(), Contains(bad.weights_path()) && Contains("expected at least 8"));
  }
}

TEST_CASE("a loaded GPT-2 refuses ids out of range and sequences beyond its context, saying which",
          "[models][gpt2][bad-input]") {
  const Gpt2<float> model = elm::io::load_gpt2_hf<float>(fixture_dir("tiny"));  // V = 40, n_positions = 24
  Matrix<float> logits;
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.forward({1, 2, 40}, 1, {}, logits); }),
               Contains("token id = 40 is out of range, expected 0 <= token id < 40"));
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.forward({1, -1}, 1, {}, logits); }),
               Contains("token id = -1"));
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.forward(std::vector<Index>(25, 1), 1, {}, logits); }),
               Contains("exceed max_positions = 24"));
  // decoding: caches longer than the context are refused, and so is a step past the caches' end
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.make_kv_caches(1, 25); }),
               Contains("max_length = 25 exceeds max_positions = 24"));
  auto kv = model.make_kv_caches(1, 24);
  model.forward_incremental(std::vector<Index>(24, 3), kv, logits);
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.forward_incremental({3}, kv, logits); }),
               Contains("exceed"));
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { model.forward_incremental({40}, kv, logits); }),
               Contains("token id = 40"));
}

}  // namespace gpt2_load_test
