// SPDX-License-Identifier: MIT
// The sequence-to-sequence Transformer (models/transformer_seq2seq.hpp) at 1 and 2 threads against PyTorch, in one
// run: a training step (target tokens/s) and beam search of width 4 (sentences/s), float32.
//
// The model: the 2017 paper's base layout at a small size: width 256, 4 heads, 3 encoder and 3 decoder layers,
// feed-forward 1024, ReLU, post-norm, sinusoidal positions, dropout 0.1, separate source and target vocabularies of
// 8000, the head tied to the target table. elm draws its weights from a fixed seed and writes them with
// elm::io::save_parameters to build/tmp/seq2seq-bench/model.safetensors, beside check.safetensors (the logits of
// two pairs, dropout off, and elm's best beam hypotheses); the PyTorch peer loads the same weights by name into the
// same module (torch.nn.Transformer's encoder and decoder, the embeddings, positions and tied head) and reports how
// far its logits and beams are from elm's.
//
// What is measured, by both sides alike (the peers in child python3 processes, one per peer and thread count,
// before elm's benchmarks; a peer that is not installed is reported absent):
// - train step: batch 32 pairs, sources of 32 tokens, decoder inputs of 32 tokens (the start token, then 31), no
//   padding; forward with dropout, cross-entropy with label smoothing 0.1, backward, AdamW (lr 1e-4, weight decay
//   0.01). elm: loss_and_backward and nn::AdamW; PyTorch: the module in train mode, F.cross_entropy and
//   torch.optim.AdamW. Target tokens/s = 32 x 32 / median step time.
// - beam search: 32 sources of 24 tokens, width 4, exactly 32 tokens each: min_length = max_length = 33 (Hugging
//   Face's MinLengthLogitsProcessor keeps the end token's log-probability at -inf, so no hypothesis ends early on
//   either side). elm: models::beam_search. Peers: (torch) the same module decoded with a key-value cache in
//   PyTorch (the encoder once, every layer's cross-attention keys and values once, the self-attention keys and
//   values cached, grown by torch.cat and reordered by index_select; log-softmax, the 2 x 4 best of 4 x 8000 by torch.topk per source), and
//   (transformers) Hugging Face's MarianMTModel of the same sizes and layout (post-norm, ReLU, sinusoidal positions,
//   scaled embeddings, separate vocabularies of 8000, the head tied to the decoder's table; its own random weights,
//   the work being fixed by min_length and max_length) through generate(num_beams=4, min_length=33, max_length=33)
//   with its cache. Both under torch.inference_mode. Sentences/s = 32 / median time.
// Thread counts: ELM_BENCH_SEQ2SEQ_THREADS (default "1,2"); elm sets OpenMP's thread count, the peers
// torch.set_num_threads. ELM_BENCH_SEQ2SEQ_PEERS (default "torch,hf"; "none") and ELM_BENCH_SEQ2SEQ_REPEATS
// (default 3) choose the rest; ELM_BENCH_SEQ2SEQ_PEER_RESULTS names a file that keeps the peers' numbers for a
// second run (read when it exists, written otherwise). scripts/bench_seq2seq.sh runs it for both builds.
#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "peer_bench.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/beam_search.hpp"
#include "elm/models/transformer_seq2seq.hpp"
#include "elm/nn/optim/adamw.hpp"

#ifndef ELM_SOURCE_DIR
#define ELM_SOURCE_DIR "."
#endif

