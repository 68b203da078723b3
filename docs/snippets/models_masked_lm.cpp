// docs/snippets/models_masked_lm.cpp
#include <string>
#include <vector>

#include <fmt/format.h>

#include "elm/io/bert_hf.hpp"
#include "elm/models/masked_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/models/masked_lm_training.hpp"

int main() {
  using elm::Index;
  using elm::models::BertBatch;
  // A small random BertForMaskedLM that transformers saved with its WordPiece vocabulary
  // (tools/make_fill_mask_fixture.py); bert-base-uncased or any BertForMaskedLM directory loads the same way.
  const std::string dir = "tests/data/bert/fill_tiny";
  auto model = elm::io::load_bert_hf<elm::models::BertForMaskedLM<float>>(dir);
  const elm::text::WordPieceTokenizer tokenizer = elm::io::load_bert_tokenizer(dir);
  const auto show = [&](const std::vector<Index>& ids) {
    std::string s;
    for (Index id : ids) s += (s.empty() ? "" : " ") + tokenizer.vocabulary().tokens()[std::size_t(id)];
    return s;
  };

  // 1) BERT's masking: 15 % of the tokens (here 40 %, to see some), of those 80 % [MASK], 10 % a random token,
  //    10 % unchanged; labels -100 except at the selected positions. Special tokens are never selected.
  const std::vector<Index> ids = tokenizer.encode("emma wrote a letter to darcy and she read it.").ids;
  elm::models::MaskingOptions options;
  options.probability = 0.4;
  const auto masker = elm::models::TokenMasker::from_tokenizer(tokenizer, options);
  elm::Rng rng(3);
  const elm::models::MaskedBatch masked = masker.mask(BertBatch::pad({ids}), rng);
  fmt::print("input:  {}\nmasked: {}\nlabels:", show(ids), show(masked.inputs.input_ids));
  for (Index label : masked.labels) fmt::print(" {}", label);
  fmt::print("\n");

  // 2) One training step's loss: cross-entropy at the selected positions only, the head run only there.
  elm::Matrix<float> logits;
  model.forward_at(masked.inputs, masked.positions(), logits);
  fmt::print("logits at the {} selected positions: {}x{}\n", masked.positions().size(), logits.rows(),
             logits.cols());

  // 3) A few steps of masked-LM training on the trainer (in earnest: elm-bert train-mlm).
  std::vector<std::vector<Index>> corpus;
  for (const char* s : {"the cat sat on the mat.", "the dog ran in the park.", "the bird sang in the tree.",
                        "emma was very happy.", "darcy was very sad."})
    corpus.push_back(tokenizer.encode(s).ids);
  elm::models::MaskedLmBatches data(corpus, 4, masker, tokenizer.pad_id(), /*seed=*/1);
  elm::nn::AdamW<float> optimizer({1e-2, 0.9, 0.999, 1e-6, 0.0});
  elm::train::TrainerOptions to;
  to.steps = 40;
  to.schedule = elm::nn::LrSchedule::constant(1e-2);
  elm::train::Trainer trainer(model, optimizer, data, elm::models::masked_lm_step(model), to);
  const auto result = trainer.run();
  fmt::print("loss of the first 5 steps {:.2f}, of the last 5 {:.2f}\n",
             (result.losses[0] + result.losses[1] + result.losses[2] + result.losses[3] + result.losses[4]) / 5,
             (result.losses[35] + result.losses[36] + result.losses[37] + result.losses[38] + result.losses[39]) / 5);

  // 4) Fill-mask: the most likely tokens at each [MASK] and their probabilities (softmax over the vocabulary).
  const BertBatch query = BertBatch::pad({tokenizer.encode("the cat [MASK] on the mat.").ids});
  for (const auto& p : elm::models::fill_mask(model, query, tokenizer.mask_id(), 3)) {
    fmt::print("[MASK] at position {}:", p.position);
    for (std::size_t j = 0; j < p.ids.size(); ++j)
      fmt::print("  {} {:.3f}", tokenizer.vocabulary().tokens()[std::size_t(p.ids[j])], p.probabilities[j]);
    fmt::print("\n");
  }
  try {  // a text without [MASK] has nothing to fill
    elm::models::fill_mask(model, BertBatch::pad({tokenizer.encode("the cat sat").ids}), tokenizer.mask_id());
  } catch (const elm::Error& e) {
    fmt::print("error: {}\n", e.what());
  }
}
