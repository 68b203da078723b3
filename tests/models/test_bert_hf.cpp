// SPDX-License-Identifier: MIT
// BERT's Hugging Face directories: what elm saves is transformers' model.safetensors byte for byte and loads back
// bit for bit; the hub's layouts load; bad checkpoints, configs and inputs are refused with errors that say what.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "bert_random.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"

namespace bert_hf_test {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::io::Dtype;
using elm::models::Bert;
using elm::models::BertBatch;
using elm::models::BertConfig;
using elm::models::BertForMaskedLM;
using elm::models::BertForSequenceClassification;

std::string fixture_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/bert/" + name; }

fs::path fresh_directory(const std::string& name) { return elm_test::fresh_directory("bert-" + name); }
using elm_test::file_bytes;
using elm_test::write_bytes;

// Every parameter of b equals a's, bit for bit, under the same names.
template <typename Model>
void check_same_parameters(const Model& a, const Model& b) {
  using Scalar = typename Model::scalar_type;
  std::vector<std::pair<std::string, Matrix<Scalar>>> values;
  a.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    values.emplace_back(name, p.value);
  });
  std::size_t i = 0;
  b.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    INFO("parameter " << name);
    REQUIRE(i < values.size());
    CHECK(name == values[i].first);
    CHECK(p.value == values[i++].second);
  });
  CHECK(i == values.size());
}

void check_same_config(const BertConfig& a, const BertConfig& b) {
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.hidden_size == b.hidden_size);
  CHECK(a.num_hidden_layers == b.num_hidden_layers);
  CHECK(a.num_attention_heads == b.num_attention_heads);
  CHECK(a.intermediate_size == b.intermediate_size);
  CHECK(a.hidden_act == b.hidden_act);
  CHECK(a.hidden_dropout_prob == b.hidden_dropout_prob);
  CHECK(a.attention_probs_dropout_prob == b.attention_probs_dropout_prob);
  CHECK(a.max_position_embeddings == b.max_position_embeddings);
  CHECK(a.type_vocab_size == b.type_vocab_size);
  CHECK(a.initializer_range == b.initializer_range);
  CHECK(a.layer_norm_eps == b.layer_norm_eps);
  CHECK(a.pad_token_id == b.pad_token_id);
  CHECK(a.classifier_dropout == b.classifier_dropout);
  CHECK(a.num_labels == b.num_labels);
  for (Index i = 0; i < a.num_labels; ++i) CHECK(a.label_name(i) == b.label_name(i));
}

// The outputs a model gives for a batch: logits for the heads, hidden states and pooled output for the body.
template <typename Model>
Matrix<typename Model::scalar_type> outputs(const Model& model, const BertBatch& batch) {
  Matrix<typename Model::scalar_type> y, pooled;
  if constexpr (std::is_same_v<Model, Bert<typename Model::scalar_type>>) {
    model.forward(batch, y, pooled);
    y.conservativeResize(y.rows(), y.cols() + pooled.cols());
    y.rightCols(pooled.cols()) = pooled;
  } else {
    model.forward(batch, y);
  }
  return y;
}

// Loads a fixture written by save_pretrained, saves it in its own dtype: the same model.safetensors bytes, every
// config.json key elm writes with transformers' value; and the save loads back bit for bit.
template <typename Model>
void check_saved_like_transformers(const std::string& name, Dtype dtype) {
  INFO("fixture " << name);
  const fs::path dir = fresh_directory("bytes-" + name);
  const Model model = elm::io::load_bert_hf<Model>(fixture_dir(name));
  elm::io::save_bert_hf(model, dir.string(), dtype);
  CHECK(file_bytes(dir / "model.safetensors") == file_bytes(fs::path(fixture_dir(name)) / "model.safetensors"));
  const nlohmann::json ours = nlohmann::json::parse(file_bytes(dir / "config.json"));
  const nlohmann::json theirs = nlohmann::json::parse(file_bytes(fs::path(fixture_dir(name)) / "config.json"));
  for (const auto& [key, value] : ours.items()) {
    INFO("config.json key " << key);
    CHECK(value == theirs.at(key));
  }
  const Model loaded = elm::io::load_bert_hf<Model>(dir.string());
  check_same_config(model.config(), loaded.config());
  check_same_parameters(model, loaded);
  const BertBatch batch = bert_test::fixed_batch(model.config(), {5, 2});
  CHECK(outputs(model, batch) == outputs(loaded, batch));
  fs::remove_all(dir);
}

