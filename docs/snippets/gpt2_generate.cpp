// docs/snippets/gpt2_generate.cpp
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "elm/io/gpt2_hf.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"

int main() {
  namespace models = elm::models;
  // 1) a model: a Hugging Face GPT-2 directory when ELM_GPT2_DIR names one (config.json, model.safetensors), else a
  // small GPT-2 with GPT-2's vocabulary and Hugging Face's random initialisation
  const char* dir = std::getenv("ELM_GPT2_DIR");
  elm::Rng rng(7);
  models::Gpt2Config small;
  small.n_positions = 64;
  small.n_embd = 32;
  small.n_layer = 2;
  small.n_head = 4;
  const models::Gpt2<float> model = dir ? elm::io::load_gpt2_hf<float>(dir) : models::Gpt2<float>(small, rng);
  // 2) the tokenizer: the directory's vocab.json and merges.txt (GPT-2's own are in examples/data/gpt2)
  const elm::text::BpeTokenizer tokenizer = elm::io::load_gpt2_tokenizer(dir ? dir : "examples/data/gpt2");
  const std::vector<elm::Index> prompt = tokenizer.encode("The quick brown fox");

  // 3) the options: three sampled continuations of at most 8 tokens, ending at <|endoftext|> or a full stop
  models::GenerationConfig config;
  config.max_new_tokens = 8;
  config.do_sample = true;
  config.temperature = 0.8;
  config.top_k = 50;
  config.top_p = 0.95;
  config.num_return_sequences = 3;
  config.seed = 42;
  config.eos_token_ids = {tokenizer.token_to_id("<|endoftext|>")};
  config.stop_strings = {"."};
  // 4) the callbacks: text for the stop strings, and each token as it comes (here kept; a program would print it)
  models::GenerationCallbacks callbacks;
  callbacks.decode = [&](const std::vector<elm::Index>& ids) { return tokenizer.decode(ids); };
  std::vector<std::vector<elm::Index>> streamed(3);
  callbacks.on_token = [&](elm::Index sequence, elm::Index token) {
    streamed[static_cast<std::size_t>(sequence)].push_back(token);
    return true;  // false would end this sequence here
  };
  const std::vector<models::GeneratedSequence> result = models::generate(model, prompt, config, callbacks);

  std::printf("prompt: %zu tokens:", prompt.size());
  for (elm::Index id : prompt) std::printf(" %ld", static_cast<long>(id));
  std::printf("\nsequences: %zu\n", result.size());
  bool same = true, bounded = true;
  for (std::size_t s = 0; s < result.size(); ++s) {
    same = same && streamed[s] == result[s].ids;
    bounded = bounded && !result[s].ids.empty() && result[s].ids.size() <= 8;
    if (dir) std::printf("%s|%s\n", tokenizer.decode(prompt).c_str(), tokenizer.decode(result[s].ids).c_str());
  }
  std::printf("streamed tokens are the result's: %s\n", same ? "yes" : "no");
  std::printf("each holds 1 to 8 new tokens: %s\n", bounded ? "yes" : "no");
}
