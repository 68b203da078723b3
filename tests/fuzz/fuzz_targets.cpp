// SPDX-License-Identifier: MIT
// Fuzz targets for every loader of elm, in one program that selects a target by name.
//
// Each target takes arbitrary bytes as a file of its format. An elm::Error is a clean refusal; anything else that
// escapes (another exception, a crash, a sanitizer report, an allocation beyond the limit) is a finding.
//
// Built two ways from this one file:
// - with ELM_LIBFUZZER defined, by clang with -fsanitize=fuzzer,address,undefined (scripts/fuzz.sh): libFuzzer
//   drives LLVMFuzzerTestOneInput; the environment variable ELM_FUZZ_TARGET names the target, and
//   ELM_FUZZ_WRITE_SEEDS=DIR writes the target's seed corpus into DIR and exits;
// - without it, by the test command's sanitizer stage: main() replays each target's seeds and committed
//   regression inputs (tests/fuzz/regressions/<target>/), then mutates the seeds for a few CPU seconds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/core/error.hpp"
#include "elm/io/arpa.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/hmm_json.hpp"
#include "elm/io/ngram_binary.hpp"
#include "elm/io/pos_tagger.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/io/training_state.hpp"
#include "elm/io/word_vectors.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/utf8.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

#ifndef ELM_SOURCE_DIR
#error "ELM_SOURCE_DIR must name the source tree (its tests/data and examples/data hold the seeds)"
#endif

namespace {

using Bytes = std::string_view;

std::string source_path(const std::string& relative) { return std::string(ELM_SOURCE_DIR) + "/" + relative; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "elm-fuzz: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// A per-process scratch file for the loaders that read a path (safetensors and the formats on it).
const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/elm-fuzz-" + std::to_string(::getpid()) + ".bin";
  }();
  return path;
}

