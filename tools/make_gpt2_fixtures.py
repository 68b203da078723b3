#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the Hugging Face reference fixtures of elm's GPT-2 into tests/data/gpt2/.

For each small, randomly initialised transformers.GPT2LMHeadModel configuration <name>:
- tests/data/gpt2/<name>/config.json and model.safetensors, written by save_pretrained (what a user downloads);
- tests/data/gpt2/<name>.json (the JSON format of tools/make_attention_fixtures.py): token ids (B, T), the logits
  of every position, the language-modelling loss (the next-token cross-entropy GPT2LMHeadModel(labels=ids) computes, here in
  float64) and the gradient of
  that loss for every parameter (under GPT2Model's names, without the "transformer." prefix; the tied head's
  gradient is part of wte.weight's), in float64 from the float32 checkpoint; the greedy continuation
  (generate(do_sample=False)) of a prompt; and a left-padded batch of prompts of different lengths (padded_*):
  its logits with the attention mask and position ids, and its greedy continuations by generate.
For the "tiny" model also tests/data/gpt2/tiny_f16/ and tiny_bf16/: save_pretrained of the same model cast to
float16 and bfloat16, and tiny_f16.json / tiny_bf16.json with the token ids and the logits transformers computes
from that checkpoint upcast (exactly) to float64.

Usage: python3 tools/make_gpt2_fixtures.py [--out tests/data/gpt2]   (pip install torch transformers safetensors)
"""
import argparse
import copy
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, write  # noqa: E402


def half_case(out_dir, name, model, dtype, ids):
    """save_pretrained of `model` cast to dtype, and the logits of that checkpoint as transformers loads it."""
    suffix = {torch.float16: "f16", torch.bfloat16: "bf16"}[dtype]
    directory = os.path.join(out_dir, name + "_" + suffix)
    copy.deepcopy(model).to(dtype).save_pretrained(directory, safe_serialization=True)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(directory, attn_implementation="eager")
    assert next(loaded.parameters()).dtype == dtype
    ref = loaded.to(F64)  # exact: every float16 and bfloat16 value is a float64
    ref.eval()
    with torch.no_grad():
        logits = ref(input_ids=ids).logits
    meta = {"B": ids.shape[0], "T": ids.shape[1], "vocab": model.config.vocab_size, "dtype": str(dtype),
            "reference": "transformers.GPT2LMHeadModel.from_pretrained of the %s checkpoint (eager attention), "
                         "upcast to float64" % suffix,
            "transformers": transformers.__version__}
    write(out_dir, name + "_" + suffix, meta, {"ids": ids.to(F64), "logits": logits})


def gpt2_case(out_dir, name, seed, n_embd, n_head, n_layer, vocab, positions, activation="gelu_new", n_inner=None,
              B=2, T=7, prompt_len=4, new_tokens=8, half_dtypes=(), padded_lengths=(5, 2, 4)):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_embd=n_embd, n_head=n_head, n_layer=n_layer, vocab_size=vocab,
                                     n_positions=positions, n_inner=n_inner, activation_function=activation,
                                     bos_token_id=None, eos_token_id=None, pad_token_id=None)
    config._attn_implementation = "eager"
    model = transformers.GPT2LMHeadModel(config)  # float32, Hugging Face's initialisation
    with torch.no_grad():  # layer norms away from (1, 0) so that their parameters matter
        for n, p in model.named_parameters():
            if ".ln_" in n or n.startswith("transformer.ln_f"):
                p.add_(0.1 * torch.randn(p.shape))
    model.save_pretrained(os.path.join(out_dir, name), safe_serialization=True)
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, vocab, (B, T), generator=gen)
    for dtype in half_dtypes:
        half_case(out_dir, name, model, dtype, ids)

    ref = model.to(F64)
    ref.eval()  # no dropout
    out = ref(input_ids=ids)
    # the loss GPT2LMHeadModel(labels=ids) computes, in float64 (its loss function upcasts to float32 only)
    loss = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    hf_loss = ref(input_ids=ids, labels=ids).loss.item()
    assert abs(loss.item() - hf_loss) < 1e-5, (loss.item(), hf_loss)
    loss.backward()
    tensors = {"ids": ids.to(F64), "logits": out.logits.detach(), "loss": loss.detach().reshape(1)}
    for n, p in ref.named_parameters():
        if p.grad is not None:
            tensors["grad." + n.removeprefix("transformer.")] = p.grad

    prompt = ids[:1, :prompt_len]
    with torch.no_grad():
        greedy = ref.generate(prompt, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              pad_token_id=0)
    tensors["prompt"] = prompt.to(F64)
    tensors["greedy"] = greedy[:, prompt_len:].to(F64)

    # A left-padded batch of prompts of different lengths, as generate takes it: padding (the end-of-text id,
    # pad_token_id = eos_token_id as for GPT-2) hidden by the attention mask, positions counted from each row's
    # first real token (position_ids = cumsum(attention_mask) - 1, padding at 0, transformers' own formula);
    # the logits of every position (those of padding positions are not meaningful), and the greedy continuations
    # (a row that produces eos ends there; generate pads it with eos after).
    pad_gen = torch.Generator().manual_seed(seed + 2)
    eos = vocab - 1
    padded = torch.full((len(padded_lengths), max(padded_lengths)), eos)
    attention_mask = torch.zeros_like(padded)
    for b, n in enumerate(padded_lengths):
        padded[b, padded.shape[1] - n:] = torch.randint(0, vocab - 1, (n,), generator=pad_gen)
        attention_mask[b, padded.shape[1] - n:] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    with torch.no_grad():
        padded_logits = ref(input_ids=padded, attention_mask=attention_mask, position_ids=position_ids).logits
        padded_greedy = ref.generate(padded, attention_mask=attention_mask, do_sample=False,
                                     max_new_tokens=new_tokens, pad_token_id=eos, eos_token_id=eos)
    tensors["padded_ids"] = padded.to(F64)
    tensors["padded_attention_mask"] = attention_mask.to(F64)
    tensors["padded_position_ids"] = position_ids.to(F64)
    tensors["padded_logits"] = padded_logits
    tensors["padded_greedy"] = padded_greedy[:, padded.shape[1]:].to(F64)
    meta = {"B": B, "T": T, "n_embd": n_embd, "n_head": n_head, "n_layer": n_layer, "vocab": vocab, "eos": eos,
            "reference": "transformers.GPT2LMHeadModel (eager attention), float64 from the float32 checkpoint",
            "transformers": transformers.__version__}
    write(out_dir, name, meta, tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gpt2"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gpt2_case(args.out, "tiny", 5, n_embd=16, n_head=2, n_layer=2, vocab=40, positions=24,
              half_dtypes=(torch.float16, torch.bfloat16))
    gpt2_case(args.out, "tiny_gelu", 6, n_embd=24, n_head=4, n_layer=3, vocab=50, positions=16, activation="gelu",
              n_inner=40)


if __name__ == "__main__":
    main()
