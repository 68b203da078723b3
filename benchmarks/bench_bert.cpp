// SPDX-License-Identifier: MIT
// BERT sentence embeddings at 1 and 2 threads against Hugging Face transformers on PyTorch, ONNX Runtime and
// CTranslate2's encoder, all in one run, on two models: all-MiniLM-L6-v2 (real weights, batch 32) and BERT-base's
// shapes (random weights, batch 8), 128 tokens a sequence, float32; peak resident memory; and a fine-tuning step
// (BertForSequenceClassification on MiniLM, batch 8 x 128, AdamW) against PyTorch.
//
// The models: tools/make_bert_bench_model.py writes build/tmp/bert-bench/{minilm,bert-base}/{hf, onnx, ct2} (the
// Hugging Face directory, its ONNX export and its CTranslate2 conversion); elm reads hf/ with
// elm::io::load_bert_hf. ELM_BENCH_BERT_DIR names another folder.
//
// What is measured, by every engine alike (the peers in child python3 processes, one per engine, model and thread
// count, before elm's benchmarks; a peer that is not installed, or whose model is missing, is reported absent):
// - embed: the sentence embeddings of one batch of B sequences of 128 fixed token ids (no tokenisation on any
//   side; every mask entry 1), as sentence-transformers computes them for all-MiniLM-L6-v2: BertModel's last
//   hidden states, mean pooling over the attention mask, L2 normalisation. elm: Bert::forward then
//   pool_sentences; transformers: BertModel(input_ids, attention_mask) under inference_mode, then the pooling in
//   torch; ONNX Runtime: the exported last_hidden_state, pooled in numpy; CTranslate2: Encoder.forward_batch,
//   its last_hidden_state pooled in numpy. Sentences/s = B / median time.
// - peak RSS (VmHWM) of a process that loads the model and embeds a batch: elm's in a child process of this
//   program (--bert-memory-probe), each peer's in its own process; the peers' RSS before loading (interpreter and
//   modules) is shown beside it.
// - embed in int8 (ELM_BENCH_BERT_DTYPES, default "f32,int8"; "bf16" also accepted, elm alone): elm's
//   Bert::set_weight_dtype(int8) (Q8_0 weights, float activations); transformers with torch's dynamic int8
//   quantization of every nn.Linear (torch.ao.quantization.quantize_dynamic, qint8); ONNX Runtime on
//   onnxruntime.quantization.quantize_dynamic's int8 model of the same export; CTranslate2 with
//   compute_type="int8". The peers quantize their activations too; elm keeps them float32.
// - train step: BertForSequenceClassification from MiniLM's body (2 labels, a new classifier), batch 8 of 128
//   tokens, forward with dropout 0.1, cross-entropy, backward, AdamW (lr 2e-5, weight decay 0.01), against
//   transformers' BertForSequenceClassification.from_pretrained(num_labels=2) and torch.optim.AdamW; median of
//   the steps after a warm-up step.
// Thread counts: ELM_BENCH_BERT_THREADS (default "1,2"); elm sets OpenMP's thread count, each peer the same (torch
// set_num_threads, ONNX Runtime intra_op_num_threads, CTranslate2 intra_threads). ELM_BENCH_BERT_PEERS (default
// "torch,onnx,ct2"; "none"), ELM_BENCH_BERT_MODELS (default "minilm,bert-base") and ELM_BENCH_BERT_REPEATS
// (default 3) choose the rest; ELM_BENCH_BERT_PEER_RESULTS names a file that keeps the peers' numbers for a
// second run (read when it exists, written otherwise). The summary at the end, in Markdown, gives each engine's
// numbers, elm's ratios to each peer and the targets met or missed. scripts/bench_bert.sh runs it all.
#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "peer_bench.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"

#ifndef ELM_SOURCE_DIR
#define ELM_SOURCE_DIR "."
#endif

