// SPDX-License-Identifier: MIT
// GPT-2 small (124M parameters, random weights, float32) at 1 and 2 threads against Hugging Face transformers on
// PyTorch, CTranslate2 and llama.cpp, all in one run: prompt processing, decoding, peak resident memory, a
// training step (against PyTorch), and the memory-bandwidth bound of decoding.
//
// The checkpoint: tools/make_gpt2_bench_model.py writes build/tmp/gpt2-small/{hf, ct2, model-f32.gguf} (one
// random GPT2LMHeadModel(GPT2Config()), its CTranslate2 and GGUF F32 conversions); elm reads hf/ with
// elm::io::load_gpt2_hf. ELM_BENCH_GPT2_DIR names another folder.
//
// What is measured, by every engine alike (the peers in child python3 processes, one per engine and thread
// count, before elm's benchmarks; a peer that is not installed, or whose model is missing, is reported absent):
// - prompt: 128 tokens into an empty KV cache, with the logits of the last position (what generation needs
//   before its first token): elm Gpt2::forward_incremental(ids, {}, {}, kv, logits, LogitPositions::last);
//   transformers model(ids, use_cache=True, logits_to_keep=1); CTranslate2 generate_batch(max_length=1,
//   include_prompt_in_result=False); llama.cpp Llama.eval(ids). Tokens/s = 128 / median time.
// - decode: batch 1, an 8-token prompt, then 128 greedy steps of one token each (argmax of the logits fed
//   back); ms/token = median over runs of the 128 steps' time / 128 (CTranslate2: generate_batch with 129 new
//   tokens minus with 1, over 128).
// - peak RSS (VmHWM) of a process that loads the model and runs the prompt and a decode: elm's in a child
//   process of this program (--gpt2-memory-probe), each peer's in its own process before it trains; the
//   peers' baseline (the RSS of the interpreter with its modules, before loading) is shown beside it.
// - train step: batch 4 of 64 tokens, forward (dropout 0.1 as the config has it), next-token cross-entropy,
//   backward, AdamW (lr 1e-4, weight decay 0.01), against PyTorch's GPT2LMHeadModel(labels=ids) and
//   torch.optim.AdamW; median of the steps after a warm-up step.
// - decode's bandwidth bound: the bytes of weights one decoding step reads (every parameter but the position
//   table, of which it reads one row; the token table once, for the head) over the copy bandwidth measured in
//   this run (memcpy of 256 MB between two buffers on each thread count; bytes copied per second).
// Thread counts: ELM_BENCH_GPT2_THREADS (default "1,2"); elm sets OpenMP's thread count (a build without
// -DELM_OPENMP=ON runs every count on one thread, and says so); each peer gets the same count (torch
// set_num_threads, CTranslate2 intra_threads, llama.cpp n_threads and n_threads_batch). ELM_BENCH_GPT2_PEERS
// (default "torch,ct2,llama"; "none") and ELM_BENCH_GPT2_REPEATS (default 3: decode runs; prompts twice as many)
// choose the rest; ELM_BENCH_GPT2_PEER_RESULTS names a file that keeps the peers' numbers for a second run (read
// when it exists, written otherwise). The summary at the end, in Markdown, gives each engine's numbers, elm's
// ratios to each peer and to decode's bound, and the targets met or missed. scripts/bench_gpt2.sh runs it all.
#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "python_peer.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/product_kernel.hpp"

#ifndef ELM_SOURCE_DIR
#define ELM_SOURCE_DIR "."
#endif

