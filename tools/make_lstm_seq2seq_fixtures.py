#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference fixtures of tests/seq2seq (LSTM encoder-decoder, beam search) into
tests/data/seq2seq/lstm/.

Fixture format as tools/make_attention_fixtures.py writes it: {"meta": {...}, "tensors": {name: {"shape", "data"}}},
data in PyTorch's row-major order (elm's column-major matrices with rows = last dimension).

1. The LSTM sequence-to-sequence model of include/elm/models/lstm_seq2seq.hpp written in torch: nn.Embedding,
   a bidirectional nn.LSTM over pack_padded_sequence, a tanh bridge from the top layer's final states to the
   decoder's initial state, an nn.LSTMCell decoder with Luong's input feeding, attention (additive, dot or general)
   masked at source padding, tanh(W_c [context; h]) and the output projection. Parameters are drawn in float32 with
   fixed seeds and the reference is computed in float64 from those exact values, so the float and the double
   builds of elm are compared against the same numbers. Stored: every parameter, padded inputs, logits, the mean
   cross-entropy (targets -100 at padding) and the gradient of every parameter.
2. Beam search n-best lists, over a model trained for 120 steps to reverse its source (see train_reversal). The reference is transformers' own beam search: the loop of
   GenerationMixin._beam_search (transformers 5) driven here over a function giving each hypothesis's next-token
   log-probabilities (recomputed from the whole prefix, no cache), calling transformers' helpers for every rule
   (top 2 num_beams candidates, finished hypotheses, length penalty, early-stopping heuristic). Two models: a toy
   table model (the C++ test defines the same one) and the LSTM model above (Luong general attention). Each list is
   also checked against transformers' generate run on the same model (check_against_generate).
3. min_length_toy: the table model's n-best lists under generate's min_length (MinLengthLogitsProcessor), a few
   searches up to min_length = max_length, checked against generate likewise.

Usage: python3 tools/make_lstm_seq2seq_fixtures.py [--out tests/data/seq2seq/lstm]
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
import transformers
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.generation.utils import GenerationMixin as GM
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, write as write_fixture  # noqa: E402  (the same JSON format)


def write(out_dir, name, meta, tensors):
    write_fixture(out_dir, name, dict(meta, transformers=transformers.__version__), tensors)


# ---------------------------------------------------------------------------------------------------------------
# The model


class Attention(torch.nn.Module):
    """score(h, m_s): additive v^T tanh(W_q h + W_k m_s + b), dot h^T m_s, general h^T W_a m_s."""

    def __init__(self, kind, memory_size, hidden, attention_size):
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.key = torch.nn.Linear(memory_size, attention_size)
            self.query = torch.nn.Linear(hidden, attention_size, bias=False)
            self.v = torch.nn.Linear(attention_size, 1, bias=False)
        elif kind == "general":
            self.key = torch.nn.Linear(memory_size, hidden, bias=False)

    def keys(self, memory):  # (B, S, 2He) -> what the scores read, computed once per source
        return memory if self.kind == "dot" else self.key(memory)

    def scores(self, keys, h):  # keys (R, S, .), h (R, Hd) -> (R, S)
        if self.kind == "additive":
            return self.v(torch.tanh(keys + self.query(h).unsqueeze(1))).squeeze(-1)
        return torch.bmm(keys, h.unsqueeze(-1)).squeeze(-1)