namespace {

using elm::Index;
using elm::Matrix;
using elm::models::TransformerSeq2Seq;
using namespace elm_bench;

constexpr Index vocab = 8000;      // V_s = V_t
constexpr Index train_batch = 32;  // B
constexpr Index train_length = 32; // S = T
constexpr Index beam_sources = 32;
constexpr Index beam_source_length = 24;
constexpr Index beam_width = 4;
constexpr Index beam_tokens = 32;  // decoded per source: max_length = min_length = beam_tokens + 1
constexpr Index check_pairs = 2;   // the pairs whose logits the peer compares
const std::vector<PeerLabel> peer_labels = {{"torch", "PyTorch"}, {"hf", "transformers"}};

// ---- settings ----

std::string root() { return std::string(ELM_SOURCE_DIR) + "/build/tmp/seq2seq-bench"; }
int repeats() { return std::max(1, std::atoi(env_or("ELM_BENCH_SEQ2SEQ_REPEATS", "3").c_str())); }
std::vector<int> thread_counts() { return int_list("ELM_BENCH_SEQ2SEQ_THREADS", "1,2"); }
bool peer_enabled(const std::string& name) { return listed("ELM_BENCH_SEQ2SEQ_PEERS", "torch,hf", name); }

elm::models::TransformerSeq2SeqConfig model_config() {
  elm::models::TransformerSeq2SeqConfig c;
  c.source_vocab_size = vocab;
  c.target_vocab_size = vocab;
  c.width = 256;
  c.heads = 4;
  c.encoder_layers = 3;
  c.decoder_layers = 3;
  c.intermediate = 1024;
  c.dropout = 0.1;
  c.max_positions = 64;
  return c;  // ReLU, post-norm, final norms, sinusoids, scaled embeddings, tied head, pad 0, bos 1, eos 2
}

/// Token ids 3 .. V-1 spread over the vocabulary (no pad, start or end token); the peers compute the same.
Index id_at(Index i, Index salt) { return 3 + (i * 7919 + salt * 104729 + 13) % (vocab - 3); }

/// The training batch: source b's token t is id_at(b S + t, 1); the target sequence y_1 .. y_T has
/// y_{t+1} = id_at(b T + t, 2); the decoder reads bos y_1 .. y_{T-1} and predicts y_1 .. y_T.
elm::models::Seq2SeqBatch train_batch_of(Index batch, std::vector<Index>& labels) {
  elm::models::Seq2SeqBatch in;
  in.batch = batch;
  labels.clear();
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < train_length; ++t) {
      in.source.push_back(id_at(b * train_length + t, 1));
      in.target.push_back(t == 0 ? 1 : id_at(b * train_length + t - 1, 2));
      labels.push_back(id_at(b * train_length + t, 2));
    }
  return in;
}

std::vector<std::vector<int>> beam_sources_of() {
  std::vector<std::vector<int>> sources(beam_sources);
  for (Index n = 0; n < beam_sources; ++n)
    for (Index t = 0; t < beam_source_length; ++t)
      sources[std::size_t(n)].push_back(int(id_at(n * beam_source_length + t, 3)));
  return sources;
}

elm::models::BeamSearchConfig beam_config() {
  elm::models::BeamSearchConfig c;
  c.num_beams = beam_width;
  c.max_length = beam_tokens + 1;
  c.min_length = beam_tokens + 1;
  return c;
}

// ---- elm ----

TransformerSeq2Seq<float> fresh_model() {
  elm::Rng rng(2017);
  return TransformerSeq2Seq<float>(model_config(), rng);
}

/// Writes the weights and what the peer checks against: the logits of the first pairs (dropout off), (V, pairs T)
/// as a (pairs T, V) tensor, and the tokens of each source's best beam hypothesis (sources, beam_tokens).
void write_model_files() {
  std::filesystem::create_directories(root());
  const auto model = fresh_model();
  elm::io::save_parameters(root() + "/model.safetensors", model);
  std::vector<Index> labels;
  Matrix<float> logits;
  model.forward(train_batch_of(check_pairs, labels), logits);
  const auto beams = elm::models::beam_search(model, beam_sources_of(), beam_config());
  std::vector<float> tokens;
  for (const auto& nbest : beams)
    for (int t : nbest.front().tokens) tokens.push_back(float(t));
  elm::io::SafetensorsWriter writer;
  writer.add("logits", {check_pairs * train_length, vocab}, logits);
  writer.add("beam_tokens", {beam_sources, Index(tokens.size()) / beam_sources}, tokens);
  writer.save(root() + "/check.safetensors");
}

void bm_train_step(benchmark::State& state, int threads) {
  set_threads(threads);
  auto model = fresh_model();
  std::vector<Index> labels;
  const auto batch = train_batch_of(train_batch, labels);
  elm::nn::AdamWOptions adamw;
  adamw.lr = 1e-4;
  adamw.weight_decay = 0.01;
  elm::nn::AdamW<float> optimizer(adamw);
  elm::Rng rng(7);
  const auto options = model.loss_options(0.1);
  const auto step = [&] {
    model.zero_grad();
    benchmark::DoNotOptimize(model.loss_and_backward(batch, labels, options, elm::nn::ForwardContext::train(rng)));
    optimizer.step(model);
  };
  const double s = median_iteration_seconds(state, step);  // after a warm-up step, as the peer's
  results()[key("elm", threads, "train_s")] = s;
  state.counters["tokens/s"] = double(train_batch * train_length) / s;
  if (const auto torch = result("torch", threads, "train_s")) state.counters["elm/torch"] = s / *torch;
}