namespace {

using elm::Index;
using elm::Matrix;
using namespace elm_bench;

constexpr Index tokens = 128;  // every sequence's length
constexpr Index train_batch = 8;
const char* const peer_names[] = {"torch", "onnx", "ct2"};
const std::vector<PeerLabel> peer_labels = {
    {"torch", "transformers"}, {"onnx", "ONNX Runtime"}, {"ct2", "CTranslate2"}};

/// A benchmarked model: its folder under the root, its batch, how the summary names it.
struct BenchModel {
  const char* name;
  Index batch;
  const char* label;
};
const BenchModel bench_models[] = {{"minilm", 32, "all-MiniLM-L6-v2 (22.7M parameters), batch 32"},
                                   {"bert-base", 8, "BERT-base shapes (109M parameters, random weights), batch 8"}};

// ---- settings ----

std::string root() { return env_or("ELM_BENCH_BERT_DIR", std::string(ELM_SOURCE_DIR) + "/build/tmp/bert-bench"); }
std::string model_dir(const std::string& name) { return root() + "/" + name; }
int repeats() { return std::max(1, std::atoi(env_or("ELM_BENCH_BERT_REPEATS", "3").c_str())); }
std::vector<int> thread_counts() { return int_list("ELM_BENCH_BERT_THREADS", "1,2"); }
bool peer_enabled(const std::string& name) { return listed("ELM_BENCH_BERT_PEERS", "torch,onnx,ct2", name); }
bool model_enabled(const std::string& name) { return listed("ELM_BENCH_BERT_MODELS", "minilm,bert-base", name); }
/// The weight dtypes embedded in (ELM_BENCH_BERT_DTYPES, default "f32,int8"; bf16 also accepted).
std::vector<std::string> dtypes() {
  std::vector<std::string> out;
  for (const char* d : {"f32", "bf16", "int8"})
    if (listed("ELM_BENCH_BERT_DTYPES", "f32,int8", d)) out.push_back(d);
  return out;
}
/// What a model's results are filed under in a dtype: "minilm_" in float32 (the keys of every earlier run),
/// "minilm_int8_" in int8.
std::string dtype_prefix(const std::string& model, const std::string& dtype) {
  return dtype == "f32" ? model + "_" : model + "_" + dtype + "_";
}

/// The same batch on every side (the peers' scripts compute the ids alike): B sequences of `tokens` ids spread
/// over the vocabulary, every mask entry 1.
elm::models::BertBatch fixed_batch(Index batch, Index vocab) {
  elm::models::BertBatch in;
  in.batch = batch;
  in.input_ids.resize(static_cast<std::size_t>(batch * tokens));
  for (Index i = 0; i < batch * tokens; ++i) in.input_ids[static_cast<std::size_t>(i)] = (i * 7919 + 13) % vocab;
  in.attention_mask.assign(in.input_ids.size(), 1);
  return in;
}

// ---- elm ----

/// The sentence embeddings of a batch, as users get them: the body's hidden states, mean pooling, normalised.
Matrix<float> embed(const elm::models::Bert<float>& model, const elm::models::BertBatch& in) {
  Matrix<float> hidden, pooled;
  model.forward(in, hidden, pooled);
  return elm::models::pool_sentences<float>(hidden, in);
}

const elm::models::Bert<float>& body(const std::string& name, const std::string& dtype = "f32") {
  static std::map<std::string, elm::models::Bert<float>> loaded;
  auto it = loaded.find(name + "/" + dtype);
  if (it == loaded.end()) {
    auto model = elm::io::load_bert_hf<elm::models::Bert<float>>(model_dir(name) + "/hf");
    model.set_weight_dtype(elm::nn::parse_weight_dtype(dtype));
    it = loaded.emplace(name + "/" + dtype, std::move(model)).first;
  }
  return it->second;
}

/// The child process that measures elm's peak memory: load, embed one batch; prints "key value" lines.
int memory_probe(const std::string& dir, Index batch, int threads) {
  set_threads(threads);
  std::printf("base_rss %.0f\n", status_bytes("VmRSS"));
  const auto m = elm::io::load_bert_hf<elm::models::Bert<float>>(dir + "/hf");
  std::printf("load_peak_rss %.0f\n", status_bytes("VmHWM"));
  const Matrix<float> e = embed(m, fixed_batch(batch, m.config().vocab_size));
  std::printf("first_component %.9g\npeak_rss %.0f\nweights %.0f\n", double(e(0, 0)), status_bytes("VmHWM"),
              double(elm::nn::count_parameters(m)) * sizeof(float));
  return 0;
}

void measure_elm_memory(const char* self, const BenchModel& model, int threads) {
  const std::string command = std::string(self) + " --bert-memory-probe " + model_dir(model.name) + " " +
                              std::to_string(model.batch) + " " + std::to_string(threads);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return;
  // the probe's lines, filed under the model's name
  char buffer[256];
  while (std::fgets(buffer, int(sizeof buffer), pipe.get()) != nullptr) {
    char name[64];
    double value = 0;
    if (std::sscanf(buffer, "%63s %lf", name, &value) == 2)
      results()[key("elm", threads, std::string(model.name) + "_" + name)] = value;
  }
}

// ---- the peers ----

// After peer_python_helpers: arguments, the batch, imports.
constexpr const char* peer_prelude = R"PY(
maker = "tools/make_bert_bench_model.py"
root, threads, reps, B, L, train, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
def ids(n, vocab=30522):
    return [(i * 7919 + 13) % vocab for i in range(n)]
def mean_pool_numpy(h, mask):  # sentence-transformers' Pooling (mean) and Normalize, in numpy
    m = mask[..., None].astype(numpy.float32)
    e = (h * m).sum(1) / numpy.maximum(m.sum(1), 1e-9)
    return e / numpy.maximum(numpy.linalg.norm(e, axis=1, keepdims=True), 1e-12)
def report(embed):
    out("load_peak_rss", status("VmHWM"))
    out("first_component", float(embed()[0][0]))
    out("embed_s", median(lambda: timed(embed), reps))
    out("peak_rss", status("VmHWM"))
)PY";

