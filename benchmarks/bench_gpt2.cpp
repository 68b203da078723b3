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
// - weights in bf16 and int8 (ELM_BENCH_GPT2_DTYPES, default "f32,bf16,int8"): the prompt and decode again with
//   elm's Gpt2::set_weight_dtype, against llama.cpp on GGUF BF16 and Q8_0 (made from the F32 file by
//   llama_model_quantize, kept beside it) and CTranslate2's int8 compute type (it has no bfloat16 on CPU); each
//   dtype's bound from the bytes its weights take (scales included).
// Thread counts: ELM_BENCH_GPT2_THREADS (default "1,2"); elm sets OpenMP's thread count (a build without
// -DELM_OPENMP=ON runs every count on one thread, and says so); each peer gets the same count (torch
// set_num_threads, CTranslate2 intra_threads, llama.cpp n_threads and n_threads_batch). ELM_BENCH_GPT2_PEERS
// (default "torch,ct2,llama"; "none") and ELM_BENCH_GPT2_REPEATS (default 3: decode runs; prompts twice as many)
// choose the rest; ELM_BENCH_GPT2_PEER_RESULTS names a file that keeps the peers' numbers for a second run (read
// when it exists, written otherwise). The summary at the end, in Markdown, gives each engine's numbers, elm's
// ratios to each peer and to decode's bound, and the targets met or missed. scripts/bench_gpt2.sh runs it all.
#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "peer_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <time.h>

#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/quantized_weights.hpp"

#ifndef ELM_SOURCE_DIR
#define ELM_SOURCE_DIR "."
#endif