void bm_beam_search(benchmark::State& state, int threads) {
  set_threads(threads);
  const auto model = fresh_model();
  const auto sources = beam_sources_of();
  const auto config = beam_config();
  const double s = median_iteration_seconds(
      state, [&] { benchmark::DoNotOptimize(elm::models::beam_search(model, sources, config).data()); });
  results()[key("elm", threads, "beam_s")] = s;
  state.counters["sentences/s"] = double(beam_sources) / s;
  for (const auto& p : peer_labels)
    if (const auto v = result(p.key, threads, "beam_s")) state.counters[std::string("elm/") + p.key] = s / *v;
}

// ---- the peers ----

// After peer_python_helpers: arguments, the module, the ids.
constexpr const char* peer_prelude = R"PY(
import math
maker = "elm-bench-seq2seq itself (it writes the model before running the peers)"
root, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
V, C, H, LAYERS, F, P = 8000, 256, 4, 3, 1024, 64
B, L, NS, SL, K, NT, CHECK = 32, 32, 32, 24, 4, 32, 2
PAD, BOS, EOS = 0, 1, 2
def id_at(i, salt):
    return 3 + (i * 7919 + salt * 104729 + 13) % (V - 3)
)PY";

constexpr const char* torch_peer = R"PY(
torch, safetensors_torch = need(["torch", "safetensors.torch"], "model.safetensors")
import torch.nn.functional as Fn
torch.set_num_threads(threads)
torch.manual_seed(0)
out("version", "torch-" + torch.__version__)

class Seq2Seq(torch.nn.Module):
    """elm's TransformerSeq2Seq in PyTorch, with its parameter names: dropout on the scaled embeddings plus
    positions, torch.nn.Transformer's encoder and decoder (post-norm, final norms), the head tied to the target table."""
    def __init__(self):
        super().__init__()
        t = torch.nn.Transformer(d_model=C, nhead=H, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS,
                                 dim_feedforward=F, dropout=0.1, activation="relu", batch_first=True, norm_first=False)
        self.source_embedding = torch.nn.Embedding(V, C)
        self.target_embedding = torch.nn.Embedding(V, C)
        self.encoder, self.decoder = t.encoder, t.decoder
        self.dropout = torch.nn.Dropout(0.1)
        pe = torch.zeros(P, C, dtype=torch.float64)
        p = torch.arange(P, dtype=torch.float64).unsqueeze(1)
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, C, 2, dtype=torch.float64) / C)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
        self.register_buffer("pe", pe.float(), persistent=False)
    def embed(self, table, ids, offset=0):
        return self.dropout(table(ids) * math.sqrt(C) + self.pe[offset:offset + ids.shape[1]])
    def encode(self, src):
        return self.encoder(self.embed(self.source_embedding, src))
    def forward(self, src, tgt):
        T = tgt.shape[1]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(T)
        h = self.decoder(self.embed(self.target_embedding, tgt), self.encode(src), tgt_mask=causal, tgt_is_causal=True)
        return h @ self.target_embedding.weight.T

model = Seq2Seq()
model.load_state_dict(safetensors_torch.load_file(os.path.join(root, "model.safetensors")), strict=True)
check = safetensors_torch.load_file(os.path.join(root, "check.safetensors"))

def train_batch(n):
    src = torch.tensor([[id_at(b * L + t, 1) for t in range(L)] for b in range(n)])
    tgt = torch.tensor([[BOS if t == 0 else id_at(b * L + t - 1, 2) for t in range(L)] for b in range(n)])
    labels = torch.tensor([[id_at(b * L + t, 2) for t in range(L)] for b in range(n)])
    return src, tgt, labels

# the same model: the logits of the first pairs, dropout off
model.eval()
with torch.inference_mode():
    src, tgt, _ = train_batch(CHECK)
    logits = model(src, tgt).reshape(-1, V)
out("logits_max_diff", float((logits - check["logits"]).abs().max()))
out("logits_max_abs", float(check["logits"].abs().max()))

