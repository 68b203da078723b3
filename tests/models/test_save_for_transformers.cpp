// SPDX-License-Identifier: MIT
// Not tests on their own: hidden test cases that save small random GPT-2 and BERT models as Hugging Face
// directories, with elm's outputs for fixed inputs beside each, into the folder named by ELM_SAVED_MODELS_DIR, for
// tools/check_gpt2_saved.py and tools/check_bert_saved.py to load in transformers and compare (CTest runs them as
// gpt2-transformers-roundtrip and bert-transformers-roundtrip). They live in this executable, not in programs of
// their own, because it already compiles every template they use.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "bert_random.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/models/gpt2.hpp"
#include "gpt2_random.hpp"

namespace save_for_transformers_test {

using elm::Index;
using elm::Matrix;
using elm::io::Dtype;

// The folder the checking script asked for; the case fails when it is not set (the cases are run only by name).
std::filesystem::path output_folder() {
  const char* folder = std::getenv("ELM_SAVED_MODELS_DIR");
  if (folder == nullptr || *folder == '\0') FAIL("set ELM_SAVED_MODELS_DIR to the folder the models go to");
  std::filesystem::create_directories(folder);
  return folder;
}

// A (rows, cols) matrix as a list of its columns: (V, B T) logits become [B T][V], what the scripts reshape.
nlohmann::json columns(const Matrix<float>& m) {
  nlohmann::json out = nlohmann::json::array();
  for (Index c = 0; c < m.cols(); ++c) out.push_back(std::vector<float>(m.col(c).data(), m.col(c).data() + m.rows()));
  return out;
}

// GPT-2: saves the model as OUT/<name>/ and writes OUT/<name>.json {"ids": [[...]], "logits": [[[...]]]} (B, T, V),
// the logits of what was saved (the reloaded model holds the weights rounded to the file's dtype).
void save_gpt2_case(const std::filesystem::path& out, const std::string& name, const elm::models::Gpt2Config& config,
                    Dtype dtype, std::uint64_t seed) {
  const std::string directory = (out / name).string();
  elm::io::save_gpt2_hf(gpt2_test::random_model<float>(config, seed), directory, dtype);
  const elm::models::Gpt2<float> saved = elm::io::load_gpt2_hf<float>(directory);
  const Index B = 2, T = std::min<Index>(6, config.n_positions), V = config.vocab_size;
  std::vector<Index> ids;
  for (Index i = 0; i < B * T; ++i) ids.push_back((7 * i + 3) % V);
  Matrix<float> logits;  // (V, B T)
  saved.forward(ids, B, {}, logits);
  nlohmann::json doc;
  doc["ids"] = nlohmann::json::array();
  doc["logits"] = nlohmann::json::array();
  for (Index b = 0; b < B; ++b) {
    nlohmann::json row = nlohmann::json::array();
    for (Index t = 0; t < T; ++t) row.push_back(ids[std::size_t(b * T + t)]);
    doc["ids"].push_back(row);
    doc["logits"].push_back(columns(Matrix<float>(logits.middleCols(b * T, T))));
  }
  std::ofstream(out / (name + ".json")) << doc.dump() << "\n";
  std::cout << "saved " << directory << " (" << elm::io::dtype_name(dtype) << ")\n";
}

// BERT: saves the model as OUT/<name>/ and writes OUT/<name>.json: the class, a fixed padded batch and elm's outputs
// of the saved model (logits, or hidden states and pooled output, one list per column).
template <typename Model>
void save_bert_case(const std::filesystem::path& out, const std::string& name, const Model& model, Dtype dtype,
                    const std::vector<Index>& lengths) {
  const std::string directory = (out / name).string();
  elm::io::save_bert_hf(model, directory, dtype);
  const Model saved = elm::io::load_bert_hf<Model>(directory);
  const elm::models::BertBatch batch = bert_test::fixed_batch(saved.config(), lengths);
  nlohmann::json doc;
  doc["class"] = elm::io::detail::BertHfClass<Model>::name;
  doc["B"] = batch.batch;
  doc["input_ids"] = batch.input_ids;
  doc["token_type_ids"] = batch.token_type_ids;
  doc["attention_mask"] = batch.attention_mask;
  Matrix<float> y, pooled;
  if constexpr (std::is_same_v<Model, elm::models::Bert<float>>) {
    saved.forward(batch, y, pooled);
    doc["hidden"] = columns(y);
    doc["pooled"] = columns(pooled);
  } else {
    saved.forward(batch, y);
    doc["logits"] = columns(y);
  }
  std::ofstream(out / (name + ".json")) << doc.dump() << "\n";
  std::cout << "saved " << directory << " (" << doc["class"].get<std::string>() << ", "
            << elm::io::dtype_name(dtype) << ")\n";
}

}  // namespace save_for_transformers_test

