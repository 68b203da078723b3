// docs/snippets/hmm_curriculum.cpp
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/viterbi.hpp"

int main() {
  using elm::classic::Hmm;
  // The curriculum's two tables, plus the start distribution every HMM needs.
  const Hmm<double> hmm = Hmm<double>::from_named(
      /*start=*/{{"A", 0.6}, {"B", 0.4}},
      /*transition=*/{{"A", {{"A", 0.5}, {"B", 0.5}}}, {"B", {{"A", 0.3}, {"B", 0.7}}}},
      /*emission=*/{{"A", {{"你好", 0.7}, {"世界", 0.3}}}, {"B", {{"世界", 0.5}, {"再见", 0.5}}}});

  const std::vector<std::string> words = {"你好", "世界", "再见"};
  const elm::classic::Sequence obs = hmm.encode(words);

  // P(x) by the forward recursion, in natural log.
  const double log_p = elm::classic::log_likelihood(hmm, obs);
  std::printf("P(你好 世界 再见) = %.6f (log %.6f)\n", std::exp(log_p), log_p);

  // P(z_t = state | all three words), one column per word.
  const elm::Matrix<double> gamma = elm::classic::posteriors(hmm, obs);
  for (std::size_t t = 0; t < words.size(); ++t)
    std::printf("P(z_%zu = A | x) = %.3f   P(z_%zu = B | x) = %.3f   (%s)\n", t, gamma(0, elm::Index(t)), t,
                gamma(1, elm::Index(t)), words[t].c_str());

  // The single most probable state path.
  const auto best = elm::classic::viterbi(hmm, obs);
  std::printf("Viterbi path:");
  for (const auto& name : hmm.state_names_of(best.path)) std::printf(" %s", name.c_str());
  std::printf(", P(path, x) = %.5f\n", std::exp(best.log_prob));
}