const std::string& write_scratch(Bytes data) {
  std::ofstream out(scratch_path(), std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  return scratch_path();
}

// ---- the targets ---------------------------------------------------------------------------------------------

void fuzz_arpa(Bytes data) {
  std::istringstream in{std::string(data)};
  const elm::classic::NgramModel model(elm::io::read_arpa(in, "fuzz.arpa"));
  elm::classic::NgramPerplexity totals;
  model.accumulate("the earth was without form", totals);
}

void fuzz_ngram_binary(Bytes data) {
  std::istringstream in{std::string(data)};
  const elm::classic::NgramModel model = elm::io::load_ngram_binary(in, "fuzz.bin");
  elm::classic::NgramPerplexity totals;
  model.accumulate("the earth was without form", totals);
}

void fuzz_safetensors(Bytes data) {
  const elm::io::SafetensorsReader reader(write_scratch(data));
  for (const std::string& name : reader.names()) {
    const elm::io::TensorInfo& t = reader.info(name);
    if (elm::io::detail::is_float_dtype(t.dtype)) (void)reader.read_vector<float>(name);
    else (void)reader.read_vector<std::int64_t>(name);
  }
}

void fuzz_hf_config(Bytes data) {
  const elm::io::HfConfig hf = elm::io::HfConfig::parse(data, "fuzz/config.json");
  // Both readers of a config: each may refuse it, and the second runs even when the first did.
  std::exception_ptr refusal;
  try {
    (void)elm::io::gpt2_config(hf);
  } catch (const elm::Error&) {
    refusal = std::current_exception();
  }
  (void)elm::io::bert_config(hf);
  if (refusal) std::rethrow_exception(refusal);
}

void fuzz_word2vec_text(Bytes data) {
  std::istringstream in{std::string(data)};
  (void)elm::io::read_word2vec_text(in, "fuzz.txt");
}

void fuzz_word2vec_binary(Bytes data) {
  std::istringstream in{std::string(data)};
  (void)elm::io::read_word2vec_binary(in, "fuzz.bin");
}

// vocab.json and merges.txt in one input, separated by the first NUL byte (merges empty when there is none).
void fuzz_bpe_files(Bytes data) {
  const std::size_t nul = data.find('\0');
  const Bytes vocab = data.substr(0, nul);
  const Bytes merges = nul == Bytes::npos ? Bytes() : data.substr(nul + 1);
  const auto tokenizer = elm::text::BpeTokenizer::from_strings(vocab, merges);
  (void)tokenizer.decode(tokenizer.encode("a b ab hello world"));
}

void fuzz_vocab_txt(Bytes data) {
  const elm::text::WordPieceTokenizer tokenizer(elm::text::Vocabulary::from_text(data, "fuzz/vocab.txt"));
  (void)tokenizer.encode("[CLS] Hello, world! unaffable [SEP]");
}

void fuzz_hmm_json(Bytes data) {
  const elm::classic::Hmm<double> hmm = elm::io::parse_hmm_json(data, "fuzz/model.json");
  (void)hmm;
}

void fuzz_pos_tagger(Bytes data) {
  std::istringstream in{std::string(data)};
  const elm::classic::PosTagger tagger = elm::io::load_pos_tagger(in, "fuzz/tagger.txt");
  (void)tagger.tag({"the", "can", "runs", "unknownish"});
}

struct TinyTraining {
  elm::nn::Linear<float> layer{3, 2};
  elm::nn::Adam<float> optimizer;
};

void fuzz_training_state(Bytes data) {
  TinyTraining t;
  (void)elm::io::load_training_state(write_scratch(data), t.layer, t.optimizer);
}

void fuzz_checkpoint(Bytes data) {
  elm::nn::Linear<float> layer(3, 2);
  (void)elm::io::load_parameters(write_scratch(data), layer);
}

void fuzz_utf8(Bytes data) {
  const std::size_t bad = elm::text::find_invalid_utf8(data);
  if (bad != Bytes::npos) {
    (void)elm::text::decode_utf8(data);  // must refuse
    std::fprintf(stderr, "elm-fuzz utf8: decode_utf8 accepted bytes that find_invalid_utf8 refused at %zu\n", bad);
    std::abort();
  }
  if (elm::text::encode_utf8(elm::text::decode_utf8(data)) != data) {
    std::fprintf(stderr, "elm-fuzz utf8: valid UTF-8 does not survive decode then encode\n");
    std::abort();
  }
}

const elm::text::BpeTokenizer& gpt2_tokenizer() {
  static const auto t = elm::text::BpeTokenizer::from_files(source_path("examples/data/gpt2/vocab.json"),
                                                             source_path("examples/data/gpt2/merges.txt"));
  return t;
}

const elm::text::WordPieceTokenizer& bert_tokenizer() {
  static const auto t =
      elm::text::WordPieceTokenizer::from_file(source_path("examples/data/bert-base-uncased/vocab.txt"));
  return t;
}

void fuzz_bpe_encode(Bytes data) {
  const auto ids = gpt2_tokenizer().encode(data);
  if (gpt2_tokenizer().decode(ids) != data) {
    std::fprintf(stderr, "elm-fuzz bpe_encode: decode(encode(text)) differs from the text\n");
    std::abort();
  }
}

void fuzz_wordpiece_encode(Bytes data) { (void)bert_tokenizer().encode(data); }

// ---- seeds ---------------------------------------------------------------------------------------------------

std::vector<std::string> files(std::initializer_list<const char*> relative) {
  std::vector<std::string> out;
  for (const char* r : relative) out.push_back(read_bytes(source_path(r)));
  return out;
}

std::vector<std::string> first_lines(const char* relative, std::size_t n) {
  std::istringstream in(read_bytes(source_path(relative)));
  std::vector<std::string> lines;
  std::string line;
  while (lines.size() < n && std::getline(in, line)) lines.push_back(line);
  return lines;
}

elm::classic::NgramTables small_tables(int order) {
  elm::classic::NgramEstimateOptions options;
  options.order = order;
  options.kneser_ney.discount_fallback = true;  // six sentences are too few for the closed-form discounts
  return elm::classic::estimate_ngram_tables(first_lines("tests/data/ngram/train.txt", 6), options);
}

std::vector<std::string> arpa_seeds() {
  std::vector<std::string> out;
  for (int order : {1, 2, 3}) {
    std::ostringstream text;
    elm::io::write_arpa(small_tables(order), text);
    out.push_back(text.str());
  }
  return out;
}

std::vector<std::string> ngram_binary_seeds() {
  std::vector<std::string> out;
  for (int order : {1, 2, 3}) {
    std::ostringstream bytes;
    elm::io::save_ngram_binary(elm::classic::NgramModel(small_tables(order)), bytes);
    out.push_back(bytes.str());
  }
  return out;
}

std::vector<std::string> tagger_seeds() {
  std::vector<elm::classic::TaggedSentence> train = {{{"I", "can", "swim"}, {"ppss", "md", "vb"}},
                                                     {{"the", "can", "rusts"}, {"at", "nn", "vbz"}},
                                                     {{"the", "dog", "runs"}, {"at", "nn", "vbz"}}};
  std::vector<std::string> out;
  for (int order : {2, 3}) {
    elm::classic::PosTaggerOptions options;
    options.order = order;
    std::ostringstream text;
    elm::io::save_pos_tagger(elm::classic::PosTagger::train(train, options), text);
    out.push_back(text.str());
  }
  return out;
}

std::vector<std::string> training_state_seeds() {
  TinyTraining t;
  elm::Rng rng(1);
  t.layer.reset_parameters(rng);
  t.optimizer.init_state(t.layer);
  elm::io::save_training_state(scratch_path(), t.layer, t.optimizer, 3);
  std::vector<std::string> out{read_bytes(scratch_path())};
  elm::io::save_parameters(scratch_path(), t.layer);
  out.push_back(read_bytes(scratch_path()));
  return out;
}

std::vector<std::string> bpe_file_seeds() {
  return {std::string("{\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"<|endoftext|>\": 4}") + '\0' +
              "#version: 0.2\na b\n",
          std::string("{\"h\": 0, \"e\": 1, \"he\": 2}") + '\0' +
              "h e\n"};
}

std::vector<std::string> text_seeds() {
  return {"Hello, world! It's 2026.", "na\xc3\xafve caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
          "  tabs\tand\nnewlines\r\n", std::string("nul\0byte", 8), "\xff\xfe invalid \xc0\x80"};
}

struct Target {
  const char* name;
  void (*run)(Bytes);
  std::function<std::vector<std::string>()> seeds;
};

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"arpa", fuzz_arpa, arpa_seeds},
      {"ngram_binary", fuzz_ngram_binary, ngram_binary_seeds},
      {"safetensors", fuzz_safetensors,
       [] { return files({"tests/data/io/python_written.safetensors", "tests/data/io/hf_prefixed.safetensors"}); }},
      {"hf_config", fuzz_hf_config,
       [] {
         return files({"tests/data/gpt2/tiny/config.json", "tests/data/bert/cls_tiny/config.json",
                       "tests/data/bert/fill_tiny/tokenizer_config.json"});
       }},
      {"word2vec_text", fuzz_word2vec_text,
       [] { return files({"tests/data/word2vec/c_style.txt", "tests/data/word2vec/gensim.txt"}); }},
      {"word2vec_binary", fuzz_word2vec_binary,
       [] { return files({"tests/data/word2vec/c_style.bin", "tests/data/word2vec/gensim.bin"}); }},
      {"bpe_files", fuzz_bpe_files, bpe_file_seeds},
      {"vocab_txt", fuzz_vocab_txt, [] { return files({"tests/data/bert/fill_tiny/vocab.txt"}); }},
      {"hmm_json", fuzz_hmm_json,
       [] { return files({"tests/data/hmm/cli_model.json", "tests/data/hmm/cli_init.json"}); }},
      {"pos_tagger", fuzz_pos_tagger, tagger_seeds},
      {"training_state", fuzz_training_state, training_state_seeds},
      {"checkpoint", fuzz_checkpoint, training_state_seeds},
      {"utf8", fuzz_utf8, text_seeds},
      {"bpe_encode", fuzz_bpe_encode, text_seeds},
      {"wordpiece_encode", fuzz_wordpiece_encode, text_seeds},
  };
  return all;
}

