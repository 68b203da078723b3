// SPDX-License-Identifier: MIT
// Test program: saves randomly initialised BERT models (BertModel, BertForMaskedLM, BertForSequenceClassification)
// as Hugging Face directories, with elm's outputs for a fixed padded batch beside each, for
// tools/check_bert_saved.py to load in transformers and compare.
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../models/bert_random.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"

namespace {

using elm::Index;
using elm::Matrix;
using elm::io::Dtype;
using elm::models::Bert;
using elm::models::BertBatch;
using elm::models::BertConfig;
using elm::models::BertForMaskedLM;
using elm::models::BertForSequenceClassification;

// A (rows, cols) matrix as a list of its columns: (V, B T) logits become [B T][V], what the script reshapes.
nlohmann::json columns(const Matrix<float>& m) {
  nlohmann::json out = nlohmann::json::array();
  for (Index c = 0; c < m.cols(); ++c) out.push_back(std::vector<float>(m.col(c).data(), m.col(c).data() + m.rows()));
  return out;
}

// Saves `model` as OUT/<name>/ in dtype and writes OUT/<name>.json: the class, the batch and elm's outputs of the
// saved model (reloaded: it holds the weights rounded to the file's dtype).
template <typename Model>
void save_case(const std::filesystem::path& out, const std::string& name, const Model& model, Dtype dtype,
               const std::vector<Index>& lengths) {
  const std::string directory = (out / name).string();
  elm::io::save_bert_hf(model, directory, dtype);
  const Model saved = elm::io::load_bert_hf<Model>(directory);
  const BertBatch batch = bert_test::fixed_batch(saved.config(), lengths);
  nlohmann::json doc;
  doc["class"] = elm::io::detail::BertHfClass<Model>::name;
  doc["B"] = batch.batch;
  doc["input_ids"] = batch.input_ids;
  doc["token_type_ids"] = batch.token_type_ids;
  doc["attention_mask"] = batch.attention_mask;
  Matrix<float> y, pooled;
  if constexpr (std::is_same_v<Model, Bert<float>>) {
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::cout << "usage: " << argv[0] << " OUT_DIR\n"
              << "Saves small random BERT models as OUT_DIR/<case>/ (config.json, model.safetensors) and elm's\n"
              << "outputs of the saved model for a fixed padded batch as OUT_DIR/<case>.json (class, input_ids,\n"
              << "token_type_ids, attention_mask; logits, or hidden and pooled, one list per column).\n";
    return argc == 2 ? 0 : 2;
  }
  try {
    const std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out);
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
    save_case(out, "mlm_f32", bert_test::random_model<BertForMaskedLM<float>>(plain, seed++), Dtype::F32, lengths);
    save_case(out, "mlm_f16", bert_test::random_model<BertForMaskedLM<float>>(plain, seed++), Dtype::F16, lengths);
    save_case(out, "mlm_unusual_bf16", bert_test::random_model<BertForMaskedLM<float>>(unusual, seed++), Dtype::BF16,
              lengths);
    save_case(out, "classifier_unusual_f32",
              bert_test::random_model<BertForSequenceClassification<float>>(unusual, seed++), Dtype::F32, lengths);
    save_case(out, "classifier_relu_f32", bert_test::random_model<BertForSequenceClassification<float>>(relu, seed++),
              Dtype::F32, lengths);
    save_case(out, "model_f32", bert_test::random_model<Bert<float>>(plain, seed++), Dtype::F32, lengths);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