# beam search with a key-value cache
def split(x):  # (N, T, C) -> (N, H, T, C / H)
    return x.view(x.shape[0], x.shape[1], H, C // H).transpose(1, 2)
def merge(x):  # (N, H, T, C / H) -> (N, T, C)
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], C)
def beam_search(src):
    N = src.shape[0]
    memory = model.encode(src).repeat_interleave(K, 0)  # each source's memory for its K hypotheses
    cross, self_k, self_v = [], [], []
    for layer in model.decoder.layers:
        w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
        cross.append((split(Fn.linear(memory, w[C:2 * C], b[C:2 * C])), split(Fn.linear(memory, w[2 * C:], b[2 * C:]))))
        self_k.append(torch.empty(N * K, H, 0, C // H))
        self_v.append(torch.empty(N * K, H, 0, C // H))
    scores = torch.zeros(N, K)
    scores[:, 1:] = -1e9
    last = torch.full((N * K, 1), BOS)
    tokens = torch.empty(N * K, 0, dtype=torch.long)
    offsets = (torch.arange(N) * K).unsqueeze(1)
    for pos in range(NT):
        x = model.embed(model.target_embedding, last, pos)
        for i, layer in enumerate(model.decoder.layers):
            sa, ca = layer.self_attn, layer.multihead_attn
            q, k, v = Fn.linear(x, sa.in_proj_weight, sa.in_proj_bias).chunk(3, dim=-1)
            self_k[i] = torch.cat([self_k[i], split(k)], dim=2)
            self_v[i] = torch.cat([self_v[i], split(v)], dim=2)
            a = Fn.scaled_dot_product_attention(split(q), self_k[i], self_v[i])
            x = layer.norm1(x + sa.out_proj(merge(a)))
            q = Fn.linear(x, ca.in_proj_weight[:C], ca.in_proj_bias[:C])
            a = Fn.scaled_dot_product_attention(split(q), cross[i][0], cross[i][1])
            x = layer.norm2(x + ca.out_proj(merge(a)))
            x = layer.norm3(x + layer.linear2(Fn.relu(layer.linear1(x))))
        h = model.decoder.norm(x)[:, 0]
        log_p = torch.log_softmax(h @ model.target_embedding.weight.T, dim=-1)
        log_p[:, EOS] = -math.inf  # min_length = max_length: the end token never comes
        candidates = (log_p + scores.reshape(-1, 1)).reshape(N, K * V)
        top, flat = candidates.topk(2 * K, dim=1)  # Hugging Face keeps 2 K; none ends here, so the first K go on
        scores, flat = top[:, :K], flat[:, :K]
        parents = (offsets + flat // V).reshape(-1)
        last = (flat % V).reshape(-1, 1)
        tokens = torch.cat([tokens[parents], last], dim=1)
        for i in range(LAYERS):  # each hypothesis's cache from its parent, as Hugging Face's reorder_cache
            self_k[i] = self_k[i].index_select(0, parents)
            self_v[i] = self_v[i].index_select(0, parents)
    return tokens.reshape(N, K, NT)[:, 0], scores[:, 0]

sources = torch.tensor([[id_at(n * SL + t, 3) for t in range(SL)] for n in range(NS)])
def beam():
    with torch.inference_mode():
        return beam_search(sources)
best, _ = beam()
out("beam_same_best", int((best == check["beam_tokens"].long()).all(dim=1).sum()))
out("beam_s", median(lambda: timed(beam), reps))

# the training step
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
src, tgt, labels = train_batch(B)
def train_step():
    opt.zero_grad()
    logits = model(src, tgt)
    Fn.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=PAD, label_smoothing=0.1).backward()
    opt.step()
out("train_s", median(lambda: timed(train_step), reps))
)PY";

constexpr const char* hf_peer = R"PY(
torch, transformers = need(["torch", "transformers"], "model.safetensors")
torch.set_num_threads(threads)
torch.manual_seed(0)
out("version", "transformers-" + transformers.__version__)
config = transformers.MarianConfig(
    vocab_size=V, decoder_vocab_size=V, share_encoder_decoder_embeddings=False, tie_word_embeddings=True,
    d_model=C, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=H, decoder_attention_heads=H,
    encoder_ffn_dim=F, decoder_ffn_dim=F, activation_function="relu", max_position_embeddings=P,
    scale_embedding=True, dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=PAD,
    eos_token_id=EOS, bos_token_id=BOS, decoder_start_token_id=BOS, forced_eos_token_id=None)
model = transformers.MarianMTModel(config).eval()
sources = torch.tensor([[id_at(n * SL + t, 3) for t in range(SL)] for n in range(NS)])
mask = torch.ones_like(sources)
def beam():
    with torch.inference_mode():
        return model.generate(input_ids=sources, attention_mask=mask, num_beams=K, num_return_sequences=1,
                              min_length=NT + 1, max_length=NT + 1, do_sample=False, use_cache=True)
ids = beam()
out("beam_generated", int(ids.shape[1]) - 1)  # tokens after the start token: NT when the work is the same
out("beam_s", median(lambda: timed(beam), reps))
)PY";

void run_peer(const std::string& name, int threads) {
  if (!peer_enabled(name)) {
    notes()[key(name, threads, "absent")] = "not run (ELM_BENCH_SEQ2SEQ_PEERS)";
    return;
  }
  const std::string script = std::string(peer_python_helpers) + peer_prelude + (name == "torch" ? torch_peer : hf_peer);
  const std::string args = root() + " " + std::to_string(threads) + " " + std::to_string(repeats());
  run_peer_script(name, threads, script, "elm_bench_seq2seq_" + name + ".py", args,
                  name == "torch" ? "train_s" : "beam_s");
}

// ---- the summary ----

PeerResultsFile peer_results_file() { return PeerResultsFile("ELM_BENCH_SEQ2SEQ_PEER_RESULTS", {"torch", "hf"}); }

void print_summary(const std::vector<int>& counts, const std::string& load_before) {
  print_build_heading();
  fmt::print("Sequence-to-sequence Transformer (width 256, 4 heads, 3 + 3 layers, feed-forward 1024, vocabularies "
             "of 8000), float32. Load average (1, 5, 15 min) {} at the start, {} at the end. Ratios are elm's time "
             "over the peer's: below 1, elm is faster.\n\n",
             load_before, load_average());
  const ComparisonTable table(peer_labels);
  for (int threads : counts)
    table.row(fmt::format("training step, {} x {} target tokens: tokens/s", train_batch, train_length), "train_s",
              true, double(train_batch * train_length), threads);
  for (int threads : counts)
    table.row(fmt::format("beam search width {}, {} sources, {} tokens each: sentences/s", beam_width, beam_sources,
                          beam_tokens),
              "beam_s", true, double(beam_sources), threads);
  fmt::print("\n");
  for (int threads : counts) {
    fmt::print("- {} thread{}{} (load average {} before, {} after).\n", threads, threads > 1 ? "s" : "",
               !have_openmp && threads > 1 ? ", elm built without OpenMP: one thread" : "",
               notes()[key("elm", threads, "load_before")], notes()[key("elm", threads, "load_after")]);
    print_absent_peers(peer_labels, threads);
  }
  fmt::print("\nTargets (elm's time over PyTorch's with the same weights; met when at most the limit):\n\n"
             "| target | threads | result |\n|---|---:|---|\n");
  for (int threads : counts) {
    fmt::print("| training step at most PyTorch's time | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "train_s"), result("torch", threads, "train_s")), 1.0));
    fmt::print("| beam search at most the fastest peer's time | {} | {} |\n", threads,
               verdict(ratio(result("elm", threads, "beam_s"), best_peer(peer_labels, threads, "beam_s")), 1.0));
  }
  const int first = counts.front();
  fmt::print("\nThe same model on both sides:");
  if (const auto d = result("torch", first, "logits_max_diff"))
    fmt::print(" PyTorch's logits of {} pairs (dropout off) differ from elm's by at most {:.2g} (largest logit "
               "{:.3g});", check_pairs, *d, result("torch", first, "logits_max_abs").value_or(0.0));
  if (const auto same = result("torch", first, "beam_same_best"))
    fmt::print(" PyTorch's cached beam search finds elm's best hypothesis for {:.0f} of {} sources;", *same,
               beam_sources);
  if (const auto n = result("hf", first, "beam_generated"))
    fmt::print(" transformers' generate decoded {:.0f} tokens a source (elm and PyTorch: {});", *n, beam_tokens);
  fmt::print(" versions:{}.\n", peer_versions(first));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const std::vector<int> counts = thread_counts();
  const std::string load_before = load_average();
  add_build_context();
  const PeerResultsFile peer_file = peer_results_file();
  const bool peers_read = peer_file.read();
  if (peers_read) {
    fmt::print(stderr, "the peers' numbers read from {}\n", peer_file.path());
  } else {
    fmt::print(stderr, "writing the model and the peers' checks to {}...\n", root());
    set_threads(counts.front());
    write_model_files();
  }
  // one thread count after the other, each with its peers just before elm: a shared machine's load drifts
  for (int threads : counts) {
    notes()[key("elm", threads, "load_before")] = load_average();
    if (!peers_read) {
      fmt::print(stderr, "peers at {} thread(s)...\n", threads);
      for (const auto& p : peer_labels) run_peer(p.key, threads);
    }
    benchmark::RegisterBenchmark(fmt::format("seq2seq_train_step/threads:{}", threads).c_str(), bm_train_step,
                                 threads)
        ->Iterations(repeats())->UseManualTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(fmt::format("seq2seq_beam_search/threads:{}", threads).c_str(), bm_beam_search,
                                 threads)
        ->Iterations(repeats())->UseManualTime()->Unit(benchmark::kMillisecond);
    run_registered(threads);
  }
  if (!peers_read) peer_file.write();
  print_summary(counts, load_before);
  benchmark::Shutdown();
  return 0;
}