constexpr const char* torch_peer = R"PY(
torch, transformers = need(["torch", "transformers"], "hf/model.safetensors")
numpy = None
torch.set_num_threads(threads)
out("version", "transformers-%s,torch-%s" % (transformers.__version__, torch.__version__))
hf = os.path.join(root, "hf")
model = transformers.BertModel.from_pretrained(hf).eval()
if dtype == "int8":
    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
elif dtype != "f32":
    absent("transformers on CPU: " + dtype + " not measured")
x = torch.tensor(ids(B * L)).reshape(B, L)
mask = torch.ones_like(x)
def embed():
    with torch.inference_mode():
        h = model(input_ids=x, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(e, p=2, dim=1)
report(embed)
if train:
    del model
    clf = transformers.BertForSequenceClassification.from_pretrained(hf, num_labels=2)
    clf.train()
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-5, weight_decay=0.01)
    tx = torch.tensor(ids(train * L)).reshape(train, L)
    labels = torch.tensor([i % 2 for i in range(train)])
    def train_step():
        opt.zero_grad()
        clf(input_ids=tx, attention_mask=torch.ones_like(tx), labels=labels).loss.backward()
        opt.step()
    out("train_s", median(lambda: timed(train_step), reps))
)PY";

constexpr const char* onnx_peer = R"PY(
onnx_file = {"f32": "model.onnx", "int8": "model_int8.onnx"}.get(dtype)
if onnx_file is None:
    absent("ONNX Runtime: " + dtype + " not measured")
ort, numpy = need(["onnxruntime", "numpy"], "onnx/" + onnx_file)
out("version", "onnxruntime-" + ort.__version__)
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.path.join(root, "onnx", onnx_file), options, providers=["CPUExecutionProvider"])
x = numpy.array(ids(B * L), dtype=numpy.int64).reshape(B, L)
mask = numpy.ones_like(x)
def embed():
    h = session.run(None, {"input_ids": x, "attention_mask": mask})[0]
    return mean_pool_numpy(h, mask)
report(embed)
)PY";

constexpr const char* ct2_peer = R"PY(
if dtype not in ("f32", "int8"):
    absent("CTranslate2: " + dtype + " not measured")
ctranslate2, numpy = need(["ctranslate2", "numpy"], "ct2/model.bin")
out("version", "ctranslate2-" + ctranslate2.__version__)
encoder = ctranslate2.Encoder(os.path.join(root, "ct2"), device="cpu",
                              compute_type="int8" if dtype == "int8" else "float32",
                              intra_threads=threads, inter_threads=1)
x = numpy.array(ids(B * L), dtype=numpy.int64).reshape(B, L)
batch = x.tolist()
mask = numpy.ones_like(x)
def embed():
    h = numpy.asarray(encoder.forward_batch(batch).last_hidden_state)
    return mean_pool_numpy(h, mask)
report(embed)
)PY";

