// docs/snippets/ngram_quickstart.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/classic/ngram_estimate.hpp"
#include "elm/core/rng.hpp"

int main() {
  const std::vector<std::string> train = {
      "the cat sat on the mat", "the dog sat on the log", "the cat saw the dog",
      "a dog sat on a mat",     "the cat sat on a log",   "a cat saw a dog"};
  elm::classic::NgramEstimateOptions options;
  options.order = 3;                              // trigrams, modified Kneser-Ney as lmplz
  options.kneser_ney.discount_fallback = true;    // six sentences are too few for Chen-Goodman discounts
  const elm::classic::NgramModel model = elm::classic::estimate_ngram_model(train, options);

  // log10 p(word | history): only the last order - 1 words of the history matter.
  std::printf("log10 p(sat | the cat) = %.4f\n", model.log_prob({"the", "cat"}, "sat"));
  std::printf("log10 p(mat | the cat) = %.4f\n", model.log_prob({"the", "cat"}, "mat"));

  // Perplexity with KenLM query's conventions: </s> is a token, OOVs are scored as <unk>.
  const elm::classic::NgramPerplexity p = model.perplexity({"the dog sat on the mat", "the bird sat"});
  std::printf("tokens %lld, OOVs %lld, perplexity %.3f, excluding OOVs %.3f\n", static_cast<long long>(p.tokens),
              static_cast<long long>(p.oov), p.perplexity(), p.perplexity_excl_oov());

  // Word-by-word scoring with a state, as a decoder would.
  elm::classic::NgramState state = model.begin_sentence_state();
  for (const char* w : {"a", "cat", "sat"}) {
    const elm::classic::NgramScore s = model.score(state, model.index(w), state);
    std::printf("%s: log10 p = %.4f from a %d-gram\n", w, s.log10_prob, s.ngram_length);
  }

  elm::Rng rng(42);
  std::printf("sample: %s\n", model.sample_text(rng, 20).c_str());
}