namespace {

using elm::Index;
using elm::Matrix;

constexpr Index prompt_tokens = 128;  // the prompt benchmark's length
constexpr Index short_prompt = 8;     // the decode benchmark's prompt
constexpr Index new_tokens = 128;     // decoding steps
constexpr Index train_batch = 4, train_tokens = 64;
const char* const peer_names[] = {"torch", "ct2", "llama"};
#if defined(_OPENMP)
constexpr bool have_openmp = true;
#else
constexpr bool have_openmp = false;
#endif

// ---- settings and results ----

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string model_root() { return env_or("ELM_BENCH_GPT2_DIR", std::string(ELM_SOURCE_DIR) + "/build/tmp/gpt2-small"); }
int repeats() { return std::max(1, std::atoi(env_or("ELM_BENCH_GPT2_REPEATS", "3").c_str())); }

std::vector<int> thread_counts() {
  std::vector<int> out;
  std::stringstream list(env_or("ELM_BENCH_GPT2_THREADS", "1,2"));
  for (std::string item; std::getline(list, item, ',');)
    if (std::atoi(item.c_str()) > 0) out.push_back(std::atoi(item.c_str()));
  return out;
}

bool peer_enabled(const std::string& name) {
  const std::string list = "," + env_or("ELM_BENCH_GPT2_PEERS", "torch,ct2,llama") + ",";
  return list.find("," + name + ",") != std::string::npos;
}

/// Every number of the run, "<engine>/<threads>/<what>" (engine: elm, torch, ct2, llama).
std::map<std::string, double>& results() {
  static std::map<std::string, double> values;
  return values;
}
/// Text about an engine: "<engine>/<threads>/version" or ".../absent".
std::map<std::string, std::string>& notes() {
  static std::map<std::string, std::string> text;
  return text;
}
std::string key(const std::string& engine, int threads, const std::string& what) {
  return engine + "/" + std::to_string(threads) + "/" + what;
}
std::optional<double> result(const std::string& engine, int threads, const std::string& what) {
  const auto it = results().find(key(engine, threads, what));
  if (it == results().end()) return std::nullopt;
  return it->second;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM), 0 if absent.
double status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::atof(line.c_str() + prefix.size()) * 1024.0;
  return 0.0;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void set_threads(int threads) {
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

/// The same token ids on every side (the peers' scripts compute them alike): a fixed spread over the vocabulary.
std::vector<Index> token_ids(Index n, Index vocab) {
  std::vector<Index> ids(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = (i * 7919 + 13) % vocab;
  return ids;
}

Index argmax(const Matrix<float>& logits) {
  Index best = 0;
  logits.col(logits.cols() - 1).maxCoeff(&best);
  return best;
}

// ---- elm ----

elm::models::Gpt2<float>& model() {
  static elm::models::Gpt2<float> m = elm::io::load_gpt2_hf<float>(model_root() + "/hf");
  return m;
}

/// Bytes of weights one decoding step reads: every parameter but the position table (one row of it).
double weight_bytes_per_token(const elm::models::Gpt2<float>& m) {
  double bytes = 0;
  m.for_each_parameter("", [&](const std::string& name, const auto& p) {
    bytes += name == "wpe.weight" ? double(p.value.rows()) * sizeof(float) : double(p.numel()) * sizeof(float);
  });
  return bytes;
}

double total_weight_bytes(const elm::models::Gpt2<float>& m) {
  return double(elm::nn::count_parameters(m)) * sizeof(float);
}

/// One prompt into an empty cache, then one decode of new_tokens steps after a short prompt: what the memory
/// probe runs, and what the benchmarks time.
void run_prompt(const elm::models::Gpt2<float>& m, std::vector<elm::nn::KvCache<float>>& kv,
                const std::vector<Index>& ids, Matrix<float>& logits) {
  for (auto& c : kv) c.reset();
  m.forward_incremental(ids, {}, {}, kv, logits, elm::models::LogitPositions::last);
}

/// Decodes new_tokens greedy steps after `prompt`; returns the seconds of the steps alone.
double run_decode(const elm::models::Gpt2<float>& m, std::vector<elm::nn::KvCache<float>>& kv,
                  const std::vector<Index>& prompt, Matrix<float>& logits) {
  for (auto& c : kv) c.reset();
  m.forward_incremental(prompt, {}, {}, kv, logits, elm::models::LogitPositions::last);
  std::vector<Index> next{argmax(logits)};
  const auto t0 = std::chrono::steady_clock::now();
  for (Index i = 0; i < new_tokens; ++i) {
    m.forward_incremental(next, kv, logits);
    next[0] = argmax(logits);
  }
  return seconds_since(t0);
}

/// The child process that measures elm's peak memory: load, a prompt, a decode; prints "key value" lines.
int memory_probe(const std::string& root, int threads) {
  set_threads(threads);
  std::printf("base_rss %.0f\n", status_bytes("VmRSS"));
  const auto m = elm::io::load_gpt2_hf<float>(root + "/hf");
  std::printf("load_peak_rss %.0f\nloaded_rss %.0f\n", status_bytes("VmHWM"), status_bytes("VmRSS"));
  const Index V = m.config().vocab_size;
  Matrix<float> logits;
  auto kv = m.make_kv_caches(1, prompt_tokens);
  run_prompt(m, kv, token_ids(prompt_tokens, V), logits);
  auto kv_decode = m.make_kv_caches(1, short_prompt + new_tokens);
  m.forward_incremental(token_ids(short_prompt, V), {}, {}, kv_decode, logits,
                        elm::models::LogitPositions::last);
  std::printf("first_token %td\n", argmax(logits));
  run_decode(m, kv_decode, token_ids(short_prompt, V), logits);
  std::printf("peak_rss %.0f\nweights %.0f\n", status_bytes("VmHWM"), total_weight_bytes(m));
  std::ifstream rollup("/proc/self/smaps_rollup");  // how much of it sits on 2 MB pages
  for (std::string line; std::getline(rollup, line);)
    if (line.rfind("AnonHugePages:", 0) == 0) std::printf("huge_pages %.0f\n", std::atof(line.c_str() + 14) * 1024.0);
  return 0;
}

/// Runs the memory probe in a child process of this program at `threads`.
void measure_elm_memory(const char* self, int threads) {
  const std::string command = std::string(self) + " --gpt2-memory-probe " + model_root() + " " +
                              std::to_string(threads);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), int(buffer.size()), pipe.get()) != nullptr) {
    std::istringstream line(buffer.data());
    std::string name;
    double value = 0;
    if (line >> name >> value) results()[key("elm", threads, name)] = value;
  }
}

