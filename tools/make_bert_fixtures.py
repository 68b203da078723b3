#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the Hugging Face reference fixtures of elm's BERT into tests/data/bert/.

For each small, randomly initialised transformers model <name> (BertModel, BertForMaskedLM or
BertForSequenceClassification; sizes, activations, token-type counts and initializer_range vary, the larger
ranges giving outputs of order one):
- tests/data/bert/<name>/config.json and model.safetensors, written by save_pretrained (what a user downloads);
- tests/data/bert/<name>.json (the JSON format of tools/make_attention_fixtures.py) for one padded batch of
  sequences of different lengths with token types (ids, token_type_ids, attention_mask, each (B, T)):
  * BertModel: last_hidden_state (B, T, C) and pooler_output (B, C), and the gradient of
    sum(g_hidden * last_hidden_state) + sum(g_pooled * pooler_output) (g_* stored) for every parameter;
  * BertForMaskedLM: the logits (B, T, V), the loss of labels that are -100 except at a few tokens (as
    BertForMaskedLM(labels=...) computes it) and every parameter's gradient of that loss; and the logits of a
    left-padded batch (mask 0 before the tokens), which only a general mask describes;
  * BertForSequenceClassification: the logits (B, num_labels), the cross-entropy of class labels and every
    parameter's gradient.
  Everything in float64 from the float32 checkpoint, in eval mode (no dropout), eager attention; gradients
  under transformers' parameter names as "grad.<name>".
Classifiers headed on a pretrained body (cls_from_<body>): transformers' BertForSequenceClassification.from_pretrained
of a BertModel (base_tiny), a BertForMaskedLM (mlm_tiny, which has no pooler) and a BertForPreTraining directory
(pretraining_tiny, written here, with its next-sentence head) with num_labels given, the new head seeded: the
freshly initialised tensors (classifier.*, and bert.pooler.dense.* when the body had none) as "head.<name>", the
names transformers reported missing in meta, and the logits of a padded batch.
For "mlm_tiny" also tests/data/bert/mlm_tiny_f16/ and mlm_tiny_bf16/: save_pretrained of the same model cast
to float16 and bfloat16, with mlm_tiny_f16.json / mlm_tiny_bf16.json holding the batch and the logits
transformers computes from that checkpoint upcast (exactly) to float64.