TEST_CASE("elm writes transformers' BERT model.safetensors byte for byte, and it loads back bit for bit",
          "[models][bert][save]") {
  check_saved_like_transformers<BertForMaskedLM<float>>("mlm_tiny", Dtype::F32);
  check_saved_like_transformers<BertForMaskedLM<float>>("mlm_wide", Dtype::F32);
  check_saved_like_transformers<BertForMaskedLM<float>>("mlm_tiny_f16", Dtype::F16);
  check_saved_like_transformers<BertForMaskedLM<float>>("mlm_tiny_bf16", Dtype::BF16);
  check_saved_like_transformers<BertForSequenceClassification<float>>("cls_tiny", Dtype::F32);
  check_saved_like_transformers<BertForSequenceClassification<float>>("cls_relu", Dtype::F32);
  check_saved_like_transformers<Bert<float>>("base_tiny", Dtype::F32);
}

// A classifier whose every option differs from BertConfig's defaults, so that a field the save or the load
// dropped would show.
BertConfig unusual_config() {
  BertConfig c = bert_test::config_of(37, 9, 12, 2, 3, 20);
  c.hidden_act = elm::nn::ActivationKind::gelu_tanh;
  c.hidden_dropout_prob = 0.05;
  c.attention_probs_dropout_prob = 0.0;
  c.type_vocab_size = 3;
  c.initializer_range = 0.03;
  c.layer_norm_eps = 1e-7;
  c.pad_token_id = std::nullopt;
  c.classifier_dropout = 0.25;
  c.num_labels = 3;
  c.id2label = {"negative", "neutral", "positive"};
  return c;
}

TEST_CASE("a random BERT saved by elm loads back with the same config, parameters and outputs",
          "[models][bert][save]") {
  const fs::path dir = fresh_directory("roundtrip");
  const auto classifier = bert_test::random_model<BertForSequenceClassification<float>>(unusual_config(), 1);
  elm::io::save_bert_hf(classifier, dir.string());
  const auto loaded = elm::io::load_bert_hf<BertForSequenceClassification<float>>(dir.string());
  check_same_config(classifier.config(), loaded.config());
  check_same_parameters(classifier, loaded);
  const BertBatch batch = bert_test::fixed_batch(classifier.config(), {4, 9, 1});
  CHECK(outputs(classifier, batch) == outputs(loaded, batch));
  const nlohmann::json config = nlohmann::json::parse(file_bytes(dir / "config.json"));
  CHECK(config.at("architectures") == nlohmann::json{"BertForSequenceClassification"});
  CHECK(config.at("id2label").at("2") == "positive");
  CHECK(config.at("label2id").at("neutral") == 1);
  // a body without pooler (BertForMaskedLM's) saved as BertModel loads back without one
  const Bert<float> body = bert_test::random_model<BertForMaskedLM<float>>(unusual_config(), 2).bert();
  elm::io::save_bert_hf(body, dir.string(), Dtype::F64);
  const Bert<float> body_loaded = elm::io::load_bert_hf<Bert<float>>(dir.string());
  CHECK_FALSE(body_loaded.has_pooler());
  check_same_parameters(body, body_loaded);
  // F16 cannot hold 7e4: RangeError naming the parameter, and the directory keeps the previous save
  const std::string before = file_bytes(dir / "model.safetensors");
  auto big = classifier;
  big.for_each_parameter("", [](const std::string& name, elm::nn::Parameter<float>& p) {
    if (name == "classifier.weight") p.value(1, 2) = 7e4f;
  });
  CHECK_THAT(elm_test::error_message<elm::RangeError>([&] { elm::io::save_bert_hf(big, dir.string(), Dtype::F16); }),
             Contains("'classifier.weight' holds 70000"));
  CHECK(file_bytes(dir / "model.safetensors") == before);
  fs::remove_all(dir);
}