/// Copy bandwidth on `threads` threads: the best of 5 memcpy passes over 256 MB, in bytes copied per second.
double copy_bandwidth(int threads) {
  set_threads(threads);
  const Index n = Index(256) << 20;
  std::vector<char> a(static_cast<std::size_t>(n), 1), b(static_cast<std::size_t>(n), 2);
  const Index chunk = (n + threads - 1) / threads;
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    elm::detail::parallel_chunks(n, chunk, [&](Index, Index begin, Index end) {
      std::memcpy(b.data() + begin, a.data() + begin, static_cast<std::size_t>(end - begin));
    });
    best = std::min(best, seconds_since(t0));
  }
  benchmark::DoNotOptimize(b.data());
  return double(n) / best;
}

// ---- the peers ----

// Shared by every peer script: arguments, timing and memory helpers.
constexpr const char* peer_prelude = R"PY(
import importlib, json, os, statistics, sys, time
root, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
P, S, N, B, T = (int(a) for a in sys.argv[4:9])
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0
def ids(n, vocab=50257):
    return [(i * 7919 + 13) % vocab for i in range(n)]
def median(f, n):
    f()  # warm-up
    return statistics.median([f() for _ in range(n)])
def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0
def decode_time(start, step):
    """start() runs the short prompt and returns the first token; step(token) feeds it, returns the next."""
    token = start()
    t0 = time.perf_counter()
    for _ in range(N):
        token = step(token)
    return (time.perf_counter() - t0) / N
def out(name, value):
    print(name, value, flush=True)
def absent(why):
    out("absent", why.replace(" ", "_").replace("\n", "_")[:200])
    sys.exit(0)
def need(modules, model):
    """The peer's modules, imported, once its model file is known to exist; then the RSS before loading it."""
    try:
        loaded = [importlib.import_module(m) for m in modules]
    except Exception as e:
        absent("import: %r" % e)
    if not os.path.exists(os.path.join(root, model)):
        absent("no %s: run tools/make_gpt2_bench_model.py" % model)
    out("base_rss", status("VmRSS"))
    return loaded
)PY";

