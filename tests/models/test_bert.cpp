// SPDX-License-Identifier: MIT
// BERT against Hugging Face transformers: BertModel, BertForMaskedLM and BertForSequenceClassification
// checkpoints load by their own names and give transformers' outputs, losses and gradients; a sequence's result
// does not depend on what it is batched with.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "bert_fixture.hpp"
#include "bert_random.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/quantized_weights.hpp"

namespace bert_parity_test {

using attention_test::Fixture;
using attention_test::load_fixture;
using attention_test::relative_error;
using elm::Index;
using elm::Matrix;
using elm::models::Bert;
using elm::models::BertBatch;
using elm::models::BertForMaskedLM;
using elm::models::BertForSequenceClassification;

std::string checkpoint(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/bert/" + name; }

using bert_test::batch_of;
using bert_test::ids_of;

// The tolerances in float (outputs 1e-4 absolute, the loss 1e-5, gradients 1e-4 relative to each
// tensor's largest entry); in double only the float64 reference's rounding is left.
template <typename Scalar>
struct Tolerance {
  static constexpr bool is_float = std::is_same_v<Scalar, float>;
  static constexpr double output = is_float ? 1e-4 : 1e-10;
  static constexpr double loss = is_float ? 1e-5 : 1e-12;
  static constexpr double gradient = is_float ? 1e-4 : 1e-9;
};

// max |got - want| over a tensor, printed with its scale.
template <typename Scalar>
double max_abs_diff(const std::string& what, const Matrix<Scalar>& got, const Matrix<double>& want) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  const double diff = (got.template cast<double>() - want).cwiseAbs().maxCoeff();
  UNSCOPED_INFO(what << ": max abs diff " << diff << ", max |ref| " << want.cwiseAbs().maxCoeff());
  return diff;
}

// Every parameter's gradient against the fixture's grad.<name>, relative to the tensor's largest entry. The key
// projections' biases have a zero gradient (softmax ignores what every score of a query shares): the reference
// holds rounding noise, so they are compared absolutely, against the largest gradient entry of the model.
template <typename Scalar, typename Model>
void check_gradients(const Model& model, const Fixture& f) {
  const double tol = Tolerance<Scalar>::gradient;
  double scale = 0.0;
  Index expected = 0;
  for (const auto& [name, tensor] : f.tensors)
    if (name.compare(0, 5, "grad.") == 0) {
      ++expected;
      scale = std::max(scale, f.matrix<double>(name).cwiseAbs().maxCoeff());
    }
  Index seen = 0;
  model.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    ++seen;
    INFO("parameter " << name);
    REQUIRE(f.has("grad." + name));
    const Matrix<double> want = f.matrix<double>("grad." + name);
    if (elm::io::detail::ends_with(name, "key.bias"))
      CHECK(max_abs_diff<Scalar>("grad." + name, p.grad, want) < tol * scale);
    else
      CHECK(relative_error<Scalar>("grad." + name, p.grad, want) < tol);
  });
  CHECK(seen == expected);
}

// A head loaded from a fixture's directory: its logits for the padded batch ((V, B T) for the masked LM,
// (num_labels, B) for the classifier), the loss of the fixture's labels (-100 ignored: BertForMaskedLM(labels=)
// averages over the labelled tokens) and every parameter's gradient of it; for the masked LM also the logits of a
// left-padded batch (padding before the tokens, which only a general mask describes).
template <typename Model>
void check_head(const std::string& name) {
  using Scalar = typename Model::scalar_type;
  INFO("checkpoint " << name);
  const Fixture f = load_fixture(name, "bert");
  Model model = elm::io::load_bert_hf<Model>(checkpoint(name));
  typename Model::Cache cache;
  Matrix<Scalar> logits, dlogits;
  model.forward(batch_of(f), logits, &cache);
  CHECK(max_abs_diff<Scalar>("logits", logits, f.matrix<double>("logits")) < Tolerance<Scalar>::output);
  const Scalar loss = elm::nn::cross_entropy<Scalar>(logits, ids_of(f.matrix<double>("labels")), {}, &dlogits);
  CHECK(std::abs(double(loss) - f.matrix<double>("loss")(0, 0)) < Tolerance<Scalar>::loss);
  model.zero_grad();
  model.backward(cache, dlogits);
  check_gradients<Scalar>(model, f);
  if (f.has("logits_left")) {
    model.forward(batch_of(f, "_left"), logits);
    CHECK(max_abs_diff<Scalar>("logits_left", logits, f.matrix<double>("logits_left")) < Tolerance<Scalar>::output);
  }
}