// Rewrites a fixture's model.safetensors: each tensor passed through `rewrite` (which may rename it, drop it by
// clearing the name, or change its shape or dtype), then `extra` adds tensors.
void rewrite_weights(const std::string& fixture, const fs::path& dir,
                     const std::function<void(std::string&, std::vector<Index>&, Dtype&)>& rewrite,
                     const std::function<void(elm::io::SafetensorsWriter&)>& extra = {}) {
  fs::create_directories(dir);
  fs::copy_file(fixture_dir(fixture) + "/config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  const elm::io::SafetensorsReader original(fixture_dir(fixture) + "/model.safetensors");
  elm::io::SafetensorsWriter writer;
  for (std::string name : original.names()) {
    std::vector<Index> shape = original.info(name).shape;
    Dtype dtype = Dtype::F32;
    Matrix<float> value = original.read_matrix<float>(name);
    rewrite(name, shape, dtype);
    if (name.empty()) continue;
    if (dtype == Dtype::I32)
      writer.add(name, shape, Matrix<std::int32_t>(value.cast<std::int32_t>()), dtype);
    else
      writer.add(name, shape, value, dtype);
  }
  if (extra) extra(writer);
  writer.save((dir / "model.safetensors").string());
}

TEST_CASE("BERT loads the hub's layouts: the encoder with or without the bert. prefix, saved buffers, a stored "
          "tied decoder",
          "[models][bert][load]") {
  const fs::path dir = fresh_directory("hub-layout");
  const BertBatch batch = bert_test::fixed_batch(bert_test::config_of(50, 8, 16, 1, 1, 1), {6, 3});
  const std::vector<std::int64_t> positions = {0, 1, 2, 3, 4, 5, 6, 7};
  {  // BertModel's tensors under "bert." (as a head's file has them), with position_ids and token_type_ids
    rewrite_weights("base_tiny", dir, [](std::string& name, std::vector<Index>&, Dtype&) { name = "bert." + name; },
                    [&](elm::io::SafetensorsWriter& w) {
                      w.add("bert.embeddings.position_ids", {1, 8}, positions, Dtype::I64);
                      w.add("bert.embeddings.token_type_ids", {1, 8}, std::vector<std::int64_t>(8, 0), Dtype::I64);
                    });
    const auto reference = elm::io::load_bert_hf<Bert<float>>(fixture_dir("base_tiny"));
    const auto prefixed = elm::io::load_bert_hf<Bert<float>>(dir.string());
    check_same_parameters(reference, prefixed);
  }
  {  // BertForMaskedLM with the encoder unprefixed, and the decoder stored beside the word embeddings it is tied to
    fs::remove_all(dir);
    const elm::io::SafetensorsReader original(fixture_dir("mlm_tiny") + "/model.safetensors");
    const auto add_decoder = [&](bool tied) {
      return [&original, tied](elm::io::SafetensorsWriter& w) {
        Matrix<float> weight = original.read_matrix<float>("bert.embeddings.word_embeddings.weight");
        if (!tied) weight(0, 7) += 1.0f;
        w.add("cls.predictions.decoder.weight", original.info("bert.embeddings.word_embeddings.weight").shape, weight);
        w.add("cls.predictions.decoder.bias", {60}, original.read_matrix<float>("cls.predictions.bias"));
        w.add("embeddings.position_ids", {1, 8}, std::vector<std::int64_t>(8, 0), Dtype::I64);
      };
    };
    const auto unprefix = [](std::string& name, std::vector<Index>&, Dtype&) {
      if (name.compare(0, 5, "bert.") == 0) name = name.substr(5);
    };
    rewrite_weights("mlm_tiny", dir, unprefix, add_decoder(true));
    const auto reference = elm::io::load_bert_hf<BertForMaskedLM<float>>(fixture_dir("mlm_tiny"));
    const auto hub = elm::io::load_bert_hf<BertForMaskedLM<float>>(dir.string());
    check_same_parameters(reference, hub);
    rewrite_weights("mlm_tiny", dir, unprefix, add_decoder(false));
    CHECK_THAT(elm_test::error_message<elm::FormatError>(
                   [&] { (void)elm::io::load_bert_hf<BertForMaskedLM<float>>(dir.string()); }),
               Contains("'cls.predictions.decoder.weight' different from 'embeddings.word_embeddings.weight'") &&
                   Contains("untied decoder"));
  }
  fs::remove_all(dir);
}

TEST_CASE("a BERT config.json that describes no model this implementation has is refused, naming the file and "
          "the key",
          "[models][bert][bad-input]") {
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"heads", [](nlohmann::json& c) { c["num_attention_heads"] = 3; },
       "heads H = 3 does not divide the width C = 16"},
      {"zero-layers", [](nlohmann::json& c) { c["num_hidden_layers"] = 0; }, "layers = 0"},
      {"negative-vocab", [](nlohmann::json& c) { c["vocab_size"] = -60; }, "vocab_size = -60, expected 0 < vocab_size <= 2^31"},
      {"no-types", [](nlohmann::json& c) { c["type_vocab_size"] = 0; }, "type_vocab_size = 0, expected 0 < type_vocab_size <= 2^31"},
      {"pad-outside", [](nlohmann::json& c) { c["pad_token_id"] = 60; },
       "pad_token_id = 60, expected 0 <= pad_token_id < vocab_size = 60"},
      {"dropout", [](nlohmann::json& c) { c["hidden_dropout_prob"] = 1.5; }, "dropout = 1.5"},
      {"classifier-dropout", [](nlohmann::json& c) { c["classifier_dropout"] = 1.0; }, "classifier_dropout = 1"},
      {"epsilon", [](nlohmann::json& c) { c["layer_norm_eps"] = 0; }, "layer_norm_eps = 0, expected > 0"},
      {"float-size", [](nlohmann::json& c) { c["hidden_size"] = 16.5; }, "key 'hidden_size' is 16.5"},
      {"no-positions", [](nlohmann::json& c) { c.erase("max_position_embeddings"); },
       "has no key 'max_position_embeddings'"},
      {"model-type", [](nlohmann::json& c) { c["model_type"] = "roberta"; }, "model_type is \"roberta\""},
      {"architecture", [](nlohmann::json& c) { c["architectures"] = {"BertForTokenClassification"}; },
       "architectures names \"BertForTokenClassification\""},
      {"activation", [](nlohmann::json& c) { c["hidden_act"] = "silu"; }, "hidden_act is \"silu\""},
      {"relative-positions", [](nlohmann::json& c) { c["position_embedding_type"] = "relative_key"; },
       "position_embedding_type is \"relative_key\""},
      {"decoder", [](nlohmann::json& c) { c["is_decoder"] = true; }, "is_decoder is true"},
      {"cross-attention", [](nlohmann::json& c) { c["add_cross_attention"] = true; }, "add_cross_attention is true"},
      {"labels", [](nlohmann::json& c) { c["id2label"] = {{"0", "a"}, {"2", "b"}}; },
       "id2label has no name for label 1"},
      {"untied", [](nlohmann::json& c) { c["tie_word_embeddings"] = false; }, "tie_word_embeddings is false"},
      // every size within its cap (2^31), but 2^20 layers of width 2^12 are 2.1e14 parameters (850 TB in float):
      // refused from the weights file's size before the model is built
      {"beyond-weights",
       [](nlohmann::json& c) {
         c["num_hidden_layers"] = 1 << 20;
         c["hidden_size"] = 1 << 12;
         c["num_attention_heads"] = 1 << 6;
       },
       "parameters, but"},
  };
  const fs::path dir = fresh_directory("bad-config");
  for (const Case& c : cases) {
    INFO("case " << c.name);
    fs::remove_all(dir);
    rewrite_weights("mlm_tiny", dir, [](std::string&, std::vector<Index>&, Dtype&) {});
    nlohmann::json config = nlohmann::json::parse(file_bytes(dir / "config.json"));
    c.edit(config);
    write_bytes(dir / "config.json", config.dump(2));
    const std::string message = elm_test::error_message<elm::FormatError>(
        [&] { (void)elm::io::load_bert_hf<BertForMaskedLM<float>>(dir.string()); });
    CHECK_THAT(message, Contains((dir / "config.json").string()) && Contains(c.message));
  }
  fs::remove_all(dir);
}