constexpr const char* torch_peer = R"PY(
torch, transformers = need(["torch", "transformers"], "hf/model.safetensors")
torch.set_num_threads(threads)
out("version", "transformers-%s,torch-%s" % (transformers.__version__, torch.__version__))
model = transformers.GPT2LMHeadModel.from_pretrained(os.path.join(root, "hf"))
model.eval()
out("load_peak_rss", status("VmHWM"))
prompt, short = torch.tensor([ids(P)]), torch.tensor([ids(S)])
state = {}
def torch_start():
    o = model(short, use_cache=True, logits_to_keep=1)
    state["past"] = o.past_key_values
    return o.logits[:, -1:].argmax(-1)
def torch_step(token):
    o = model(token, past_key_values=state["past"], use_cache=True)
    state["past"] = o.past_key_values
    return o.logits[:, -1:].argmax(-1)
with torch.inference_mode():
    out("first_token", int(model(short).logits[0, -1].argmax()))
    out("prompt_s", median(lambda: timed(lambda: model(prompt, use_cache=True, logits_to_keep=1)), 2 * reps))
    out("decode_s", median(lambda: decode_time(torch_start, torch_step), reps))
out("peak_rss", status("VmHWM"))
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
x = torch.tensor(ids(B * T)).reshape(B, T)
def train_step():
    opt.zero_grad()
    model(x, labels=x).loss.backward()
    opt.step()
out("train_s", median(lambda: timed(train_step), reps))
)PY";

constexpr const char* ct2_peer = R"PY(
(ctranslate2,) = need(["ctranslate2"], "ct2/model.bin")
path = os.path.join(root, "ct2")
out("version", "ctranslate2-" + ctranslate2.__version__)
gen = ctranslate2.Generator(path, device="cpu", compute_type="float32", intra_threads=threads, inter_threads=1)
out("load_peak_rss", status("VmHWM"))
with open(os.path.join(path, "vocabulary.json")) as f:
    vocab = json.load(f)
prompt, short = [vocab[i] for i in ids(P)], [vocab[i] for i in ids(S)]
def generate(tokens, n):
    return gen.generate_batch([tokens], max_length=n, min_length=n, sampling_topk=1, include_prompt_in_result=False)
out("first_token", generate(short, 1)[0].sequences_ids[0][0])
out("prompt_s", median(lambda: timed(lambda: generate(prompt, 1)), 2 * reps))
out("decode_s", median(lambda: (timed(lambda: generate(short, N + 1)) - timed(lambda: generate(short, 1))) / N, reps))
out("peak_rss", status("VmHWM"))
)PY";

constexpr const char* llama_peer = R"PY(
llama_cpp, numpy = need(["llama_cpp", "numpy"], "model-f32.gguf")
out("version", "llama-cpp-python-" + llama_cpp.__version__)
llm = llama_cpp.Llama(model_path=os.path.join(root, "model-f32.gguf"), n_ctx=256, n_batch=P, n_ubatch=P,
                      n_threads=threads, n_threads_batch=threads, verbose=False)
out("load_peak_rss", status("VmHWM"))
V, prompt, short = llm.n_vocab(), ids(P), ids(S)
def next_token():  # the last position's logits, where llama.cpp left them (Llama.scores holds them only with
    return int(numpy.argmax(numpy.ctypeslib.as_array(llm._ctx.get_logits(), shape=(V,))))  # logits_all)
def llama_eval(tokens, reset=False):
    if reset:
        llm.reset()
    llm.eval(tokens)
    return next_token()
out("first_token", llama_eval(short, reset=True))
out("prompt_s", median(lambda: (llm.reset(), timed(lambda: llm.eval(prompt)))[1], 2 * reps))
out("decode_s", median(lambda: decode_time(lambda: llama_eval(short, reset=True), lambda t: llama_eval([t])), reps))
out("peak_rss", status("VmHWM"))
)PY";

