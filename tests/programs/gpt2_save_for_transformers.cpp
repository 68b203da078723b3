// SPDX-License-Identifier: MIT
// Test program: saves randomly initialised GPT-2 models as Hugging Face directories, with elm's logits for
// fixed token ids beside each, for tools/check_gpt2_saved.py to load in transformers and compare.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../models/gpt2_random.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"

namespace {

using elm::Index;
using elm::Matrix;
using elm::io::Dtype;
using elm::models::Gpt2;
using elm::models::Gpt2Config;

struct Case {
  std::string name;
  Gpt2Config config;
  Dtype dtype;
};

using gpt2_test::config_of;

std::vector<Case> cases() {
  const Gpt2Config gpt2 = config_of(50, 16, 16, 2, 2);  // gelu_new, 4 C, special tokens 50256 as GPT2Config
  Gpt2Config gelu = config_of(37, 12, 12, 3, 3);         // every option off its default
  gelu.n_inner = 20;
  gelu.activation = elm::nn::ActivationKind::gelu;
  gelu.layer_norm_epsilon = 1e-6;
  gelu.resid_pdrop = 0.05;
  gelu.embd_pdrop = 0.0;
  gelu.attn_pdrop = 0.2;
  gelu.initializer_range = 0.03;
  gelu.bos_token_id = 1;
  gelu.eos_token_id = 2;
  gelu.pad_token_id = 0;
  Gpt2Config relu = config_of(30, 8, 8, 1, 1);
  relu.activation = elm::nn::ActivationKind::relu;
  relu.bos_token_id = std::nullopt;
  relu.eos_token_id = std::nullopt;
  return {{"gpt2_f32", gpt2, Dtype::F32}, {"gpt2_f16", gpt2, Dtype::F16}, {"gpt2_bf16", gpt2, Dtype::BF16},
          {"gelu_f32", gelu, Dtype::F32}, {"relu_f32", relu, Dtype::F32}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::cout << "usage: " << argv[0] << " OUT_DIR\n"
              << "Saves small random GPT-2 models as OUT_DIR/<case>/ (config.json, model.safetensors) and elm's\n"
              << "logits of the saved model for fixed ids as OUT_DIR/<case>.json {\"ids\": [[...]], \"logits\": "
                 "[[[...]]]} (B, T, V).\n";
    return argc == 2 ? 0 : 2;
  }
  try {
    const std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out);
    std::uint64_t seed = 100;
    for (const Case& c : cases()) {
      const std::string directory = (out / c.name).string();
      elm::io::save_gpt2_hf(gpt2_test::random_model<float>(c.config, seed++), directory, c.dtype);
      // the logits of what was saved: the reloaded model holds the weights rounded to the file's dtype
      const Gpt2<float> saved = elm::io::load_gpt2_hf<float>(directory);
      const Index B = 2, T = std::min<Index>(6, c.config.n_positions), V = c.config.vocab_size;
      std::vector<Index> ids;
      for (Index i = 0; i < B * T; ++i) ids.push_back((7 * i + 3) % V);
      Matrix<float> logits;  // (V, B T)
      saved.forward(ids, B, {}, logits);
      nlohmann::json doc;
      doc["ids"] = nlohmann::json::array();
      doc["logits"] = nlohmann::json::array();
      for (Index b = 0; b < B; ++b) {
        nlohmann::json row = nlohmann::json::array(), rows = nlohmann::json::array();
        for (Index t = 0; t < T; ++t) {
          row.push_back(ids[std::size_t(b * T + t)]);
          const float* column = logits.col(b * T + t).data();
          rows.push_back(std::vector<float>(column, column + V));
        }
        doc["ids"].push_back(row);
        doc["logits"].push_back(rows);
      }
      std::ofstream(out / (c.name + ".json")) << doc.dump() << "\n";
      std::cout << "saved " << directory << " (" << elm::io::dtype_name(c.dtype) << ")\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
