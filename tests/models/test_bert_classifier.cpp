// SPDX-License-Identifier: MIT
// A sequence classifier headed on a pretrained BERT body (io::bert_classifier_from_pretrained), as transformers'
// BertForSequenceClassification.from_pretrained(body, num_labels=...) builds it: the body is the directory's, the
// new head has Hugging Face's initialisation, and with the same head the logits are transformers'; a
// BertForPreTraining checkpoint loads only when its next-sentence head is dropped on purpose; bad requests are
// refused with errors that say what.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../attention/fixture.hpp"
#include "../common/files.hpp"
#include "bert_fixture.hpp"
#include "../common/error_message.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"

namespace bert_classifier_test {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::models::Bert;
using elm::models::BertBatch;
using elm::models::BertForMaskedLM;
using elm::models::BertForSequenceClassification;

std::string body_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/bert/" + name; }

using bert_test::batch_of;
using bert_test::ids_of;

// The directory's tensor of each parameter of the body ("bert.<name>", stored with or without the prefix).
template <typename Scalar>
Matrix<Scalar> stored_tensor(const elm::io::SafetensorsReader& reader, const std::string& name) {
  return reader.read_matrix<Scalar>(reader.contains(name) ? name : name.substr(5));
}

// transformers' fixture: the body's directory, its batch, the freshly initialised tensors and the logits.
template <typename Scalar>
void check_classifier_from(const std::string& fixture_name) {
  INFO("fixture " << fixture_name);
  const attention_test::Fixture f = attention_test::load_fixture(fixture_name, "bert");
  const std::string body = f.meta.at("body").get<std::string>();
  const bool pretraining = body == "pretraining_tiny";
  elm::io::BertClassifierOptions options;
  options.num_labels = f.dim("num_labels");
  options.load.drop_next_sentence_head = pretraining;
  elm::Rng rng(5);
  BertForSequenceClassification<Scalar> model =
      elm::io::bert_classifier_from_pretrained<Scalar>(body_dir(body), options, rng);
  CHECK(model.config().num_labels == options.num_labels);

  // 1) the body is the directory's, bit for bit; 2) what transformers initialised afresh, elm did too: biases
  // zero, weights drawn from N(0, initializer_range^2) (not zero, within 5 standard deviations)
  const elm::io::SafetensorsReader reader(body_dir(body) + "/model.safetensors");
  const auto fresh = f.meta.at("missing_keys").get<std::set<std::string>>();
  const double range = f.meta.at("initializer_range").get<double>();
  Index loaded = 0;
  model.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    INFO("parameter " << name);
    if (fresh.count(name) != 0) {
      if (elm::io::detail::ends_with(name, "bias")) {
        CHECK(p.value.isZero());
      } else {
        CHECK(!p.value.isZero());
        CHECK(double(p.value.cwiseAbs().maxCoeff()) < 5 * range);
      }
    } else {
      CHECK(p.value == stored_tensor<Scalar>(reader, name));
      ++loaded;
    }
  });
  Index body_tensors = 0;  // the directory's body: every tensor but the heads' and the saved buffers
  for (const std::string& name : reader.names())
    body_tensors += name.compare(0, 4, "cls.") != 0 && name.find("_ids") == std::string::npos ? 1 : 0;
  CHECK(loaded == body_tensors);

  // 3) given transformers' draws for the new tensors, the logits are transformers'
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<Scalar>& p) {
    if (fresh.count(name) != 0) p.value = f.matrix<double>("head." + name).template cast<Scalar>();
  });
  const BertBatch batch = batch_of(f);
  Matrix<Scalar> logits;
  model.forward(batch, logits);
  const Matrix<double> want = f.matrix<double>("logits");
  REQUIRE(logits.rows() == want.rows());
  REQUIRE(logits.cols() == want.cols());
  const double diff = (logits.template cast<double>() - want).cwiseAbs().maxCoeff();
  INFO("logits: max abs diff " << diff << ", max |ref| " << want.cwiseAbs().maxCoeff());
  CHECK(diff < (std::is_same_v<Scalar, float> ? 1e-4 : 1e-10));  // the 1e-4 in float; rounding in double
}

TEMPLATE_TEST_CASE("A classifier headed on a pretrained body is transformers' from_pretrained(body, num_labels)",
                   "[models][bert][finetune]", float, double) {
  check_classifier_from<TestType>("cls_from_base");         // BertModel with its pooler, 3 labels
  check_classifier_from<TestType>("cls_from_mlm");          // BertForMaskedLM: the pooler is new too, 4 labels
  check_classifier_from<TestType>("cls_from_pretraining");  // BertForPreTraining, its next-sentence head dropped
}