void run_peer(const std::string& name, int threads) {
  if (!peer_enabled(name)) {
    notes()[key(name, threads, "absent")] = "not run (ELM_BENCH_GPT2_PEERS)";
    return;
  }
  const char* body = name == "torch" ? torch_peer : name == "ct2" ? ct2_peer : llama_peer;
  const std::string script = std::string(peer_prelude) + body;
  const std::string args = model_root() + " " + std::to_string(threads) + " " + std::to_string(repeats()) + " " +
                           std::to_string(prompt_tokens) + " " + std::to_string(short_prompt) + " " +
                           std::to_string(new_tokens) + " " + std::to_string(train_batch) + " " +
                           std::to_string(train_tokens);
  const std::string file = "elm_bench_gpt2_" + name + ".py";
  bool any = false;
  for (const std::string& text : elm_bench::run_python_script(script.c_str(), file, args)) {
    std::istringstream line(text);
    std::string field, value;
    if (!(line >> field >> value)) continue;
    any = true;
    if (field == "absent" || field == "version")
      notes()[key(name, threads, field)] = value;
    else
      results()[key(name, threads, field)] = std::atof(value.c_str());
  }
  if (!any)
    notes()[key(name, threads, "absent")] =
        "failed (see " + (std::filesystem::temp_directory_path() / (file + ".log")).string() + ")";
  else if (!result(name, threads, "decode_s") && !notes().count(key(name, threads, "absent")))
    notes()[key(name, threads, "absent")] =
        "stopped early (see " + (std::filesystem::temp_directory_path() / (file + ".log")).string() + ")";
}

// ---- the benchmarks ----

/// Counters comparing elm's `what` (seconds) with each peer's at the same thread count: peer_ms and elm/peer.
void peer_counters(benchmark::State& state, int threads, const std::string& what, double elm_seconds,
                   double scale) {
  for (const char* peer : peer_names) {
    if (const auto s = result(peer, threads, what)) {
      state.counters[std::string(peer) + "_ms"] = *s * scale * 1e3;
      state.counters[std::string("elm/") + peer] = elm_seconds / *s;
    }
  }
}

void bm_prompt(benchmark::State& state, int threads) {
  set_threads(threads);
  const auto& m = model();
  const auto ids = token_ids(prompt_tokens, m.config().vocab_size);
  auto kv = m.make_kv_caches(1, prompt_tokens);
  Matrix<float> logits;
  run_prompt(m, kv, ids, logits);  // warm-up
  std::vector<double> times;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_prompt(m, kv, ids, logits);
    benchmark::DoNotOptimize(logits.data());
    times.push_back(seconds_since(t0));
    state.SetIterationTime(times.back());
  }
  const double s = median(times);
  results()[key("elm", threads, "prompt_s")] = s;
  state.counters["tokens/s"] = double(prompt_tokens) / s;
  state.SetItemsProcessed(int64_t(prompt_tokens) * int64_t(state.iterations()));
  peer_counters(state, threads, "prompt_s", s, 1.0);
}

void bm_decode(benchmark::State& state, int threads) {
  set_threads(threads);
  const auto& m = model();
  const auto prompt = token_ids(short_prompt, m.config().vocab_size);
  auto kv = m.make_kv_caches(1, short_prompt + new_tokens);
  Matrix<float> logits;
  run_decode(m, kv, prompt, logits);  // warm-up
  std::vector<double> per_token;
  for (auto _ : state) {
    const double s = run_decode(m, kv, prompt, logits);
    per_token.push_back(s / double(new_tokens));
    state.SetIterationTime(s);
  }
  const double s = median(per_token);
  results()[key("elm", threads, "decode_s")] = s;
  state.counters["ms/token"] = s * 1e3;
  state.SetItemsProcessed(int64_t(new_tokens) * int64_t(state.iterations()));
  if (const auto bound = result("elm", threads, "bound_s")) {
    state.counters["bound_ms"] = *bound * 1e3;
    state.counters["elm/bound"] = s / *bound;
  }
  peer_counters(state, threads, "decode_s", s, 1.0);
}