class LstmSeq2Seq(torch.nn.Module):
    def __init__(self, src_vocab, tgt_vocab, E, He, Hd, A, layers, kind):
        super().__init__()
        self.src_embed = torch.nn.Embedding(src_vocab, E)
        self.encoder = torch.nn.LSTM(E, He, layers, batch_first=True, bidirectional=True)
        self.bridge_h = torch.nn.Linear(2 * He, Hd)
        self.bridge_c = torch.nn.Linear(2 * He, Hd)
        self.tgt_embed = torch.nn.Embedding(tgt_vocab, E)
        self.decoder = torch.nn.LSTMCell(E + Hd, Hd)
        self.attention = Attention(kind, 2 * He, Hd, A)
        self.combine = torch.nn.Linear(2 * He + Hd, Hd, bias=False)
        self.out = torch.nn.Linear(Hd, tgt_vocab)
        self.Hd = Hd

    def encode(self, src, lengths):
        B, S = src.shape
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_embed(src), torch.tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        memory, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
        h0 = torch.tanh(self.bridge_h(torch.cat([h_n[-2], h_n[-1]], -1)))
        c0 = torch.tanh(self.bridge_c(torch.cat([c_n[-2], c_n[-1]], -1)))
        mask = torch.arange(S).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        return memory, self.attention.keys(memory), mask, h0, c0

    def step(self, y_prev, h, c, feed, memory, keys, mask):
        h, c = self.decoder(torch.cat([self.tgt_embed(y_prev), feed], -1), (h, c))
        e = self.attention.scores(keys, h).masked_fill(~mask, -math.inf)
        alpha = torch.softmax(e, -1)
        context = torch.bmm(alpha.unsqueeze(1), memory).squeeze(1)
        feed = torch.tanh(self.combine(torch.cat([context, h], -1)))
        return self.out(feed), h, c, feed

    def forward(self, src, lengths, tgt_in):
        memory, keys, mask, h, c = self.encode(src, lengths)
        feed = torch.zeros(src.shape[0], self.Hd, dtype=memory.dtype)
        logits = []
        for t in range(tgt_in.shape[1]):
            lt, h, c, feed = self.step(tgt_in[:, t], h, c, feed, memory, keys, mask)
            logits.append(lt)
        return torch.stack(logits, 1)  # (B, T, V)

    def prefix_log_probs(self, source, prefix):
        """log p(. | source, prefix) after the whole prefix (start token first), recomputed from scratch."""
        src = torch.tensor([source])
        memory, keys, mask, h, c = self.encode(src, [len(source)])
        feed = torch.zeros(1, self.Hd, dtype=memory.dtype)
        for y in prefix:
            lt, h, c, feed = self.step(torch.tensor([y]), h, c, feed, memory, keys, mask)
        return torch.log_softmax(lt[0], -1)


def make_model(seed, kind, Vs=11, Vt=12, E=6, He=5, Hd=7, A=6, layers=2):
    torch.manual_seed(seed)
    model = LstmSeq2Seq(Vs, Vt, E, He, Hd, A, layers, kind)  # drawn in float32 by PyTorch's initialisers
    config = {"src_vocab": Vs, "tgt_vocab": Vt, "embedding_dim": E, "encoder_hidden": He, "decoder_hidden": Hd,
              "attention_dim": A, "encoder_layers": layers, "attention": kind}
    return model, config