TEST_CASE("The new head's weights follow N(0, initializer_range^2) and the seed", "[models][bert][finetune]") {
  elm::io::BertClassifierOptions options;
  options.num_labels = 15;
  elm::Rng a(3), b(3), c(4);
  const auto m1 = elm::io::bert_classifier_from_pretrained<double>(body_dir("base_tiny"), options, a);
  const auto m2 = elm::io::bert_classifier_from_pretrained<double>(body_dir("base_tiny"), options, b);
  const auto m3 = elm::io::bert_classifier_from_pretrained<double>(body_dir("base_tiny"), options, c);
  const auto weight = [](const auto& m) {
    Matrix<double> w;
    m.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<double>& p) {
      if (name == "classifier.weight") w = p.value;
    });
    return w;
  };
  CHECK(weight(m1) == weight(m2));
  CHECK(weight(m1) != weight(m3));
  // 15 x 16 = 240 draws: the sample standard deviation is within 20 % of initializer_range (0.2) with
  // probability > 0.999 (its relative standard error is 1 / sqrt(2 * 240) = 4.6 %)
  const Matrix<double> w = weight(m1);
  const double mean = w.mean();
  const double sd = std::sqrt((w.array() - mean).square().sum() / double(w.size() - 1));
  CHECK(std::abs(sd - 0.2) < 0.04);
  CHECK(std::abs(mean) < 0.05);  // 4 standard errors of the mean (0.2 / sqrt(240) = 0.013)
}

TEST_CASE("BertForPreTraining's next-sentence head is refused unless dropped on purpose",
          "[models][bert][finetune][bad-input]") {
  const std::string dir = body_dir("pretraining_tiny");
  CHECK_THROWS_WITH(elm::io::load_bert_hf<BertForMaskedLM<float>>(dir),
                    Contains("'cls.seq_relationship.") && Contains("drop_next_sentence_head"));
  elm::io::BertLoadOptions drop;
  drop.drop_next_sentence_head = true;
  const auto mlm = elm::io::load_bert_hf<BertForMaskedLM<float>>(dir, drop);
  CHECK(mlm.config().hidden_size == 16);
  elm::Rng rng(1);
  CHECK_THROWS_WITH(elm::io::bert_classifier_from_pretrained<float>(dir, {}, rng),
                    Contains("'cls.seq_relationship.") && Contains("drop_next_sentence_head"));
}

TEST_CASE("Heading a body is refused for bad requests and bodies that do not fit, naming what",
          "[models][bert][finetune][bad-input]") {
  elm::Rng rng(1);
  elm::io::BertClassifierOptions options;
  SECTION("one label: Hugging Face's regression") {
    options.num_labels = 1;
    CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { (void)elm::io::bert_classifier_from_pretrained<float>(body_dir("base_tiny"), options, rng); }),
           Contains("num_labels = 1, expected >= 2"));
  }
  SECTION("names for another number of labels") {
    options.num_labels = 3;
    options.id2label = {"a", "b"};
    CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { (void)elm::io::bert_classifier_from_pretrained<float>(body_dir("base_tiny"), options, rng); }),
           Contains("id2label has 2 names, expected none or num_labels = 3"));
  }
  SECTION("a config.json whose hidden_size is not the weights'") {
    const fs::path dir = elm_test::fresh_directory("bert-classifier-hidden");
    fs::create_directories(dir);
    fs::copy_file(body_dir("base_tiny") + "/model.safetensors", dir / "model.safetensors");
    std::ifstream in(body_dir("base_tiny") + "/config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config["hidden_size"] = 32;
    std::ofstream(dir / "config.json") << config.dump(2);
    CHECK_THAT(elm_test::error_message<elm::ShapeError>([&] { (void)elm::io::bert_classifier_from_pretrained<float>(dir.string(), options, rng); }),
           Contains("embeddings.word_embeddings.weight") && Contains("has shape [50, 16], expected [50, 32]"));
    fs::remove_all(dir);
  }
  SECTION("a classifier already") {
    CHECK_THAT(elm_test::error_message<elm::FormatError>([&] { (void)elm::io::bert_classifier_from_pretrained<float>(body_dir("cls_tiny"), options, rng); }),
           Contains("a BertForSequenceClassification already"));
  }
}

}  // namespace bert_classifier_test

namespace bert_classifier_test {

TEST_CASE("BertForSequenceClassification::loss_and_backward is transformers' loss and gradients, summed over the "
          "batch",
          "[models][bert][finetune]") {
  const attention_test::Fixture f = attention_test::load_fixture("cls_tiny", "bert");
  auto model = elm::io::load_bert_hf<BertForSequenceClassification<double>>(body_dir("cls_tiny"));
  const BertBatch batch = batch_of(f);
  const double B = double(batch.batch);
  Matrix<double> logits;
  model.zero_grad();
  const double loss = model.loss_and_backward(batch, ids_of(f.matrix<double>("labels")), {}, &logits);
  // transformers' loss is the mean over the batch: the sum is B times it
  CHECK(std::abs(loss - B * f.matrix<double>("loss")(0, 0)) < 1e-11);
  CHECK((logits - f.matrix<double>("logits")).cwiseAbs().maxCoeff() < 1e-10);
  model.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<double>& p) {
    INFO("parameter " << name);
    const Matrix<double> want = B * f.matrix<double>("grad." + name);
    CHECK((p.grad - want).cwiseAbs().maxCoeff() <= 1e-9 * std::max(1.0, want.cwiseAbs().maxCoeff()));
  });
  CHECK_THROWS_AS(model.loss_and_backward(batch, {0}), elm::ShapeError);
}

}  // namespace bert_classifier_test
