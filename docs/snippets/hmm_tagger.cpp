// docs/snippets/hmm_tagger.cpp
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "elm/classic/pos_tagger.hpp"

int main() {
  using namespace elm::classic;
  // The first 20 Brown files, split as in examples/data/brown/SOURCE.md (ca10 and ca20 are held out).
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator("examples/data/brown"))
    if (std::regex_match(e.path().filename().string(), std::regex("c[a-r][0-9][0-9]")))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<TaggedSentence> train, test;
  for (std::size_t i = 0; i < 20; ++i) {
    std::ifstream in(files[i]);
    std::ostringstream text;
    text << in.rdbuf();
    const auto sentences = parse_brown(text.str(), TagSet::base, files[i]);
    auto& into = brown_held_out(static_cast<elm::Index>(i)) ? test : train;
    into.insert(into.end(), sentences.begin(), sentences.end());
  }

  PosTaggerOptions options;  // trigram HMM, deleted interpolation, suffix model for unknown words
  const PosTagger tagger = PosTagger::train(train, options);
  const auto hmm = evaluate_tagger(tagger, test);
  const auto baseline = evaluate_tagger(MostFrequentTagTagger::train(train), test);
  std::printf("%lld held-out tokens, %lld unknown\n", static_cast<long long>(hmm.tokens),
              static_cast<long long>(hmm.unknown));
  std::printf("HMM tagger:        %.1f%% (unknown words %.1f%%)\n", 100 * hmm.overall(), 100 * hmm.on_unknown());
  std::printf("most frequent tag: %.1f%% (unknown words %.1f%%)\n", 100 * baseline.overall(),
              100 * baseline.on_unknown());

  const std::vector<std::string> sentence = {"The", "committee", "approved", "the", "quixotic", "plan", "."};
  const auto tags = tagger.tag(sentence);
  for (std::size_t i = 0; i < sentence.size(); ++i) std::printf("%s/%s ", sentence[i].c_str(), tags[i].c_str());
  std::printf("\n");
}