def train_reversal(model, steps, seed, pad=0, bos=1, eos=2, low=3, high=11, batch=16):
    """A few Adam steps in float32 on reversing sequences of ids low..high-1 (at most 6): a model that has partly
    learned a task gives hypotheses that differ and end at different lengths, where a random one repeats a token."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    V = model.out.out_features
    for _ in range(steps):
        lengths = torch.randint(1, 7, (batch,), generator=gen).tolist()
        src = torch.full((batch, max(lengths)), pad, dtype=torch.long)
        tgt = torch.full((batch, max(lengths) + 2), pad, dtype=torch.long)
        for b, n in enumerate(lengths):
            seq = torch.randint(low, high, (n,), generator=gen)
            src[b, :n] = seq
            tgt[b, 0], tgt[b, 1:n + 1], tgt[b, n + 1] = bos, seq.flip(0), eos
        targets = tgt[:, 1:].clone()
        for b, n in enumerate(lengths):
            targets[b, n + 1:] = -100
        loss = F.cross_entropy(model(src, lengths, tgt[:, :-1]).reshape(-1, V), targets.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()


def padded(gen, vocab, lengths, low, pad):
    T = max(lengths)
    ids = torch.full((len(lengths), T), pad, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(low, vocab, (n,), generator=gen)
    return ids


def model_case(out_dir, name, seed, kind, layers, **sizes):
    model, config = make_model(seed, kind, layers=layers, **sizes)
    model = model.to(F64)
    gen = torch.Generator().manual_seed(seed + 100)
    pad, bos, eos = 0, 1, 2
    src_lengths, tgt_lengths = [5, 3, 4], [4, 6, 2]  # target lengths count the start token
    src = padded(gen, config["src_vocab"], src_lengths, 3, pad)
    tgt = padded(gen, config["tgt_vocab"], [n + 1 for n in tgt_lengths], 3, pad)
    for b, n in enumerate(tgt_lengths):
        tgt[b, 0] = bos
        tgt[b, n] = eos
    tgt_in, targets = tgt[:, :-1].clone(), tgt[:, 1:].clone()
    for b, n in enumerate(tgt_lengths):
        targets[b, n:] = -100
    logits = model(src, src_lengths, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    model.zero_grad()
    loss.backward()
    tensors = {k: v for k, v in model.state_dict().items()}
    tensors.update({"src": src, "tgt_in": tgt_in, "targets": targets, "logits": logits, "loss": loss.reshape(1)})
    for k, p in model.named_parameters():
        tensors["grad." + k] = p.grad
    meta = dict(config, pad=pad, bos=bos, eos=eos, src_lengths=src_lengths, tgt_lengths=tgt_lengths)
    write(out_dir, name, meta, tensors)


# ---------------------------------------------------------------------------------------------------------------
# Beam search: transformers' rules, driven over prefix_log_probs


def hf_beam_search(log_probs_fn, n_sources, bos, eos, num_beams, length_penalty, early_stopping,
                   num_return_sequences, max_length, min_length=0):
    """The loop of GenerationMixin._beam_search (transformers 5) with a start token as the decoder prompt, no
    logits processor but MinLengthLogitsProcessor(min_length, eos) (none when min_length is 0), and stopping criteria
    max_length and eos. log_probs_fn(source, prefix) -> (V,) float64.
    Returns per source its n-best list [{"tokens": tokens after the start token, "score": score}]."""
    B, k = n_sources, num_beams
    cur_len = prompt_len = 1
    beams_to_keep = 2 * k
    top_num_beam_mask = torch.cat((torch.ones(k, dtype=torch.bool), torch.zeros(beams_to_keep - k, dtype=torch.bool)))
    running_sequences = torch.full((B, k, max_length), eos, dtype=torch.int64)
    running_sequences[:, :, 0] = bos
    sequences = running_sequences.clone()
    running_beam_scores = torch.zeros((B, k), dtype=F64)
    running_beam_scores[:, 1:] = -1e9
    beam_scores = torch.full((B, k), -1e9, dtype=F64)
    is_sent_finished = torch.zeros((B, k), dtype=torch.bool)
    unsatisfied = torch.ones((B, 1), dtype=torch.bool)
    running_beam_indices = torch.full((B, k, max_length - cur_len), -1, dtype=torch.int32)
    beam_indices = running_beam_indices.clone()
    while True:
        rows = torch.stack([log_probs_fn(b, running_sequences[b, j, :cur_len].tolist())
                            for b in range(B) for j in range(k)])
        if cur_len < min_length:  # MinLengthLogitsProcessor, on the log-softmax's output as _beam_search applies it
            rows[:, eos] = -math.inf
        log_probs = rows.reshape(B, k, -1) + running_beam_scores[:, :, None]
        log_probs = log_probs.reshape(B, -1)
        topk_log_probs, topk_running_sequences, topk_running_beam_indices = GM._get_top_k_continuations(
            GM, accumulated_log_probs=log_probs, running_sequences=running_sequences,
            running_beam_indices=running_beam_indices, cur_len=cur_len, decoder_prompt_len=prompt_len, do_sample=False,
            beams_to_keep=beams_to_keep, num_beams=k, batch_size=B)
        # StoppingCriteriaList of generate: MaxLengthCriteria and EosTokenCriteria on the sequences of cur_len + 1
        hits = (topk_running_sequences[:, :, cur_len] == eos) | (cur_len + 1 >= max_length)
        running_sequences, running_beam_scores, running_beam_indices = GM._get_running_beams_for_next_iteration(
            GM, topk_log_probs=topk_log_probs, topk_running_sequences=topk_running_sequences,
            topk_running_beam_indices=topk_running_beam_indices, next_token_hits_stopping_criteria=hits, num_beams=k)
        sequences, beam_scores, beam_indices, is_sent_finished = GM._update_finished_beams(
            GM, sequences=sequences, topk_running_sequences=topk_running_sequences, beam_scores=beam_scores,
            topk_log_probs=topk_log_probs, beam_indices=beam_indices,
            topk_running_beam_indices=topk_running_beam_indices, is_early_stop_heuristic_unsatisfied=unsatisfied,
            is_sent_finished=is_sent_finished, next_token_hits_stopping_criteria=hits,
            top_num_beam_mask=top_num_beam_mask, num_beams=k, cur_len=cur_len, decoder_prompt_len=prompt_len,
            length_penalty=length_penalty, early_stopping=early_stopping)
        cur_len += 1
        unsatisfied = GM._check_early_stop_heuristic(
            unsatisfied, running_beam_scores, beam_scores, is_sent_finished, cur_len, max_length, prompt_len,
            early_stopping, length_penalty)
        if not GM._beam_search_has_unfinished_sequences(unsatisfied, is_sent_finished, hits, early_stopping):
            break
    results = []
    for b in range(B):
        nbest = []
        for r in range(num_return_sequences):
            n = int((beam_indices[b, r] >= 0).sum())
            nbest.append({"tokens": sequences[b, r, 1:1 + n].tolist(), "score": float(beam_scores[b, r])})
        results.append(nbest)
    return results


class _GenerateConfig(PretrainedConfig):
    model_type = "elm-seq2seq-check"

    def __init__(self, vocab_size=2, **kwargs):
        super().__init__(is_encoder_decoder=True, **kwargs)
        self.vocab_size = vocab_size


class _SourceIds(torch.nn.Module):
    """An "encoder" whose output is its input ids: generate copies it for every beam."""

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return BaseModelOutput(last_hidden_state=input_ids.unsqueeze(-1).to(F64))


class _GenerateWrapper(PreTrainedModel, GenerationMixin):
    """log_probs_fn(source, prefix) as an encoder-decoder that transformers' generate can run (no cache: the whole
    prefix is read at every step)."""
    config_class = _GenerateConfig
    main_input_name = "input_ids"

    def __init__(self, log_probs_fn, vocab_size):
        super().__init__(_GenerateConfig(vocab_size))
        self.log_probs_fn = log_probs_fn
        self.source_ids = _SourceIds()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def get_encoder(self):
        return self.source_ids

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, encoder_outputs=None, **kwargs):
        src = encoder_outputs[0][..., 0].long()
        rows = [self.log_probs_fn(src[r, :int(attention_mask[r].sum())].tolist(), decoder_input_ids[r].tolist())
                for r in range(decoder_input_ids.shape[0])]
        return Seq2SeqLMOutput(logits=torch.stack(rows).unsqueeze(1).to(torch.float32))


def check_against_generate(log_probs_fn, sources, vocab_size, bos, eos, pad, cases):
    """The reference loop must give what transformers' generate gives (in float32, so scores within 1e-4): the n-best
    sequences and sequences_scores of every beam case (width 1: generate decodes greedily, compared where the beam
    rules are greedy, early stopping True or length_penalty 0)."""
    model = _GenerateWrapper(lambda source, prefix: log_probs_fn(sources.index(source), prefix), vocab_size)
    S = max(map(len, sources))
    ids = torch.full((len(sources), S), pad, dtype=torch.long)
    mask = torch.zeros(len(sources), S, dtype=torch.long)
    for b, source in enumerate(sources):
        ids[b, :len(source)] = torch.tensor(source)
        mask[b, :len(source)] = 1
    for c in cases:
        k, early = c["num_beams"], {"true": True, "false": False}.get(c["early_stopping"], c["early_stopping"])
        if k == 1 and not (early is True or c["length_penalty"] == 0.0):
            continue
        out = model.generate(input_ids=ids, attention_mask=mask, num_beams=k, length_penalty=c["length_penalty"],
                             early_stopping=early, num_return_sequences=k, max_length=c["max_length"],
                             min_length=c.get("min_length", 0),
                             decoder_start_token_id=bos, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
                             do_sample=False, use_cache=False, output_scores=True, return_dict_in_generate=True)
        for b in range(len(sources)):
            for r in range(k):
                want = c["results"][b][r]
                seq = out.sequences[b * k + r].tolist()[1:]
                n = len(want["tokens"])
                # after a finished sequence generate writes pad_token_id, or eos_token_id when pad_token_id is 0
                assert seq[:n] == want["tokens"] and all(t in (pad, eos) for t in seq[n:]), (c, b, r, seq, want)
                if k > 1:
                    assert abs(float(out.sequences_scores[b * k + r]) - want["score"]) < 1e-4, (c, b, r, want)


def beam_cases(log_probs_fn, n_sources, bos, eos, max_length):
    cases = []
    for num_beams in (1, 3, 5):
        for length_penalty in (0.6, 1.0, 2.0):
            for early in (True, False):
                cases.append((num_beams, length_penalty, early))
    cases += [(3, 1.0, "never"), (5, 2.0, "never"), (5, -0.5, "never"), (1, 0.0, False), (4, 0.0, False)]
    out = []
    for num_beams, length_penalty, early in cases:
        results = hf_beam_search(log_probs_fn, n_sources, bos, eos, num_beams, length_penalty, early, num_beams,
                                 max_length)
        out.append({"num_beams": num_beams, "length_penalty": length_penalty,
                    "early_stopping": early if isinstance(early, str) else ("true" if early else "false"),
                    "max_length": max_length, "results": results})
    return out


def min_length_cases(log_probs_fn, n_sources, bos, eos, max_length):
    """A few searches under Hugging Face's min_length, up to min_length = max_length (the end token never comes)."""
    out = []
    for num_beams, length_penalty, early, min_length in ((1, 1.0, True, 5), (3, 1.0, False, 6), (3, 2.0, True, 5),
                                                         (4, 0.6, "never", 3), (3, 1.0, False, max_length)):
        results = hf_beam_search(log_probs_fn, n_sources, bos, eos, num_beams, length_penalty, early, num_beams,
                                 max_length, min_length)
        out.append({"num_beams": num_beams, "length_penalty": length_penalty, "min_length": min_length,
                    "early_stopping": early if isinstance(early, str) else ("true" if early else "false"),
                    "max_length": max_length, "results": results})
    return out