TEST_CASE("BERT weights that do not fit are refused, naming the file and the tensor", "[models][bert][bad-input]") {
  const fs::path dir = fresh_directory("bad-weights");
  const auto load_error = [&](auto model_tag) {
    using Model = decltype(model_tag);
    try {
      (void)elm::io::load_bert_hf<Model>(dir.string());
    } catch (const elm::Error& e) {
      return std::string(e.what());
    }
    FAIL("load_bert_hf accepted " << dir.string());
    return std::string();
  };
  const BertForMaskedLM<float> mlm_tag(bert_test::config_of(4, 2, 2, 1, 1, 1));
  const auto keep = [](std::string&, std::vector<Index>&, Dtype&) {};
  SECTION("a tensor of the wrong shape") {
    rewrite_weights("mlm_tiny", dir, [](std::string& name, std::vector<Index>& shape, Dtype&) {
      if (name == "bert.encoder.layer.1.intermediate.dense.weight") shape = {16, 24};
    });
    CHECK_THAT(load_error(mlm_tag),
               Contains("'bert.encoder.layer.1.intermediate.dense.weight'") && Contains("expected [24, 16]"));
  }
  SECTION("a missing tensor") {
    rewrite_weights("mlm_tiny", dir, [](std::string& name, std::vector<Index>&, Dtype&) {
      if (name == "cls.predictions.transform.dense.bias") name.clear();
    });
    CHECK_THAT(load_error(mlm_tag), Contains("no tensor for parameter 'cls.predictions.transform.dense.bias'"));
  }
  SECTION("a tensor BERT does not have") {
    rewrite_weights("mlm_tiny", dir, keep, [](elm::io::SafetensorsWriter& w) {
      w.add("cls.seq_relationship.weight", {2, 16}, Matrix<float>(Matrix<float>::Zero(16, 2)));
    });
    CHECK_THAT(load_error(mlm_tag), Contains("'cls.seq_relationship.weight', which BertForMaskedLM does not have"));
  }
  SECTION("integer weights") {
    rewrite_weights("mlm_tiny", dir, [](std::string& name, std::vector<Index>&, Dtype& dtype) {
      if (name == "cls.predictions.bias") dtype = Dtype::I32;
    });
    CHECK_THAT(load_error(mlm_tag), Contains("'cls.predictions.bias'") && Contains("is I32"));
  }
  SECTION("another model's weights: a masked LM's directory read as BertModel") {
    rewrite_weights("mlm_tiny", dir, keep);
    CHECK_THAT(load_error(Bert<float>(bert_test::config_of(4, 2, 2, 1, 1, 1))),
               Contains("'cls.predictions.bias', which BertModel does not have"));
  }
  SECTION("no model.safetensors, but a PyTorch pickle: the conversion is named") {
    fs::create_directories(dir);
    fs::copy_file(fixture_dir("cls_tiny") + "/config.json", dir / "config.json");
    write_bytes(dir / "pytorch_model.bin", "not read");
    CHECK_THAT(load_error(BertForSequenceClassification<float>(bert_test::config_of(4, 2, 2, 1, 1, 1))),
               Contains("convert it once with") && Contains("transformers.BertForSequenceClassification"));
    fs::remove(dir / "pytorch_model.bin");
    CHECK_THAT(load_error(mlm_tag), Contains("has no model.safetensors"));
  }
  fs::remove_all(dir);
}