void bm_train_step(benchmark::State& state, int threads) {
  set_threads(threads);
  auto& m = model();  // trained in place: this thread count's inference benchmarks have run
  const Index V = m.config().vocab_size;
  const auto ids = token_ids(train_batch * train_tokens, V);
  std::vector<Index> targets(ids.size());
  for (Index b = 0; b < train_batch; ++b)
    for (Index t = 0; t < train_tokens; ++t) {
      const auto i = static_cast<std::size_t>(b * train_tokens + t);
      targets[i] = t + 1 < train_tokens ? ids[i + 1] : Index(-100);  // the last position has no next token
    }
  elm::nn::AdamWOptions options;
  options.lr = 1e-4;
  options.weight_decay = 0.01;
  elm::nn::AdamW<float> optimizer(options);
  elm::Rng rng(0);
  elm::models::Gpt2<float>::Cache cache;
  Matrix<float> logits, dlogits;
  const elm::nn::AttentionMask<float> none;
  auto step = [&] {
    m.zero_grad();
    m.forward(ids, train_batch, none, logits, &cache, elm::nn::ForwardContext::train(rng));
    const float loss = elm::nn::cross_entropy<float>(logits, targets, {}, &dlogits);
    benchmark::DoNotOptimize(loss);
    m.backward(cache, dlogits);
    optimizer.step(m);
  };
  step();  // warm-up, as the peer's
  std::vector<double> times;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(seconds_since(t0));
    state.SetIterationTime(times.back());
  }
  const double s = median(times);
  results()[key("elm", threads, "train_s")] = s;
  state.counters["tokens/s"] = double(train_batch * train_tokens) / s;
  if (const auto torch = result("torch", threads, "train_s")) {
    state.counters["torch_ms"] = *torch * 1e3;
    state.counters["elm/torch"] = s / *torch;
  }
}

// ---- the peers' numbers kept between runs ----

/// ELM_BENCH_GPT2_PEER_RESULTS names a file of the peers' numbers: read instead of measuring the peers when it
/// exists, written after measuring them otherwise. Two builds of elm (plain and -march=native) then compare with
/// the same peer numbers, measured once (scripts/bench_gpt2.sh).
std::string peer_results_file() { return env_or("ELM_BENCH_GPT2_PEER_RESULTS", ""); }

bool is_peer_key(const std::string& k) {
  for (const char* peer : peer_names)
    if (k.rfind(std::string(peer) + "/", 0) == 0) return true;
  return false;
}

/// Reads the peers' numbers from the file, if there is one; true when read.
bool read_peer_results() {
  const std::string path = peer_results_file();
  std::ifstream in(path);
  if (path.empty() || !in) return false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string kind, k, value;
    if (!(fields >> kind >> k) || !std::getline(fields >> std::ws, value)) continue;
    if (kind == "result")
      results()[k] = std::atof(value.c_str());
    else
      notes()[k] = value;
  }
  return true;
}

void write_peer_results() {
  const std::string path = peer_results_file();
  if (path.empty()) return;
  std::ofstream out(path);
  for (const auto& [k, v] : results())
    if (is_peer_key(k)) out << "result " << k << " " << fmt::format("{:.9g}", v) << "\n";
  for (const auto& [k, v] : notes())
    if (is_peer_key(k)) out << "note " << k << " " << v << "\n";
}

// ---- the summary ----

const char* compiled_for() {
#if defined(__AVX512F__)
  return "-march=native (AVX-512)";
#elif defined(__AVX2__)
  return "-march=native (AVX2)";
#else
  return "no -march flag (x86-64 baseline)";
#endif
}

struct PeerLabel {
  const char* key;
  const char* label;
};
constexpr PeerLabel peer_labels[] = {{"torch", "transformers"}, {"ct2", "CTranslate2"}, {"llama", "llama.cpp"}};

std::string number(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v); }

/// The fastest (smallest) of the peers' `what` at `threads`.
std::optional<double> best_peer(int threads, const std::string& what) {
  std::optional<double> best;
  for (const auto& p : peer_labels)
    if (const auto v = result(p.key, threads, what)) best = best ? std::min(*best, *v) : *v;
  return best;
}

/// "met" or "missed by N %" for a ratio whose target is <= limit.
std::string verdict(std::optional<double> ratio, double limit) {
  if (!ratio) return "not measured";
  if (*ratio <= limit) return fmt::format("met ({:.2f}, target <= {:.1f})", *ratio, limit);
  return fmt::format("missed by {:.0f} % ({:.2f}, target <= {:.1f})", (*ratio / limit - 1) * 100, *ratio, limit);
}

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