def toy_case(out_dir, seed=5, V=7, n_sources=4, max_length=7, name="beam_toy", make_cases=beam_cases):
    """A table model: logits(next | source, prefix) = last[prefix[-1]] + sum_{w in source} src[w] + step[t],
    t = len(prefix) - 1. tests/seq2seq/test_beam_search.cpp defines the same model from these tables."""
    gen = torch.Generator().manual_seed(seed)
    last = (torch.randn(V, V, generator=gen) * 1.2).to(F64)
    src = (torch.randn(V, V, generator=gen) * 0.5).to(F64)
    step = (torch.randn(max_length, V, generator=gen) * 1.0).to(F64)
    bos, eos = 1, 2
    step[:, eos] += 0.9 * torch.arange(max_length, dtype=F64) - 0.5  # ending grows likelier with length
    lengths = [3, 1, 4, 2]
    sources = [torch.randint(3, V, (n,), generator=gen).tolist() for n in lengths]

    def log_probs(b, prefix):
        logits = last[prefix[-1]] + sum(src[w] for w in sources[b]) + step[len(prefix) - 1]
        return torch.log_softmax(logits, -1)

    cases = make_cases(log_probs, len(sources), bos, eos, max_length)
    check_against_generate(log_probs, sources, V, bos, eos, 0, cases)
    meta = {"vocab": V, "bos": bos, "eos": eos, "sources": sources, "beam_cases": cases}
    write(out_dir, name, meta, {"last": last, "src": src, "step": step})