void run_peer(const std::string& name, const BenchModel& model, const std::string& dtype, int threads) {
  const std::string prefix = dtype_prefix(model.name, dtype);
  if (!peer_enabled(name)) {
    notes()[key(name, threads, prefix + "absent")] = "not run (ELM_BENCH_BERT_PEERS)";
    return;
  }
  const char* body = name == "torch" ? torch_peer : name == "onnx" ? onnx_peer : ct2_peer;
  const std::string script = std::string(peer_python_helpers) + peer_prelude + body;
  const bool train = name == "torch" && std::string(model.name) == "minilm" && dtype == "f32";
  const std::string args = model_dir(model.name) + " " + std::to_string(threads) + " " + std::to_string(repeats()) +
                           " " + std::to_string(model.batch) + " " + std::to_string(tokens) + " " +
                           std::to_string(train ? train_batch : 0) + " " + dtype;
  run_peer_script(name, threads, script, "elm_bench_bert_" + name + ".py", args, train ? "train_s" : "embed_s",
                  prefix);
}

// ---- the benchmarks ----

void bm_embed(benchmark::State& state, const BenchModel* bench, const std::string& dtype, int threads) {
  set_threads(threads);
  const auto& m = body(bench->name, dtype);
  const auto in = fixed_batch(bench->batch, m.config().vocab_size);
  const std::string prefix = dtype_prefix(bench->name, dtype);
  if (dtype != "f32") results()[key("elm", threads, prefix + "first_component")] = double(embed(m, in)(0, 0));
  const double s = median_iteration_seconds(state, [&] { benchmark::DoNotOptimize(embed(m, in).data()); });
  const std::string what = prefix + "embed_s";
  results()[key("elm", threads, what)] = s;
  state.counters["sentences/s"] = double(bench->batch) / s;
  for (const char* peer : peer_names)
    if (const auto p = result(peer, threads, what)) state.counters[std::string("elm/") + peer] = s / *p;
}

void bm_train_step(benchmark::State& state, int threads) {
  set_threads(threads);
  elm::Rng rng(0);
  elm::io::BertClassifierOptions options;
  options.num_labels = 2;
  auto model = elm::io::bert_classifier_from_pretrained<float>(model_dir("minilm") + "/hf", options, rng);
  const auto in = fixed_batch(train_batch, model.bert().config().vocab_size);
  std::vector<Index> labels;
  for (Index i = 0; i < train_batch; ++i) labels.push_back(i % 2);
  elm::nn::AdamWOptions adamw;
  adamw.lr = 2e-5;
  adamw.weight_decay = 0.01;
  elm::nn::AdamW<float> optimizer(adamw);
  const auto step = [&] {
    model.zero_grad();
    benchmark::DoNotOptimize(model.loss_and_backward(in, labels, elm::nn::ForwardContext::train(rng)));
    optimizer.step(model);
  };
  const double s = median_iteration_seconds(state, step);  // after a warm-up step, as the peer's
  results()[key("elm", threads, "minilm_train_s")] = s;
  if (const auto torch = result("torch", threads, "minilm_train_s")) state.counters["elm/torch"] = s / *torch;
}

// ---- the summary ----

/// ELM_BENCH_BERT_PEER_RESULTS names a file of the peers' numbers: read instead of measuring the peers when it
/// exists, written after measuring them otherwise (scripts/bench_bert.sh).
PeerResultsFile peer_results_file() { return PeerResultsFile("ELM_BENCH_BERT_PEER_RESULTS", {"torch", "onnx", "ct2"}); }