TEST_CASE("BERT refuses inconsistent configs and inputs it cannot take, saying what is wrong",
          "[models][bert][bad-input]") {
  using elm_test::error_message;
  // configs
  BertConfig config = bert_test::config_of(30, 6, 10, 1, 4, 12);
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { Bert<float> m(config); }),
             Contains("heads H = 4 does not divide the width C = 10"));
  config = bert_test::config_of(30, 6, 8, 1, 2, 12);
  config.id2label = {"a", "b", "c"};
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { BertForSequenceClassification<float> m(config); }),
             Contains("id2label has 3 names, expected num_labels = 2"));
  config.id2label.clear();
  config.pad_token_id = 30;
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { Bert<float> m(config); }), Contains("pad_token_id = 30"));
  config.pad_token_id = 0;
  // inputs
  const auto model = bert_test::random_model<BertForMaskedLM<float>>(config, 4);
  Matrix<float> logits;
  const auto forward = [&](const BertBatch& in) { return [&model, &logits, in] { model.forward(in, logits); }; };
  const BertBatch good = BertBatch::pad({{1, 2, 3}, {4, 5}}, {{0, 0, 1}, {0, 1}});
  model.forward(good, logits);
  CHECK(logits.cols() == 6);
  CHECK_THAT(error_message<elm::RangeError>(forward(BertBatch::pad({std::vector<Index>(7, 1)}))),
             Contains("sequence length T = 7 exceeds max_position_embeddings = 6"));
  CHECK_THAT(error_message<elm::RangeError>(forward(BertBatch::pad({{1, 2, 3}}, {{0, 2, 0}}))),
             Contains("token type id 2 is out of range, expected 0 <= token type id < type_vocab_size = 2"));
  CHECK_THAT(error_message<elm::RangeError>(forward(BertBatch::pad({{1, 30}}))), Contains("input id = 30"));
  CHECK_THAT(error_message<elm::InvalidArgument>(forward(BertBatch{})), Contains("a batch of zero sequences"));
  CHECK_THAT(error_message<elm::InvalidArgument>([] { (void)BertBatch::pad({}); }),
             Contains("a batch of zero sequences"));
  CHECK_THAT(error_message<elm::InvalidArgument>([] { (void)BertBatch::pad({{}, {}}); }),
             Contains("every sequence is empty"));
  BertBatch bad = good;
  bad.attention_mask[1] = 2;
  CHECK_THAT(error_message<elm::InvalidArgument>(forward(bad)), Contains("attention_mask holds 2"));
  bad = good;
  bad.token_type_ids.pop_back();
  CHECK_THAT(error_message<elm::ShapeError>(forward(bad)), Contains("token_type_ids has 5 entries"));
  bad = good;
  bad.batch = 4;
  CHECK_THAT(error_message<elm::ShapeError>(forward(bad)), Contains("expected a positive multiple of B = 4"));
}