const Target* find_target(std::string_view name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

/// One input through one target: true when accepted or refused with an elm::Error; anything else escapes.
void run_one(const Target& target, Bytes data) {
  try {
    target.run(data);
  } catch (const elm::Error&) {
    // a clean refusal
  }
}

}  // namespace

#ifdef ELM_LIBFUZZER

namespace {
const Target* selected = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("ELM_FUZZ_TARGET");
  selected = name ? find_target(name) : nullptr;
  if (!selected) {
    std::fprintf(stderr, "elm-fuzz: set ELM_FUZZ_TARGET to one of:");
    for (const Target& t : targets()) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  if (const char* dir = std::getenv("ELM_FUZZ_WRITE_SEEDS")) {
    std::filesystem::create_directories(dir);
    int i = 0;
    for (const std::string& seed : selected->seeds()) {
      std::ofstream out(std::string(dir) + "/seed" + std::to_string(i++), std::ios::binary);
      out.write(seed.data(), static_cast<std::streamsize>(seed.size()));
    }
    std::remove(scratch_path().c_str());
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_one(*selected, Bytes(reinterpret_cast<const char*>(data), size));
  return 0;
}

#else

namespace {

/// Mutations of the seeds, seeded and repeatable: bit flips, byte changes, truncations, deletions, duplications,
/// splices of two seeds, and numbers replaced by huge, negative or non-finite ones.
class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::string mutate(const std::vector<std::string>& seeds) {
    std::string s = seeds[pick(seeds.size())];
    const int steps = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < steps; ++i) step(s, seeds);
    if (s.size() > (1u << 16)) s.resize(1u << 16);
    return s;
  }

 private:
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  void step(std::string& s, const std::vector<std::string>& seeds) {
    static const char* const numbers[] = {"1e400", "0.1e3084", "-1", "0", "4294967296", "18446744073709551616",
                                          "9223372036854775807", "1000000000000", "100000000", "nan", "-0", "65536"};
    switch (pick(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1:  // set a byte
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      case 2:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 3: {  // delete a span
        const std::size_t at = pick(s.size() + 1);
        s.erase(at, pick(64));
        break;
      }
      case 4: {  // duplicate a span
        const std::size_t at = pick(s.size() + 1);
        s.insert(pick(s.size() + 1), s.substr(at, pick(64)));
        break;
      }
      case 5: {  // splice: this seed's head, another's tail
        const std::string& other = seeds[pick(seeds.size())];
        s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size() + 1));
        break;
      }
      default: {  // replace a run of digits with a number at an edge
        std::vector<std::size_t> starts;
        for (std::size_t i = 0; i < s.size(); ++i)
          if (std::isdigit(static_cast<unsigned char>(s[i])) && (i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]))))
            starts.push_back(i);
        if (starts.empty()) break;
        const std::size_t at = starts[pick(starts.size())];
        std::size_t end = at;
        while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        s.replace(at, end - at, numbers[pick(std::size(numbers))]);
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::vector<std::string> regression_inputs(const Target& target) {
  std::vector<std::string> out;
  const std::filesystem::path dir = source_path(std::string("tests/fuzz/regressions/") + target.name);
  if (!std::filesystem::is_directory(dir)) return out;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) out.push_back(read_bytes(p.string()));
  return out;
}