TEMPLATE_TEST_CASE("BERT's masked LM loaded from a Hugging Face directory gives transformers' logits, loss and "
                   "gradients",
                   "[models][bert][parity]", float, double) {
  check_head<BertForMaskedLM<TestType>>("mlm_tiny");  // gelu, 2 layers of 2 heads, 2 token types
  check_head<BertForMaskedLM<TestType>>("mlm_wide");  // gelu_new, 1 layer of 4 heads, 3 token types, eps 1e-6
}

TEMPLATE_TEST_CASE("BERT's sequence classifier loaded from a Hugging Face directory gives transformers' logits, "
                   "loss and gradients",
                   "[models][bert][parity]", float, double) {
  check_head<BertForSequenceClassification<TestType>>("cls_tiny");  // 3 labels, 3 layers, classifier_dropout 0.2
  // relu, 1 head, 1 token type, pad_token_id 3 (a real token too)
  check_head<BertForSequenceClassification<TestType>>("cls_relu");
}

TEMPLATE_TEST_CASE("BertModel loaded from a Hugging Face directory gives transformers' hidden states, pooled "
                   "output and gradients",
                   "[models][bert][parity]", float, double) {
  const Fixture f = load_fixture("base_tiny", "bert");
  Bert<TestType> model = elm::io::load_bert_hf<Bert<TestType>>(checkpoint("base_tiny"));
  REQUIRE(model.has_pooler());
  typename Bert<TestType>::Cache cache;
  Matrix<TestType> hidden, pooled;
  model.forward(batch_of(f), hidden, pooled, &cache);
  CHECK(max_abs_diff<TestType>("hidden", hidden, f.matrix<double>("hidden")) < Tolerance<TestType>::output);
  CHECK(max_abs_diff<TestType>("pooled", pooled, f.matrix<double>("pooled")) < Tolerance<TestType>::output);
  model.zero_grad();
  model.backward(cache, f.matrix<TestType>("g_hidden"), f.matrix<TestType>("g_pooled"));
  check_gradients<TestType>(model, f);
}

TEST_CASE("BERT loaded from F16 and BF16 checkpoints gives transformers' logits of the upcast model",
          "[models][bert][parity][dtype]") {
  // save_pretrained of mlm_tiny cast to float16 / bfloat16; the reference is transformers' forward of that
  // checkpoint upcast to float64 (exact), so elm must agree as closely as with an F32 checkpoint
  for (const std::string name : {"mlm_tiny_f16", "mlm_tiny_bf16"}) {
    INFO("checkpoint " << name);
    const Fixture f = load_fixture(name, "bert");
    const auto model = elm::io::load_bert_hf<BertForMaskedLM<float>>(checkpoint(name));
    Matrix<float> logits;
    model.forward(batch_of(f), logits);
    CHECK(max_abs_diff<float>("logits", logits, f.matrix<double>("logits")) < Tolerance<float>::output);
  }
}

TEST_CASE("a BERT sequence's outputs do not depend on what it is batched with", "[models][bert][property]") {
  const auto mlm = elm::io::load_bert_hf<BertForMaskedLM<float>>(checkpoint("mlm_tiny"));
  const auto classifier = elm::io::load_bert_hf<BertForSequenceClassification<float>>(checkpoint("cls_tiny"));
  const std::vector<Index> lengths = GENERATE(std::vector<Index>{7, 2, 5}, std::vector<Index>{1, 10, 4, 4});
  const BertBatch batch = bert_test::fixed_batch(mlm.config(), lengths);
  const Index B = batch.batch, T = batch.length();
  Matrix<float> logits, class_logits, alone, padded_again;
  mlm.forward(batch, logits);
  classifier.forward(batch, class_logits);
  // every sequence alone, unpadded: its positions' logits and its class logits as in the batch
  for (Index b = 0; b < B; ++b) {
    INFO("sequence " << b << " of length " << lengths[std::size_t(b)]);
    const auto first = batch.input_ids.begin() + b * T, types = batch.token_type_ids.begin() + b * T;
    const Index n = lengths[std::size_t(b)];
    const BertBatch single = BertBatch::pad({std::vector<Index>(first, first + n)},
                                            {std::vector<Index>(types, types + n)});
    mlm.forward(single, alone);
    const Matrix<float> in_batch = logits.middleCols(b * T, n);
    CHECK((alone - in_batch).cwiseAbs().maxCoeff() <= 1e-5f * alone.cwiseAbs().maxCoeff());
    classifier.forward(single, alone);
    CHECK((alone.col(0) - class_logits.col(b)).cwiseAbs().maxCoeff() <= 1e-5f * alone.cwiseAbs().maxCoeff());
  }
  // what stands in the padding is never seen: other ids and token types there change no real position
  BertBatch other = batch;
  for (std::size_t i = 0; i < other.input_ids.size(); ++i)
    if (other.attention_mask[i] == 0) {
      other.input_ids[i] = Index(i % 50) + 1;
      other.token_type_ids[i] = 1;
    }
  mlm.forward(other, padded_again);
  for (Index b = 0; b < B; ++b) {
    const Index n = lengths[std::size_t(b)];
    CHECK(padded_again.middleCols(b * T, n) == logits.middleCols(b * T, n));
  }
  classifier.forward(other, padded_again);
  CHECK(padded_again == class_logits);
}

