// docs/snippets/models_bert_representations.cpp
#include <string>
#include <vector>

#include <fmt/format.h>

#include "elm/io/bert_hf.hpp"

int main() {
  using elm::models::BertBatch;
  // The encoder of a BertForMaskedLM directory (tests/data/bert/fill_tiny: small, random weights) and its
  // vocab.txt. With a real checkpoint (bert-base-uncased, all-MiniLM-L6-v2) the code is the same.
  const std::string dir = "tests/data/bert/fill_tiny";
  const auto mlm = elm::io::load_bert_hf<elm::models::BertForMaskedLM<float>>(dir);
  const elm::models::Bert<float>& bert = mlm.bert();
  const elm::text::WordPieceTokenizer tokenizer = elm::io::load_bert_tokenizer(dir);

  // [CLS] text [SEP] -> one contextual vector per token (BertModel's last_hidden_state), (C, B T).
  const std::vector<elm::Index> a = tokenizer.encode("the dog is happy").ids, b = tokenizer.encode("the dog is sad").ids;
  const BertBatch batch = BertBatch::pad({a, b});
  elm::Matrix<float> hidden, pooled;
  bert.forward(batch, hidden, pooled);
  const elm::Index T = batch.length();
  fmt::print("tokens: {} and {}; hidden states {}x{}\n", a.size(), b.size(), hidden.rows(), hidden.cols());

  // Bidirectional: "dog" (position 2) has a different vector in the two sentences, which differ only after it.
  fmt::print("|h(dog) - h'(dog)| = {:.3f}; |h([CLS]) - h'([CLS])| = {:.3f}\n",
             (hidden.col(2) - hidden.col(T + 2)).norm(), (hidden.col(0) - hidden.col(T)).norm());

  // A sentence representation: the token vectors averaged over the attention mask, L2-normalised (as
  // sentence-transformers does); their dot product is the cosine similarity.
  const elm::Matrix<float> sentences = elm::models::pool_sentences<float>(hidden, batch);
  fmt::print("sentence vectors {}x{}, cosine {:.3f}\n", sentences.rows(), sentences.cols(),
             sentences.col(0).dot(sentences.col(1)));
}