TEST_CASE("GPT-2 directories for transformers to load (tools/check_gpt2_saved.py)", "[.][gpt2_save_for_transformers]") {
  using namespace save_for_transformers_test;
  using elm::models::Gpt2Config;
  const std::filesystem::path out = output_folder();
  const Gpt2Config gpt2 = gpt2_test::config_of(50, 16, 16, 2, 2);  // gelu_new, 4 C, special tokens 50256
  Gpt2Config gelu = gpt2_test::config_of(37, 12, 12, 3, 3);         // every option off its default
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
  Gpt2Config relu = gpt2_test::config_of(30, 8, 8, 1, 1);
  relu.activation = elm::nn::ActivationKind::relu;
  relu.bos_token_id = std::nullopt;
  relu.eos_token_id = std::nullopt;
  save_gpt2_case(out, "gpt2_f32", gpt2, Dtype::F32, 100);
  save_gpt2_case(out, "gpt2_f16", gpt2, Dtype::F16, 101);
  save_gpt2_case(out, "gpt2_bf16", gpt2, Dtype::BF16, 102);
  save_gpt2_case(out, "gelu_f32", gelu, Dtype::F32, 103);
  save_gpt2_case(out, "relu_f32", relu, Dtype::F32, 104);
}

TEST_CASE("BERT directories for transformers to load (tools/check_bert_saved.py)", "[.][bert_save_for_transformers]") {
  using namespace save_for_transformers_test;
  using elm::models::Bert;
  using elm::models::BertConfig;
  using elm::models::BertForMaskedLM;
  using elm::models::BertForSequenceClassification;
  const std::filesystem::path out = output_folder();
  const BertConfig plain = bert_test::config_of(50, 16, 16, 2, 2, 24);  // BertConfig's defaults otherwise
  BertConfig unusual = bert_test::config_of(37, 10, 12, 2, 3, 20);      // every option off its default
  unusual.hidden_act = elm::nn::ActivationKind::gelu_tanh;
  unusual.type_vocab_size = 3;
  unusual.layer_norm_eps = 1e-7;
  unusual.initializer_range = 0.2;
  unusual.pad_token_id = 4;
  unusual.classifier_dropout = 0.3;
  unusual.num_labels = 3;
  unusual.id2label = {"negative", "neutral", "positive"};
  BertConfig relu = bert_test::config_of(30, 8, 8, 1, 1, 8);
  relu.hidden_act = elm::nn::ActivationKind::relu;
  relu.type_vocab_size = 1;
  relu.pad_token_id = std::nullopt;
  const std::vector<Index> lengths = {6, 2, 4};
  std::uint64_t seed = 200;
  save_bert_case(out, "mlm_f32", bert_test::random_model<BertForMaskedLM<float>>(plain, seed++), Dtype::F32, lengths);
  save_bert_case(out, "mlm_f16", bert_test::random_model<BertForMaskedLM<float>>(plain, seed++), Dtype::F16, lengths);
  save_bert_case(out, "mlm_unusual_bf16", bert_test::random_model<BertForMaskedLM<float>>(unusual, seed++),
                 Dtype::BF16, lengths);
  save_bert_case(out, "classifier_unusual_f32",
                 bert_test::random_model<BertForSequenceClassification<float>>(unusual, seed++), Dtype::F32, lengths);
  save_bert_case(out, "classifier_relu_f32",
                 bert_test::random_model<BertForSequenceClassification<float>>(relu, seed++), Dtype::F32, lengths);
  save_bert_case(out, "model_f32", bert_test::random_model<Bert<float>>(plain, seed++), Dtype::F32, lengths);
}