TEST_CASE("BERT's initialisation is Hugging Face's", "[models][bert][init]") {
  elm::models::BertConfig config = bert_test::config_of(300, 64, 32, 2, 4, 48);
  config.pad_token_id = 5;
  elm::Rng rng(3);
  const BertForMaskedLM<float> model(config, rng);
  model.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<float>& p) {
    INFO("parameter " << name);
    if (elm::io::detail::ends_with(name, "LayerNorm.weight")) {
      CHECK((p.value.array() == 1.0f).all());
    } else if (elm::io::detail::ends_with(name, "bias")) {
      CHECK((p.value.array() == 0.0f).all());
    } else {  // N(0, 0.02^2): the sample's mean and standard deviation within 4 of their standard errors
      const double n = double(p.value.size());
      const double mean = double(p.value.sum()) / n;
      const double sd = std::sqrt(double((p.value.array() - float(mean)).square().sum()) / n);
      CHECK(std::abs(mean) < 4 * 0.02 / std::sqrt(n));
      CHECK(std::abs(sd - 0.02) < 4 * 0.02 / std::sqrt(2 * n));
    }
  });
  // the padding token's vector starts at zero (nn.Embedding's padding_idx)
  CHECK(model.bert().word_embeddings().weight().value.col(5).isZero(0.0));
}

TEST_CASE("BERT with its dense weights in bf16 or int8: hidden states close to float32's, f32 restores them exactly",
          "[models][bert][quantized]") {
  // C = 48: one and a half int8 blocks, so the padded block is exercised
  const elm::models::BertConfig config = bert_test::config_of(97, 32, 48, 2, 4, 96);
  auto model = bert_test::random_model<Bert<float>>(config, 23);
  const BertBatch batch = bert_test::fixed_batch(config, {9, 5});
  Matrix<float> f32, f32_pooled, hidden, pooled;
  model.forward(batch, f32, f32_pooled);
  const double spread = double(f32.cwiseAbs().maxCoeff());
  const elm::nn::WeightDType dtype = GENERATE(elm::nn::WeightDType::bf16, elm::nn::WeightDType::int8);
  model.set_weight_dtype(dtype);
  CHECK(model.weight_dtype() == dtype);
  model.forward(batch, hidden, pooled);
  const double error = double((hidden - f32).cwiseAbs().maxCoeff()) / spread;
  INFO(elm::nn::weight_dtype_name(dtype) << ": max |hidden - float32 hidden| / max |float32 hidden| = " << error);
  CHECK(error < (dtype == elm::nn::WeightDType::bf16 ? 0.01 : 0.04));
  CHECK(error > 0.0);  // the stored copies were used
  CHECK((pooled - f32_pooled).cwiseAbs().maxCoeff() > 0.0f);  // the pooler's weight too
  // training needs the float32 weights
  CHECK_THROWS_AS(model.backward(elm::models::Bert<float>::Cache{}, f32, f32_pooled), elm::InvalidArgument);
  model.set_weight_dtype(elm::nn::WeightDType::f32);
  model.forward(batch, hidden, pooled);
  CHECK(hidden == f32);
  CHECK(pooled == f32_pooled);
}

}  // namespace bert_parity_test
