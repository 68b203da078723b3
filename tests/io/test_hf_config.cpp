// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "elm/io/hf_config.hpp"

using Catch::Matchers::Contains;

// The keys and values of GPT-2 small's config.json as Hugging Face publishes it (abridged).
constexpr const char* gpt2_config = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_inner": null, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "vocab_size": 50257
})";

TEST_CASE("HfConfig reads typed values from a config.json", "[io][config]") {
  const auto config = elm::io::HfConfig::parse(gpt2_config, "gpt2/config.json");
  CHECK(config.get<int>("n_embd") == 768);
  CHECK(config.get<std::int64_t>("vocab_size") == 50257);
  CHECK(config.get<double>("layer_norm_epsilon") == 1e-5);
  CHECK(config.get<std::string>("activation_function") == "gelu_new");
  CHECK(config.get_or<int>("n_inner", 3072) == 3072);  // null means "use the default"
  CHECK(config.get_or<bool>("scale_attn_weights", true));
}

TEST_CASE("HfConfig names the file and key when a value is missing or mistyped", "[io][config][bad-input]") {
  const auto config = elm::io::HfConfig::parse(gpt2_config, "gpt2/config.json");
  REQUIRE_THROWS_WITH(config.get<int>("hidden_size"), Contains("gpt2/config.json") && Contains("no key 'hidden_size'"));
  REQUIRE_THROWS_WITH(config.get<int>("attn_pdrop"), Contains("key 'attn_pdrop' is 0.1, expected an integer"));
  REQUIRE_THROWS_WITH(config.get<std::string>("n_head"), Contains("expected a string"));
  REQUIRE_THROWS_AS(elm::io::HfConfig::parse("{\"a\": 1,}"), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::HfConfig::parse("[1]", "x.json"), Contains("x.json holds a JSON array, expected an object"));
  REQUIRE_THROWS_AS(elm::io::HfConfig::load("/nonexistent/config.json"), elm::IoError);
}
