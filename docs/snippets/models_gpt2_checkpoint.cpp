// docs/snippets/models_gpt2_checkpoint.cpp
#include <algorithm>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "elm/io/gpt2_hf.hpp"

int main() {
  // A directory transformers' save_pretrained wrote: config.json and model.safetensors of a small random GPT-2
  // (tools/make_gpt2_fixtures.py). Any GPT-2 from the hub loads the same way.
  const elm::models::Gpt2<float> model = elm::io::load_gpt2_hf<float>("tests/data/gpt2/tiny");
  const elm::models::Gpt2Config& c = model.config();
  fmt::print("{} blocks, {} heads, C = {}, V = {}, context {}\n", c.n_layer, c.n_head, c.n_embd, c.vocab_size,
             c.n_positions);
  elm::Matrix<float> logits;  // (V, B T)
  model.forward({5, 17, 3, 29}, 1, {}, logits);
  elm::Index next = 0;
  logits.col(3).maxCoeff(&next);
  fmt::print("most likely after 5 17 3 29: {}\n", next);

  // Written back in bfloat16, as transformers' save_pretrained lays it out (half the bytes); a directory of that
  // name is replaced whole or not at all, and its other files (vocab.json, merges.txt) are left alone.
  const std::string out = (std::filesystem::temp_directory_path() / "elm-doc-gpt2-bf16").string();
  elm::io::save_gpt2_hf(model, out, elm::io::Dtype::BF16);
  for (const char* name : {"config.json", "model.safetensors"})
    fmt::print("{}: {} bytes\n", name, std::filesystem::file_size(out + "/" + name));
  const elm::models::Gpt2<float> reloaded = elm::io::load_gpt2_hf<float>(out);
  elm::Matrix<float> logits_bf16;
  reloaded.forward({5, 17, 3, 29}, 1, {}, logits_bf16);
  fmt::print("bfloat16 weights move the logits by less than 0.01: {}\n",
             (logits - logits_bf16).cwiseAbs().maxCoeff() < 0.01f);
  std::filesystem::remove_all(out);

  try {  // every refusal is an elm::Error naming the file and what is wrong
    elm::io::load_gpt2_hf<float>("tests/data/gpt2/none");
  } catch (const elm::Error& e) {
    fmt::print("error: {}\n", e.what());
  }
}