def lstm_beam_case(out_dir, seed=41, max_length=9):
    model, config = make_model(seed, "general", layers=1)
    pad, bos, eos = 0, 1, 2
    train_reversal(model, 120, seed, pad, bos, eos)
    model = model.to(F64)
    gen = torch.Generator().manual_seed(seed + 100)
    sources = [torch.randint(3, config["src_vocab"], (n,), generator=gen).tolist() for n in (4, 1, 6, 3)]
    with torch.no_grad():
        log_probs = lambda b, prefix: model.prefix_log_probs(sources[b], prefix)  # noqa: E731
        cases = beam_cases(log_probs, len(sources), bos, eos, max_length)
        check_against_generate(log_probs, sources, config["tgt_vocab"], bos, eos, pad, cases)
    meta = dict(config, pad=pad, bos=bos, eos=eos, sources=sources, beam_cases=cases)
    write(out_dir, "beam_lstm", meta, dict(model.state_dict()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "seq2seq", "lstm"))
    ap.add_argument("--only", default="", help="write only the fixtures whose name starts with this")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    jobs = {"beam_toy": lambda: toy_case(args.out),
            "min_length_toy": lambda: toy_case(args.out, name="min_length_toy", make_cases=min_length_cases),
            "lstm_additive": lambda: model_case(args.out, "lstm_additive", 11, "additive", 2),
            "lstm_general": lambda: model_case(args.out, "lstm_general", 12, "general", 1),
            "lstm_dot": lambda: model_case(args.out, "lstm_dot", 13, "dot", 1, E=4, He=3, Hd=6),
            "beam_lstm": lambda: lstm_beam_case(args.out)}
    for name, job in jobs.items():
        if name.startswith(args.only):
            job()


if __name__ == "__main__":
    main()