namespace {

using elm::Index;
using elm::Matrix;
using namespace elm_bench;

constexpr Index prompt_tokens = 128;  // the prompt benchmark's length
constexpr Index short_prompt = 8;     // the decode benchmark's prompt
constexpr Index new_tokens = 128;     // decoding steps
constexpr Index train_batch = 4, train_tokens = 64;
const char* const peer_names[] = {"torch", "ct2", "llama"};
const std::vector<PeerLabel> peer_labels = {{"torch", "transformers"}, {"ct2", "CTranslate2"}, {"llama", "llama.cpp"}};

// ---- settings ----

std::string model_root() { return env_or("ELM_BENCH_GPT2_DIR", std::string(ELM_SOURCE_DIR) + "/build/tmp/gpt2-small"); }
int repeats() { return std::max(1, std::atoi(env_or("ELM_BENCH_GPT2_REPEATS", "3").c_str())); }
std::vector<int> thread_counts() { return int_list("ELM_BENCH_GPT2_THREADS", "1,2"); }
bool peer_enabled(const std::string& name) { return listed("ELM_BENCH_GPT2_PEERS", "torch,ct2,llama", name); }
/// The weight dtypes measured (ELM_BENCH_GPT2_DTYPES, default "f32,bf16,int8"): elm's Gpt2::set_weight_dtype,
/// llama.cpp's GGUF F32, BF16 and Q8_0 (quantized from the F32 file by llama.cpp's own quantizer), CTranslate2's
/// compute types float32 and int8 (no bfloat16 on CPU); transformers in float32 only.
std::vector<std::string> weight_dtypes() {
  std::vector<std::string> out;
  for (const char* d : {"f32", "bf16", "int8"})
    if (listed("ELM_BENCH_GPT2_DTYPES", "f32,bf16,int8", d)) out.emplace_back(d);
  return out;
}
/// The prefix of a dtype's results: "" for f32 (the keys of the float32 benchmarks), else "bf16_", "int8_".
std::string dtype_prefix(const std::string& dtype) { return dtype == "f32" ? "" : dtype + "_"; }

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

/// The shared model with its dense layers' weights and head kept in `dtype` (quantized when it changes).
elm::models::Gpt2<float>& model(const std::string& dtype) {
  auto& m = model();
  const elm::nn::WeightDType d = elm::nn::parse_weight_dtype(dtype);
  if (m.weight_dtype() != d) m.set_weight_dtype(d);
  return m;
}

/// Bytes of weights one decoding step reads: every parameter but the position table (one row of it), each in
/// the storage the model multiplies by (a quantized copy's bytes, scales included, when it has one; the token
/// table once, for the head).
double weight_bytes_per_token(const elm::models::Gpt2<float>& m) {
  double bytes = 0;
  m.for_each_parameter("", [&](const std::string& name, const auto& p) {
    if (const auto* q = dynamic_cast<const elm::nn::QuantizedWeights*>(p.inference.get()))
      bytes += double(q->bytes());
    else
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

/// The process's CPU seconds so far (all its threads).
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// Decodes new_tokens greedy steps after `prompt`; returns the seconds of the steps alone (and their CPU
/// seconds in *cpu_seconds when given: on a machine others load, the time the steps ran).
double run_decode(const elm::models::Gpt2<float>& m, std::vector<elm::nn::KvCache<float>>& kv,
                  const std::vector<Index>& prompt, Matrix<float>& logits, double* cpu_seconds = nullptr) {
  for (auto& c : kv) c.reset();
  m.forward_incremental(prompt, {}, {}, kv, logits, elm::models::LogitPositions::last);
  std::vector<Index> next{argmax(logits)};
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = process_cpu_seconds();
  for (Index i = 0; i < new_tokens; ++i) {
    m.forward_incremental(next, kv, logits);
    next[0] = argmax(logits);
  }
  if (cpu_seconds) *cpu_seconds = process_cpu_seconds() - c0;
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
  if (pipe) read_key_values(pipe.get(), "elm", threads);
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

// Shared by every peer script, after peer_python_helpers: arguments, token ids, decoding's timing, imports.
constexpr const char* peer_prelude = R"PY(
maker = "tools/make_gpt2_bench_model.py"
root, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
P, S, N, B, T = (int(a) for a in sys.argv[4:9])
dtype = sys.argv[9] if len(sys.argv) > 9 else "f32"  # of the weights: f32, bf16, int8
def ids(n, vocab=50257):
    return [(i * 7919 + 13) % vocab for i in range(n)]
decode_cpu = []  # the process's CPU seconds per token of each decode_time run (all its threads)
def decode_time(start, step):
    """start() runs the short prompt and returns the first token; step(token) feeds it, returns the next."""
    token = start()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(N):
        token = step(token)
    decode_cpu.append((time.process_time() - c0) / N)
    return (time.perf_counter() - t0) / N
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
compute_type = {"f32": "float32", "int8": "int8"}.get(dtype)
if compute_type not in ctranslate2.get_supported_compute_types("cpu"):
    absent("no %s compute type on CPU" % dtype)
gen = ctranslate2.Generator(path, device="cpu", compute_type=compute_type, intra_threads=threads, inter_threads=1)
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
gguf = os.path.join(root, {"f32": "model-f32.gguf", "bf16": "model-bf16.gguf", "int8": "model-q8_0.gguf"}[dtype])
if not os.path.exists(gguf):  # BF16 or Q8_0 from the F32 file, by llama.cpp's own quantizer
    import ctypes
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16, "int8": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}[dtype]
    if llama_cpp.llama_model_quantize(os.path.join(root, "model-f32.gguf").encode(), gguf.encode(),
                                      ctypes.byref(params)) != 0:
        absent("llama_model_quantize failed for " + gguf)
llm = llama_cpp.Llama(model_path=gguf, n_ctx=256, n_batch=P, n_ubatch=P,
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
out("decode_cpu_s", statistics.median(decode_cpu[1:]))  # after the warm-up run
out("peak_rss", status("VmHWM"))
)PY";

void run_peer(const std::string& name, int threads, const std::string& dtype) {
  const std::string prefix = dtype_prefix(dtype);
  if (!peer_enabled(name)) {
    notes()[key(name, threads, prefix + "absent")] = "not run (ELM_BENCH_GPT2_PEERS)";
    return;
  }
  if (name == "torch" && dtype != "f32") return;  // transformers: float32 only
  const char* body = name == "torch" ? torch_peer : name == "ct2" ? ct2_peer : llama_peer;
  const std::string script = std::string(peer_python_helpers) + peer_prelude + body;
  const std::string args = model_root() + " " + std::to_string(threads) + " " + std::to_string(repeats()) + " " +
                           std::to_string(prompt_tokens) + " " + std::to_string(short_prompt) + " " +
                           std::to_string(new_tokens) + " " + std::to_string(train_batch) + " " +
                           std::to_string(train_tokens) + " " + dtype;
  const std::string file = "elm_bench_gpt2_" + name + (prefix.empty() ? "" : "_" + dtype) + ".py";
  run_peer_script(name, threads, script, file, args, "decode_s", prefix);
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

void bm_prompt(benchmark::State& state, int threads, const std::string& dtype) {
  set_threads(threads);
  const std::string prefix = dtype_prefix(dtype);
  const auto& m = model(dtype);
  const auto ids = token_ids(prompt_tokens, m.config().vocab_size);
  auto kv = m.make_kv_caches(1, prompt_tokens);
  Matrix<float> logits;
  const double s = median_iteration_seconds(state, [&] {
    run_prompt(m, kv, ids, logits);
    benchmark::DoNotOptimize(logits.data());
  });
  results()[key("elm", threads, prefix + "prompt_s")] = s;
  state.counters["tokens/s"] = double(prompt_tokens) / s;
  state.SetItemsProcessed(int64_t(prompt_tokens) * int64_t(state.iterations()));
  peer_counters(state, threads, prefix + "prompt_s", s, 1.0);
}

void bm_decode(benchmark::State& state, int threads, const std::string& dtype) {
  set_threads(threads);
  const std::string prefix = dtype_prefix(dtype);
  const auto& m = model(dtype);
  results()[key("elm", threads, prefix + "bytes_per_token")] = weight_bytes_per_token(m);
  if (const auto bandwidth = result("elm", threads, "copy_bandwidth"))
    results()[key("elm", threads, prefix + "bound_s")] = weight_bytes_per_token(m) / *bandwidth;
  const auto prompt = token_ids(short_prompt, m.config().vocab_size);
  auto kv = m.make_kv_caches(1, short_prompt + new_tokens);
  Matrix<float> logits;
  run_decode(m, kv, prompt, logits);  // warm-up
  std::vector<double> per_token, cpu_per_token;
  for (auto _ : state) {
    double cpu = 0;
    const double s = run_decode(m, kv, prompt, logits, &cpu);
    per_token.push_back(s / double(new_tokens));
    cpu_per_token.push_back(cpu / double(new_tokens));
    state.SetIterationTime(s);
  }
  const double s = median(per_token);
  results()[key("elm", threads, prefix + "decode_s")] = s;
  results()[key("elm", threads, prefix + "decode_cpu_s")] = median(cpu_per_token);
  state.counters["cpu_ms/token"] = median(cpu_per_token) * 1e3;
  state.counters["ms/token"] = s * 1e3;
  state.SetItemsProcessed(int64_t(new_tokens) * int64_t(state.iterations()));
  if (const auto bound = result("elm", threads, prefix + "bound_s")) {
    state.counters["bound_ms"] = *bound * 1e3;
    state.counters["elm/bound"] = s / *bound;
  }
  peer_counters(state, threads, prefix + "decode_s", s, 1.0);
}

void bm_train_step(benchmark::State& state, int threads) {
  set_threads(threads);
  auto& m = model("f32");  // trained in place: this thread count's inference benchmarks have run
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
  const double s = median_iteration_seconds(state, step);  // after a warm-up step, as the peer's
  results()[key("elm", threads, "train_s")] = s;
  state.counters["tokens/s"] = double(train_batch * train_tokens) / s;
  if (const auto torch = result("torch", threads, "train_s")) {
    state.counters["torch_ms"] = *torch * 1e3;
    state.counters["elm/torch"] = s / *torch;
  }
}

/// ELM_BENCH_GPT2_PEER_RESULTS names a file of the peers' numbers: read instead of measuring the peers when it
/// exists, written after measuring them otherwise (scripts/bench_gpt2.sh).
PeerResultsFile peer_results_file() { return PeerResultsFile("ELM_BENCH_GPT2_PEER_RESULTS", {"torch", "ct2", "llama"}); }

// ---- the summary ----

/// The whole comparison as Markdown: a table of every engine's numbers and elm's ratios to each peer, the
/// bandwidth bound, the targets.
void print_summary(const std::vector<int>& counts, const std::string& load_before) {
  print_build_heading();
  fmt::print("GPT-2 small (124M parameters, random weights), float32, batch 1. Load average (1, 5, 15 min) {} at "
             "the start, {} at the end. Ratios are elm's time (or memory) over the peer's: below 1, elm is faster "
             "(or smaller).\n\n",
             load_before, load_average());
  const ComparisonTable table(peer_labels);
  const auto row = [&](const char* label, const std::string& what, bool per_second, double scale, int threads) {
    table.row(label, what, per_second, scale, threads);
  };
  for (int threads : counts) row("prompt, 128 tokens (tokens/s)", "prompt_s", true, double(prompt_tokens), threads);
  for (int threads : counts) row("decode, 128 tokens (ms/token)", "decode_s", false, 1e3, threads);
  for (int threads : counts) row("decode, CPU time of the process (ms/token)", "decode_cpu_s", false, 1e3, threads);
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
    print_absent_peers(peer_labels, threads);
  }
  fmt::print("\nTargets (elm over the reference; met when at most the limit):\n\n| target | threads | result |\n"
             "|---|---:|---|\n");
  for (int threads : counts)
    fmt::print("| prompt at least as fast as the fastest peer | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "prompt_s"), best_peer(peer_labels, threads, "prompt_s")), 1.0));
  for (int threads : counts)
    fmt::print("| decode at least as fast as the fastest peer | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "decode_s"), best_peer(peer_labels, threads, "decode_s")), 1.0));
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
  fmt::print(" versions:{}.\n", peer_versions(counts.front()));
}

/// The bf16 and int8 weights' tables: elm against llama.cpp (GGUF BF16, Q8_0) and CTranslate2 (int8), with
/// each dtype's bandwidth bound and targets (issue: at least as fast as the fastest peer with the matching
/// weight size; int8 decode within 1.3x of its bound).
void print_dtype_summary(const std::vector<int>& counts, const std::vector<std::string>& dtypes) {
  const std::vector<PeerLabel> peers = {{"ct2", "CTranslate2"}, {"llama", "llama.cpp"}};
  for (const std::string& dtype : dtypes) {
    if (dtype == "f32") continue;
    const std::string prefix = dtype_prefix(dtype);
    fmt::print("\nWeights in {} (elm: Gpt2::set_weight_dtype; llama.cpp: GGUF {}; CTranslate2: compute type "
               "{}):\n\n",
               dtype, dtype == "int8" ? "Q8_0" : "BF16", dtype == "int8" ? "int8" : "none on CPU");
    const ComparisonTable table(peers);
    for (int threads : counts)
      table.row("prompt, 128 tokens (tokens/s)", prefix + "prompt_s", true, double(prompt_tokens), threads);
    for (int threads : counts) table.row("decode, 128 tokens (ms/token)", prefix + "decode_s", false, 1e3, threads);
    for (int threads : counts)
      table.row("decode, CPU time of the process (ms/token)", prefix + "decode_cpu_s", false, 1e3, threads);
    fmt::print("\n");
    for (int threads : counts) {
      const auto bound = result("elm", threads, prefix + "bound_s");
      const auto decode = result("elm", threads, prefix + "decode_s");
      if (bound)
        fmt::print("- {} thread{}: decode's bound {:.1f} MB of weights per token / {:.2f} GB/s = {:.1f} ms/token, "
                   "elm's decode {} of it.\n",
                   threads, threads > 1 ? "s" : "", *result("elm", threads, prefix + "bytes_per_token") * 1e-6,
                   *result("elm", threads, "copy_bandwidth") * 1e-9, *bound * 1e3,
                   decode ? fmt::format("{:.2f}x", *decode / *bound) : std::string("-"));
      print_absent_peers(peers, threads, prefix);
    }
    fmt::print("\n| target ({}) | threads | result |\n|---|---:|---|\n", dtype);
    for (int threads : counts)
      fmt::print("| decode at least as fast as the fastest peer | {} | {} |\n", threads,
                 verdict(ratio(result("elm", threads, prefix + "decode_s"),
                               best_peer(peers, threads, prefix + "decode_s")), 1.0));
    for (int threads : counts)
      fmt::print("| prompt at least as fast as the fastest peer | {} | {} |\n", threads,
                 verdict(ratio(result("elm", threads, prefix + "prompt_s"),
                               best_peer(peers, threads, prefix + "prompt_s")), 1.0));
    if (dtype == "int8")
      for (int threads : counts)
        fmt::print("| decode within 1.3x of the bandwidth bound | {} | {} |\n", threads,
                   verdict(ratio(result("elm", threads, prefix + "decode_s"),
                                 result("elm", threads, prefix + "bound_s")), 1.3));
  }
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
  add_build_context();
  const double bytes = weight_bytes_per_token(model());
  const std::vector<std::string> dtypes = weight_dtypes();
  const int reps = repeats();
  const PeerResultsFile peer_file = peer_results_file();
  const bool peers_read = peer_file.read();
  if (peers_read) fmt::print(stderr, "the peers' numbers read from {}\n", peer_file.path());
  // one thread count after the other, each with its peers just before elm: a shared machine's load drifts
  for (int threads : counts) {
    notes()[key("elm", threads, "load_before")] = load_average();
    if (!peers_read) {
      fmt::print(stderr, "peers at {} thread(s)...\n", threads);
      for (const std::string& dtype : dtypes)
        for (const char* peer : peer_names) run_peer(peer, threads, dtype);
    }
    measure_elm_memory(argv[0], threads);
    const double bandwidth = copy_bandwidth(threads);
    results()[key("elm", threads, "bytes_per_token")] = bytes;
    results()[key("elm", threads, "copy_bandwidth")] = bandwidth;
    results()[key("elm", threads, "bound_s")] = bytes / bandwidth;
    const std::string suffix = "/threads:" + std::to_string(threads);
    for (const std::string& dtype : dtypes) {  // one dtype after the other: the model quantized once for both
      const std::string name = dtype == "f32" ? suffix : "/" + dtype + suffix;
      benchmark::RegisterBenchmark(("gpt2_prompt" + name).c_str(), bm_prompt, threads, dtype)
          ->Iterations(2 * reps)->UseManualTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("gpt2_decode" + name).c_str(), bm_decode, threads, dtype)
          ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    }
    // trains the model in place, after the inference benchmarks of this thread count (the numbers do not depend
    // on the weights' values)
    benchmark::RegisterBenchmark(("gpt2_train_step" + suffix).c_str(), bm_train_step, threads)
        ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    run_registered(threads);
  }
  if (!peers_read) peer_file.write();
  print_summary(counts, load_before);
  print_dtype_summary(counts, dtypes);
  benchmark::Shutdown();
  return 0;
}