void print_summary(const std::vector<int>& counts, const std::string& load_before) {
  print_build_heading();
  fmt::print("BERT sentence embeddings (mean pooling, normalised) of 128-token sequences, float32. Load average "
             "(1, 5, 15 min) {} at the start, {} at the end. Ratios are elm's time (or memory) over the peer's: "
             "below 1, elm is faster (or smaller).\n\n",
             load_before, load_average());
  const ComparisonTable table(peer_labels);
  for (const auto& m : bench_models) {
    if (!model_enabled(m.name)) continue;
    const std::string name = m.name;
    for (const std::string& dtype : dtypes())
      for (int threads : counts)
        table.row(fmt::format("{}, {}: sentences/s", m.label, dtype), dtype_prefix(name, dtype) + "embed_s", true,
                  double(m.batch), threads);
    for (int threads : counts) table.row(fmt::format("{}: peak RSS (MB)", m.name), name + "_peak_rss", false, 1e-6,
                                         threads);
    for (int threads : counts)
      table.row(fmt::format("{}: RSS before loading (MB)", m.name), name + "_base_rss", false, 1e-6, threads);
  }
  if (model_enabled("minilm"))
    for (int threads : counts)
      table.row(fmt::format("fine-tuning step, MiniLM classifier, {} x {} tokens (ms)", train_batch, tokens),
                "minilm_train_s", false, 1e3, threads);
  fmt::print("\n");
  for (int threads : counts) {
    fmt::print("- {} thread{}{} (load average {} before, {} after)", threads, threads > 1 ? "s" : "",
               !have_openmp && threads > 1 ? ", elm built without OpenMP: one thread" : "",
               notes()[key("elm", threads, "load_before")], notes()[key("elm", threads, "load_after")]);
    for (const auto& m : bench_models) {
      const auto weights = result("elm", threads, std::string(m.name) + "_weights");
      const auto peak = result("elm", threads, std::string(m.name) + "_peak_rss");
      if (weights && peak)
        fmt::print("; {}: elm's peak RSS {:.2f}x the weights ({:.1f} MB)", m.name, *peak / *weights, *weights * 1e-6);
    }
    fmt::print(".\n");
    for (const auto& m : bench_models)
      for (const std::string& dtype : dtypes()) print_absent_peers(peer_labels, threads, dtype_prefix(m.name, dtype));
  }
  fmt::print("\nTargets (elm over the reference; met when at most the limit):\n\n| target | threads | result |\n"
             "|---|---:|---|\n");
  for (const auto& m : bench_models) {
    if (!model_enabled(m.name)) continue;
    for (const std::string& dtype : dtypes()) {
      const std::string what = dtype_prefix(m.name, dtype) + "embed_s";
      for (int threads : counts)
        fmt::print("| {} embeddings in {} at least as fast as the fastest peer in {} | {} | {} |\n", m.name, dtype,
                   dtype, threads,
                   verdict(ratio(result("elm", threads, what), best_peer(peer_labels, threads, what)), 1.0));
    }
  }
  for (int threads : counts)
    fmt::print("| fine-tuning step at most PyTorch's time | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "minilm_train_s"), result("torch", threads, "minilm_train_s")),
                       1.0));
  fmt::print("\nFirst component of the first sentence's embedding (the same model on every side):");
  for (const auto& m : bench_models)
    for (const std::string& dtype : dtypes())
      for (const std::string engine : {"elm", "torch", "onnx", "ct2"})
        if (const auto v = result(engine, counts.front(), dtype_prefix(m.name, dtype) + "first_component"))
          fmt::print(" {} {} {} {:.6f};", m.name, dtype, engine, *v);
  fmt::print(" versions:{}.\n", peer_versions(counts.front()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--bert-memory-probe")
    return memory_probe(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  benchmark::Initialize(&argc, argv);
  for (const auto& m : bench_models)
    if (model_enabled(m.name) && !std::filesystem::exists(model_dir(m.name) + "/hf/model.safetensors")) {
      fmt::print(stderr, "elm-bench-bert: no model in {}/hf: run python3 tools/make_bert_bench_model.py (or set "
                         "ELM_BENCH_BERT_DIR)\n", model_dir(m.name));
      return 1;
    }
  const std::vector<int> counts = thread_counts();
  const std::string load_before = load_average();
  add_build_context();
  const int reps = repeats();
  const PeerResultsFile peer_file = peer_results_file();
  const bool peers_read = peer_file.read();
  if (peers_read) fmt::print(stderr, "the peers' numbers read from {}\n", peer_file.path());
  // one thread count after the other, each with its peers just before elm: a shared machine's load drifts
  for (int threads : counts) {
    notes()[key("elm", threads, "load_before")] = load_average();
    for (const auto& m : bench_models) {
      if (!model_enabled(m.name)) continue;
      if (!peers_read) {
        fmt::print(stderr, "peers on {} at {} thread(s)...\n", m.name, threads);
        for (const std::string& dtype : dtypes())
          for (const char* peer : peer_names) run_peer(peer, m, dtype, threads);
      }
      measure_elm_memory(argv[0], m, threads);
      for (const std::string& dtype : dtypes())
        benchmark::RegisterBenchmark(fmt::format("bert_embed/{}/{}/threads:{}", m.name, dtype, threads).c_str(),
                                     bm_embed, &m, dtype, threads)
            ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    }
    if (model_enabled("minilm"))
      benchmark::RegisterBenchmark(fmt::format("bert_train_step/minilm/threads:{}", threads).c_str(), bm_train_step,
                                   threads)
          ->Iterations(reps)->UseManualTime()->Unit(benchmark::kMillisecond);
    run_registered(threads);
  }
  if (!peers_read) peer_file.write();
  print_summary(counts, load_before);
  benchmark::Shutdown();
  return 0;
}