/// Runs one input; on anything but acceptance or an elm::Error, saves the input and reports the finding.
bool check(const Target& target, const std::string& input) {
  try {
    run_one(target, input);
    return true;
  } catch (const std::exception& e) {
    const std::string path = std::string("elm-fuzz-finding-") + target.name;
    std::ofstream(path, std::ios::binary).write(input.data(), static_cast<std::streamsize>(input.size()));
    std::fprintf(stderr, "FINDING in %s: %s escaped (input saved to %s)\n", target.name, e.what(), path.c_str());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  std::vector<const Target*> chosen;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "all") {
      for (const Target& t : targets()) chosen.push_back(&t);
    } else if (const Target* named = find_target(arg)) {
      chosen.push_back(named);
    } else {
      std::fprintf(stderr, "usage: elm-fuzz-smoke [--seconds CPU_SECONDS_PER_TARGET] all|TARGET...\ntargets:");
      for (const Target& t : targets()) std::fprintf(stderr, " %s", t.name);
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  if (chosen.empty())
    for (const Target& t : targets()) chosen.push_back(&t);
  bool ok = true;
  for (const Target* target : chosen) {
    const std::vector<std::string> seeds = target->seeds();
    const std::vector<std::string> regressions = regression_inputs(*target);
    for (const auto& input : seeds) ok = check(*target, input) && ok;
    for (const auto& input : regressions) ok = check(*target, input) && ok;
    Mutator mutator(0x5eed0000u + std::hash<std::string_view>{}(target->name));
    long runs = 0;
    const double start = cpu_seconds();
    while (cpu_seconds() - start < seconds) {
      ok = check(*target, mutator.mutate(seeds)) && ok;
      ++runs;
    }
    std::printf("%-17s %zu seeds, %zu regression inputs, %ld mutations in %.1f CPU s\n", target->name, seeds.size(),
                regressions.size(), runs, cpu_seconds() - start);
  }
  std::remove(scratch_path().c_str());
  return ok ? 0 : 1;
}

#endif
