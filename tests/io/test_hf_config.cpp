// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>

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

TEST_CASE("HfConfig turns every JSON error into a FormatError and refuses integers outside the asked type",
          "[io][config][bad-input]") {
  // 0.1e3084 overflows a double: nlohmann-json's out_of_range exception, not a parse_error, which escaped before.
  REQUIRE_THROWS_AS(elm::io::HfConfig::parse(R"({"layer_norm_epsilon": 0.1e3084})", "c.json"), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::HfConfig::parse(R"({"x": -1e400})", "c.json"),
                      Contains("elm::io::HfConfig: c.json is not valid JSON") && Contains("number overflow"));
  REQUIRE_THROWS_WITH(elm::io::HfConfig::parse("{\"x\": \"\xff\"}", "c.json"), Contains("c.json is not valid JSON"));
  // An integer that the requested type cannot hold is refused, not wrapped (2^63 read as a negative size).
  const auto config = elm::io::HfConfig::parse(
      R"({"big": 9223372036854775808, "wide": 4294967296, "negative": -3000000000})", "c.json");
  REQUIRE_THROWS_WITH(config.get<std::int64_t>("big"),
                      Contains("key 'big' is 9223372036854775808, expected an integer from -9223372036854775808 to "
                               "9223372036854775807"));
  REQUIRE_THROWS_WITH(config.get<int>("wide"), Contains("expected an integer from -2147483648 to 2147483647"));
  REQUIRE_THROWS_WITH(config.get<int>("negative"), Contains("expected an integer from -2147483648 to 2147483647"));
  REQUIRE_THROWS_WITH(config.get<std::uint32_t>("wide"), Contains("expected an integer from 0 to 4294967295"));
  CHECK(config.get<std::uint64_t>("big") == 9223372036854775808ull);
  // A value nested 10^5 levels deep is described, not dumped into the message (dump() recurses once per level).
  const auto deep = elm::io::HfConfig::parse("{\"n\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  REQUIRE_THROWS_WITH(deep.get<int>("n"), Contains("key 'n' is a JSON array nested more than 32 levels deep"));
  const auto long_value = elm::io::HfConfig::parse("{\"n\": \"" + std::string(5000, 'x') + "\"}");
  REQUIRE_THROWS_WITH(long_value.get<int>("n"), Contains(std::string(199, 'x') + "...") && !Contains(std::string(300, 'x')));
  CHECK(config.get<std::int64_t>("negative") == -3000000000ll);
}