TEST_CASE("a BERT directory's tokenizer and sentence-embedding recipe are read, and refused when elm cannot follow "
          "them",
          "[models][bert][bad-input]") {
  using elm_test::error_message;
  const fs::path dir = fresh_directory("tokenizer");
  fs::create_directories(dir);
  // no vocab.txt: the directory is named
  CHECK_THAT(error_message<elm::IoError>([&] { (void)elm::io::load_bert_tokenizer(dir.string()); }),
             Contains(dir.string() + " has no vocab.txt"));
  // a cased vocabulary with its special tokens, read with tokenizer_config.json's casing
  write_bytes(dir / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n,\nworld\n##s\n");
  write_bytes(dir / "tokenizer_config.json", R"({"do_lower_case": false, "tokenize_chinese_chars": true})");
  const elm::text::WordPieceTokenizer cased = elm::io::load_bert_tokenizer(dir.string());
  CHECK(cased.encode("Hello, worlds").ids == std::vector<Index>{2, 5, 7, 8, 9, 3});
  write_bytes(dir / "tokenizer_config.json", R"({"do_lower_case": true})");
  CHECK(elm::io::load_bert_tokenizer(dir.string()).encode("Hello").ids == std::vector<Index>{2, 6, 3});
  // a vocabulary without [MASK] or [CLS]: the missing token is named
  write_bytes(dir / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  CHECK_THAT(error_message<elm::FormatError>([&] { (void)elm::io::load_bert_tokenizer(dir.string()); }),
             Contains("vocab.txt has no mask token '[MASK]'"));
  write_bytes(dir / "vocab.txt", "[PAD]\n[UNK]\n[MASK]\n[SEP]\nhello\n");
  CHECK_THAT(error_message<elm::FormatError>([&] { (void)elm::io::load_bert_tokenizer(dir.string()); }),
             Contains("no classification token '[CLS]'"));
  // the recipe: a plain directory is mean pooling and normalisation; a sentence-transformers one as it says
  CHECK(elm::io::sentence_transformer_config(dir.string()).pooling == elm::models::SentencePooling::mean);
  fs::create_directories(dir / "1_Pooling");
  const std::string modules = R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
    {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})";
  write_bytes(dir / "modules.json", modules + "]");
  const fs::path pooling = dir / "1_Pooling" / "config.json";
  write_bytes(pooling, R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  write_bytes(dir / "sentence_bert_config.json", R"({"max_seq_length": 128, "do_lower_case": false})");
  const elm::io::SentenceTransformerConfig recipe = elm::io::sentence_transformer_config(dir.string());
  CHECK(recipe.pooling == elm::models::SentencePooling::cls);
  CHECK_FALSE(recipe.normalize);
  CHECK(recipe.max_seq_length == 128);
  const auto refused = [&] {
    return error_message<elm::FormatError>([&] { (void)elm::io::sentence_transformer_config(dir.string()); });
  };
  write_bytes(dir / "modules.json",
              modules + R"(, {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}])");
  CHECK_THAT(refused(), Contains("sentence_transformers.models.Dense") && Contains("modules.json"));
  write_bytes(dir / "modules.json", modules + "]");
  write_bytes(pooling, R"({"pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": true})");
  CHECK_THAT(refused(), Contains("sets 2 of pooling_mode_mean_tokens"));
  write_bytes(pooling, R"({"pooling_mode_weightedmean_tokens": true})");
  CHECK_THAT(refused(), Contains("pooling_mode_weightedmean_tokens is true"));
  write_bytes(pooling, R"({"pooling_mode_max_tokens": true})");
  write_bytes(dir / "sentence_bert_config.json", R"({"max_seq_length": 128, "do_lower_case": true})");
  CHECK_THAT(refused(), Contains("do_lower_case is true"));
  fs::remove_all(dir);
}

}  // namespace bert_hf_test