Usage: python3 tools/make_bert_fixtures.py [--out tests/data/bert]   (pip install numpy torch transformers safetensors)
"""
import argparse
import copy
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, write  # noqa: E402


def padded_batch(gen, vocab, type_vocab, lengths, left=False):
    """ids in [1, V) (0 is [PAD]), token types 0 then 1 (and 2 ...) in segments, mask 1 on tokens."""
    B, T = len(lengths), max(lengths)
    ids = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        cols = range(T - n, T) if left else range(n)
        tokens = torch.randint(1, vocab, (n,), generator=gen)
        for k, t in enumerate(cols):
            ids[b, t] = tokens[k]
            types[b, t] = min(type_vocab - 1, (k * type_vocab) // n)
            mask[b, t] = 1
    return ids, types, mask


def batch_tensors(ids, types, mask, suffix=""):
    return {"ids" + suffix: ids.to(F64), "token_type_ids" + suffix: types.to(F64),
            "attention_mask" + suffix: mask.to(F64)}


def make_model(cls, seed, **sizes):
    torch.manual_seed(seed)
    config = transformers.BertConfig(**sizes)
    config._attn_implementation = "eager"
    model = cls(config)  # float32, Hugging Face's initialisation
    with torch.no_grad():  # biases and layer norms away from 0 and (1, 0) so that loading them matters
        for n, p in model.named_parameters():
            if n.endswith("bias") or "LayerNorm" in n:
                p.add_(0.1 * torch.randn(p.shape))
    return model


def half_case(out_dir, name, model, dtype, ids, types, mask):
    """save_pretrained of `model` cast to dtype, and the logits of that checkpoint as transformers loads it."""
    suffix = {torch.float16: "f16", torch.bfloat16: "bf16"}[dtype]
    directory = os.path.join(out_dir, name + "_" + suffix)
    copy.deepcopy(model).to(dtype).save_pretrained(directory, safe_serialization=True)
    loaded = type(model).from_pretrained(directory, attn_implementation="eager")
    assert next(loaded.parameters()).dtype == dtype
    ref = loaded.to(F64)  # exact: every float16 and bfloat16 value is a float64
    ref.eval()
    with torch.no_grad():
        logits = ref(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    tensors = batch_tensors(ids, types, mask)
    tensors["logits"] = logits
    meta = {"B": ids.shape[0], "T": ids.shape[1], "dtype": str(dtype),
            "reference": "transformers.%s.from_pretrained of the %s checkpoint (eager attention), upcast to "
                         "float64" % (type(model).__name__, suffix),
            "transformers": transformers.__version__}
    write(out_dir, name + "_" + suffix, meta, tensors)


def bert_case(out_dir, name, cls, seed, lengths, half_dtypes=(), **sizes):
    model = make_model(cls, seed, **sizes)
    model.save_pretrained(os.path.join(out_dir, name), safe_serialization=True)
    config = model.config
    gen = torch.Generator().manual_seed(seed + 1)
    ids, types, mask = padded_batch(gen, config.vocab_size, config.type_vocab_size, lengths)
    for dtype in half_dtypes:
        half_case(out_dir, name, model, dtype, ids, types, mask)

    ref = model.to(F64)
    ref.eval()  # no dropout
    tensors = batch_tensors(ids, types, mask)
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    if cls is transformers.BertModel:
        out = ref(**inputs)
        g_hidden = torch.randn(out.last_hidden_state.shape, generator=gen, dtype=torch.float32).to(F64)
        g_pooled = torch.randn(out.pooler_output.shape, generator=gen, dtype=torch.float32).to(F64)
        loss = (g_hidden * out.last_hidden_state).sum() + (g_pooled * out.pooler_output).sum()
        tensors.update({"hidden": out.last_hidden_state.detach(), "pooled": out.pooler_output.detach(),
                        "g_hidden": g_hidden, "g_pooled": g_pooled})
    elif cls is transformers.BertForMaskedLM:
        labels = torch.full(ids.shape, -100, dtype=torch.long)
        pick = (torch.rand(ids.shape, generator=gen) < 0.35) & (mask == 1)
        pick[0, 1] = True  # at least one label
        labels[pick] = ids[pick]
        out = ref(**inputs, labels=labels)
        loss = out.loss
        tensors.update({"labels": labels.to(F64), "logits": out.logits.detach(), "loss": loss.detach().reshape(1)})
        left = padded_batch(gen, config.vocab_size, config.type_vocab_size, lengths, left=True)
        tensors.update(batch_tensors(*left, suffix="_left"))
        with torch.no_grad():
            tensors["logits_left"] = ref(input_ids=left[0], token_type_ids=left[1], attention_mask=left[2]).logits
    else:
        labels = torch.randint(0, config.num_labels, (ids.shape[0],), generator=gen)
        out = ref(**inputs, labels=labels)
        assert ref.config.problem_type == "single_label_classification"
        loss = out.loss
        tensors.update({"labels": labels.to(F64), "logits": out.logits.detach(), "loss": loss.detach().reshape(1)})
    loss.backward()
    for n, p in ref.named_parameters():
        if p.grad is not None:
            tensors["grad." + n] = p.grad
    meta = {"B": ids.shape[0], "T": ids.shape[1], "lengths": list(lengths), "class": cls.__name__,
            "hidden_size": config.hidden_size, "num_hidden_layers": config.num_hidden_layers,
            "vocab_size": config.vocab_size,
            "reference": "transformers.%s (eager attention, eval mode), float64 from the float32 checkpoint"
                         % cls.__name__,
            "transformers": transformers.__version__}
    write(out_dir, name, meta, tensors)


def classifier_from_body_case(out_dir, name, body, num_labels, seed, lengths):
    torch.manual_seed(seed)
    model, info = transformers.BertForSequenceClassification.from_pretrained(
        os.path.join(out_dir, body), num_labels=num_labels, attn_implementation="eager", output_loading_info=True)
    config = model.config
    gen = torch.Generator().manual_seed(seed + 1)
    ids, types, mask = padded_batch(gen, config.vocab_size, config.type_vocab_size, lengths)
    tensors = batch_tensors(ids, types, mask)
    params = dict(model.named_parameters())
    for n in sorted(info["missing_keys"]):
        tensors["head." + n] = params[n].detach().to(F64)
    ref = model.to(F64)
    ref.eval()
    with torch.no_grad():
        tensors["logits"] = ref(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    meta = {"B": ids.shape[0], "T": ids.shape[1], "lengths": list(lengths), "body": body,
            "num_labels": num_labels, "initializer_range": config.initializer_range,
            "missing_keys": sorted(info["missing_keys"]), "unexpected_keys": sorted(info["unexpected_keys"]),
            "reference": "transformers.BertForSequenceClassification.from_pretrained(%s, num_labels=%d) "
                         "(eager attention, eval mode), float64 from the float32 checkpoint" % (body, num_labels),
            "transformers": transformers.__version__}
    write(out_dir, name, meta, tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bert"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    bert_case(args.out, "mlm_tiny", transformers.BertForMaskedLM, 11, lengths=(7, 4, 5),
              half_dtypes=(torch.float16, torch.bfloat16),
              vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
              max_position_embeddings=10, type_vocab_size=2, hidden_act="gelu")
    bert_case(args.out, "mlm_wide", transformers.BertForMaskedLM, 12, lengths=(3, 6),
              vocab_size=90, hidden_size=24, num_hidden_layers=1, num_attention_heads=4, intermediate_size=40,
              max_position_embeddings=8, type_vocab_size=3, hidden_act="gelu_new", layer_norm_eps=1e-6,
              initializer_range=0.3)
    bert_case(args.out, "cls_tiny", transformers.BertForSequenceClassification, 13, lengths=(5, 8, 2),
              vocab_size=70, hidden_size=24, num_hidden_layers=3, num_attention_heads=4, intermediate_size=32,
              max_position_embeddings=12, type_vocab_size=2, hidden_act="gelu", num_labels=3,
              classifier_dropout=0.2, initializer_range=0.2)
    bert_case(args.out, "cls_relu", transformers.BertForSequenceClassification, 14, lengths=(4, 6),
              vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=1, intermediate_size=20,
              max_position_embeddings=8, type_vocab_size=1, hidden_act="relu", pad_token_id=3,
              initializer_range=0.5)
    bert_case(args.out, "base_tiny", transformers.BertModel, 15, lengths=(6, 3),
              vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=20,
              max_position_embeddings=8, type_vocab_size=2, hidden_act="gelu",
              initializer_range=0.2)
    make_model(transformers.BertForPreTraining, 16, vocab_size=50, hidden_size=16, num_hidden_layers=1,
               num_attention_heads=2, intermediate_size=20, max_position_embeddings=8, type_vocab_size=2,
               initializer_range=0.2).save_pretrained(os.path.join(args.out, "pretraining_tiny"),
                                                      safe_serialization=True)
    classifier_from_body_case(args.out, "cls_from_base", "base_tiny", 3, 17, lengths=(6, 2, 4))
    classifier_from_body_case(args.out, "cls_from_mlm", "mlm_tiny", 4, 18, lengths=(7, 3))
    classifier_from_body_case(args.out, "cls_from_pretraining", "pretraining_tiny", 2, 19, lengths=(5, 8))


if __name__ == "__main__":
    main()
