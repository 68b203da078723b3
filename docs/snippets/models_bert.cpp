// docs/snippets/models_bert.cpp
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "elm/io/bert_hf.hpp"
#include "elm/nn/loss.hpp"

int main() {
  using elm::models::BertBatch;
  // Directories transformers' save_pretrained wrote (tools/make_bert_fixtures.py): a small random
  // BertForMaskedLM and a BertForSequenceClassification with three labels. A hub checkpoint loads the same way.
  auto mlm = elm::io::load_bert_hf<elm::models::BertForMaskedLM<float>>("tests/data/bert/mlm_tiny");
  const auto classifier =
      elm::io::load_bert_hf<elm::models::BertForSequenceClassification<float>>("tests/data/bert/cls_tiny");
  const elm::models::BertConfig& c = mlm.config();
  fmt::print("{} layers, {} heads, C = {}, V = {}, {} positions, {} token types\n", c.num_hidden_layers,
             c.num_attention_heads, c.hidden_size, c.vocab_size, c.max_position_embeddings, c.type_vocab_size);

  // Two sequences of different lengths, segments A and B: padded to one length with an attention mask.
  const BertBatch batch =
      BertBatch::pad({{2, 14, 9, 33, 3, 41, 3}, {2, 27, 5, 3}}, {{0, 0, 0, 0, 0, 1, 1}, {0, 0, 0, 0}});
  fmt::print("B = {}, T = {}, mask of the second: {}\n", batch.batch, batch.length(),
             fmt::join(batch.attention_mask.begin() + 7, batch.attention_mask.end(), " "));
  elm::Matrix<float> logits, class_logits;  // (V, B T) and (num_labels, B)
  mlm.forward(batch, logits);
  classifier.forward(batch, class_logits);
  elm::Index best = 0;
  logits.col(2).maxCoeff(&best);
  fmt::print("masked LM logits {}x{}, top token at position 2: {}\n", logits.rows(), logits.cols(), best);
  fmt::print("classifier logits {}x{}\n", class_logits.rows(), class_logits.cols());

  // One training step's gradients: cross-entropy at the labelled positions only (-100 elsewhere).
  std::vector<elm::Index> labels(logits.cols(), -100);
  labels[2] = 9;
  labels[9] = 5;
  elm::models::BertForMaskedLM<float>::Cache cache;
  elm::Matrix<float> dlogits;
  mlm.forward(batch, logits, &cache);
  const float loss = elm::nn::cross_entropy<float>(logits, labels, {}, &dlogits);
  mlm.zero_grad();
  mlm.backward(cache, dlogits);
  double norm = 0.0;
  mlm.for_each_parameter("", [&](const std::string&, const elm::nn::Parameter<float>& p) {
    norm += double(p.grad.squaredNorm());
  });
  fmt::print("loss {:.3f}, {} parameters, gradient norm {:.3f}\n", loss, elm::nn::count_parameters(mlm),
             std::sqrt(norm));

  // Sentence embeddings as sentence-transformers makes them: BertModel's hidden states averaged over each
  // sequence's tokens, then L2-normalised (io::sentence_transformer_config reads a directory's recipe).
  const auto body = elm::io::load_bert_hf<elm::models::Bert<float>>("tests/data/bert/base_tiny");
  elm::Matrix<float> hidden, pooled;  // (C, B T) and the pooler's (C, B)
  body.forward(batch, hidden, pooled);
  const elm::Matrix<float> sentences = elm::models::pool_sentences<float>(hidden, batch);
  fmt::print("sentence embeddings {}x{}, cosine of the two {:.3f}\n", sentences.rows(), sentences.cols(),
             sentences.col(0).dot(sentences.col(1)));

  // Saved as transformers' BertForMaskedLM.from_pretrained reads it, here in float16.
  const std::string out = (std::filesystem::temp_directory_path() / "elm-doc-bert-f16").string();
  elm::io::save_bert_hf(mlm, out, elm::io::Dtype::F16);
  fmt::print("model.safetensors: {} bytes\n", std::filesystem::file_size(out + "/model.safetensors"));
  std::filesystem::remove_all(out);

  try {  // inputs the model cannot take are refused with what is wrong
    mlm.forward(BertBatch::pad({std::vector<elm::Index>(11, 7)}), logits);
  } catch (const elm::Error& e) {
    fmt::print("error: {}\n", e.what());
  }
}