/// The whole comparison as Markdown: a table of every engine's numbers and elm's ratios to each peer, the
/// bandwidth bound, the targets.
void print_summary(const std::vector<int>& counts, const std::string& load_before) {
  fmt::print("\n### elm compiled with {}: product kernel {}\n\n", compiled_for(),
             elm::nn::product_kernel_name(elm::nn::product_kernel()));
  fmt::print("GPT-2 small (124M parameters, random weights), float32, batch 1. Load average (1, 5, 15 min) {} at "
             "the start, {} at the end. Ratios are elm's time (or memory) over the peer's: below 1, elm is faster "
             "(or smaller).\n\n",
             load_before, load_average());
  fmt::print("| measure | threads | elm |");
  for (const auto& p : peer_labels) fmt::print(" {} |", p.label);
  for (const auto& p : peer_labels) fmt::print(" elm / {} |", p.label);
  fmt::print("\n|---|---:|---:|");
  for (int i = 0; i < 6; ++i) fmt::print("---:|");
  fmt::print("\n");
  // a row: each engine's value as shown (tokens/s for the prompt, else scaled), then elm over each peer
  const auto row = [&](const char* label, const std::string& what, bool per_second, double scale, int threads) {
    const auto shown = [&](const std::string& engine) {
      const auto v = result(engine, threads, what);
      return v ? number(per_second ? scale / *v : *v * scale) : std::string("-");
    };
    fmt::print("| {} | {} | {} |", label, threads, shown("elm"));
    for (const auto& p : peer_labels) fmt::print(" {} |", shown(p.key));
    for (const auto& p : peer_labels) {
      const auto r = ratio(result("elm", threads, what), result(p.key, threads, what));
      fmt::print(" {} |", r ? fmt::format("{:.2f}", *r) : std::string("-"));
    }
    fmt::print("\n");
  };
  for (int threads : counts) row("prompt, 128 tokens (tokens/s)", "prompt_s", true, double(prompt_tokens), threads);
  for (int threads : counts) row("decode, 128 tokens (ms/token)", "decode_s", false, 1e3, threads);
  for (int threads : counts) row("peak RSS (MB)", "peak_rss", false, 1e-6, threads);
  for (int threads : counts) row("RSS before loading (MB)", "base_rss", false, 1e-6, threads);
  for (int threads : counts) row("train step, 4 x 64 tokens (ms)", "train_s", false, 1e3, threads);
  fmt::print("\n");
  for (int threads : counts) {
    fmt::print("- {} thread{}{} (load average {} before, {} after):", threads, threads > 1 ? "s" : "",
               !have_openmp && threads > 1 ? ", elm built without OpenMP: one thread" : "",
               notes()[key("elm", threads, "load_before")], notes()[key("elm", threads, "load_after")]);
    const auto bound = result("elm", threads, "bound_s");
    const auto decode = result("elm", threads, "decode_s");
    if (bound)
      fmt::print(" decode's bound {:.1f} MB of weights per token / {:.2f} GB/s copy bandwidth = {:.1f} ms/token,"
                 " elm's decode {} of it;",
                 *result("elm", threads, "bytes_per_token") * 1e-6, *result("elm", threads, "copy_bandwidth") * 1e-9,
                 *bound * 1e3, decode ? fmt::format("{:.2f}x", *decode / *bound) : std::string("-"));
    const auto weights = result("elm", threads, "weights");
    const auto peak = result("elm", threads, "peak_rss");
    if (weights && peak)
      fmt::print(" elm's peak RSS {:.2f}x the weights ({:.1f} MB)", *peak / *weights, *weights * 1e-6);
    if (const auto huge = result("elm", threads, "huge_pages"))
      fmt::print(", {:.0f} MB of it on 2 MB pages", *huge * 1e-6);
    fmt::print(".\n");
    for (const auto& p : peer_labels) {
      const auto absent = notes().find(key(p.key, threads, "absent"));
      if (absent != notes().end()) fmt::print("  {} absent: {}\n", p.label, absent->second);
    }
  }
  fmt::print("\nTargets (elm over the reference; met when at most the limit):\n\n| target | threads | result |\n"
             "|---|---:|---|\n");
  for (int threads : counts)
    fmt::print("| prompt at least as fast as the fastest peer | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "prompt_s"), best_peer(threads, "prompt_s")), 1.0));
  for (int threads : counts)
    fmt::print("| decode at least as fast as the fastest peer | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "decode_s"), best_peer(threads, "decode_s")), 1.0));
  for (int threads : counts)
    fmt::print("| decode within 1.3x of the bandwidth bound | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "decode_s"), result("elm", threads, "bound_s")), 1.3));
  for (int threads : counts)
    fmt::print("| inference peak RSS at most 1.2x the weights | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "peak_rss"), result("elm", threads, "weights")), 1.2));
  for (int threads : counts)
    fmt::print("| training step at most PyTorch's time | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "train_s"), result("torch", threads, "train_s")), 1.0));
  fmt::print("\nFirst greedy token after the {}-token prompt (the same model on every side):", short_prompt);
  for (const std::string engine : {"elm", "torch", "ct2", "llama"})
    if (const auto token = result(engine, counts.front(), "first_token")) fmt::print(" {} {:.0f};", engine, *token);
  fmt::print(" versions:");
  for (const auto& [k, v] : notes())
    if (k.size() > 8 && k.compare(k.size() - 8, 8, "/version") == 0 &&
        k.find("/" + std::to_string(counts.front()) + "/") != std::string::npos)
      fmt::print(" {}", v);
  fmt::print(".\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--gpt2-memory-probe") return memory_probe(argv[2], std::atoi(argv[3]));
  benchmark::Initialize(&argc, argv);
  const std::string root = model_root();
  if (!std::filesystem::exists(root + "/hf/model.safetensors")) {
    fmt::print(stderr, "elm-bench-gpt2: no checkpoint in {}/hf: run python3 tools/make_gpt2_bench_model.py (or set "
                       "ELM_BENCH_GPT2_DIR)\n", root);
    return 1;
  }
  const std::vector<int> counts = thread_counts();
  const std::string load_before = load_average();
  benchmark::AddCustomContext("product kernel", std::string(elm::nn::product_kernel_name(elm::nn::product_kernel())));
  benchmark::AddCustomContext("OpenMP", have_openmp ? "yes" : "no (every thread count runs on one thread)");
  const double bytes = weight_bytes_per_token(model());
  const int reps = repeats();
  const bool peers_read = read_peer_results();
  if (peers_read) fmt::print(stderr, "the peers' numbers read from {}\n", peer_results_file());
  // one thread count after the other, each with its peers just before elm: a shared machine's load drifts
  for (int threads : counts) {
    notes()[key("elm", threads, "load_before")] = load_average();
    if (!peers_read) {
      fmt::print(stderr, "peers at {} thread(s)...\n", threads);
      for (const char* peer : peer_names) run_peer(peer, threads);
    }
    measure_elm_memory(argv[0], threads);
    const double bandwidth = copy_bandwidth(threads);
    results()[key("elm", threads, "bytes_per_token")] = bytes;
    results()[key("elm", threads, "copy_bandwidth")] = bandwidth;
    results()[key("elm", threads, "bound_s")] = bytes / bandwidth;
    const std::string suffix = "/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(("gpt2_prompt" + suffix).c_str(), bm_prompt, threads)
        ->Iterations(2 * reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("gpt2_decode" + suffix).c_str(), bm_decode, threads)
        ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    // trains the model in place, after the inference benchmarks of this thread count (the numbers do not depend
    // on the weights' values)
    benchmark::RegisterBenchmark(("gpt2_train_step" + suffix).c_str(), bm_train_step, threads)
        ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    // a reporter per run: Google Benchmark 1.7's default one fails on a second run
    benchmark::ConsoleReporter reporter(benchmark::ConsoleReporter::OO_None);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::ClearRegisteredBenchmarks();
    notes()[key("elm", threads, "load_after")] = load_average();
  }
  if (!peers_read) write_peer_results();
  print_summary(counts, load_before);
  benchmark::Shutdown();
  return 0;
}
