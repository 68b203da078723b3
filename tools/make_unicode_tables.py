#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes include/elm/text/detail/unicode_tables.hpp from the Unicode Character Database.

Usage: python3 tools/make_unicode_tables.py [--ucd /usr/share/unicode] [--out include/elm/text/detail/unicode_tables.hpp]

The UCD comes from Debian's `unicode-data` package (UnicodeData.txt, PropList.txt, ReadMe.txt). The header holds:
- a two-stage table giving each code point one property byte: general category (5 bits), "has a simple
  lowercase mapping" (bit 5), "has a canonical decomposition" (bit 6), "canonical combining class != 0" (bit 7);
- the canonical decompositions (one level; the library applies them recursively), the simple lowercase
  mappings, the non-zero canonical combining classes, and the White_Space code points;
- the code points whose BERT class differs in Hugging Face's normaliser, which uses Unicode 8.0 categories
  (from DerivedAge.txt, plus six category changes checked by hand).
"""
import argparse
import os
import re

CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
              "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
N = 0x110000
BLOCK = 128


def read_unicode_data(path):
    cat = [0] * N
    lower = {}
    decomp = {}
    ccc = {}
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name, gc = fields[1], fields[2]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    cat[c] = CATEGORIES.index(gc)
                first = None
                continue
            cat[cp] = CATEGORIES.index(gc)
            if int(fields[3]) != 0:
                ccc[cp] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                parts = [int(x, 16) for x in fields[5].split()]
                assert 1 <= len(parts) <= 2
                decomp[cp] = parts
            if fields[13]:
                lower[cp] = int(fields[13], 16)
    return cat, lower, decomp, ccc


def read_white_space(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            if ".." in rng:
                a, b = [int(x, 16) for x in rng.split("..")]
            else:
                a = b = int(rng, 16)
            out.extend(range(a, b + 1))
    return out


def read_age(path):
    age = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, version = [x.strip() for x in line.split(";")]
            a, b = (rng.split("..") + [rng])[:2]
            for cp in range(int(a, 16), int(b, 16) + 1):
                age[cp] = tuple(int(x) for x in version.split("."))
    return age


# Hugging Face's BertNormalizer and BertPreTokenizer take punctuation, nonspacing marks and control characters
# from the `unicode_categories` crate, which has Unicode 8.0's categories. Code points assigned later (age > 8.0)
# in those categories are plain characters there. Six older code points changed category after 8.0, and one
# later character has a canonical decomposition the normaliser does not apply; all verified against tokenizers
# 0.23.3 (each character alone between two letters, and 50,000 random strings over all assigned code points).
# Class 0: plain; 1: punctuation; 2: nonspacing mark.
HF_BERT_UNICODE = (8, 0)
HF_BERT_CHANGED = {0x1885: 0, 0x1886: 0, 0xA9BD: 0, 0x111C9: 1, 0x166D: 1, 0x1734: 2}


def hf_bert_overrides(cat, decomp, age):
    out = dict(HF_BERT_CHANGED)
    special = {CATEGORIES.index(c) for c in ["Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Mn", "Cc", "Cf", "Co"]}
    for cp in range(N):
        newer = age.get(cp, (99, 0)) > HF_BERT_UNICODE
        if newer and (cat[cp] in special or cp in decomp):
            out.setdefault(cp, 0)
    return out


def unicode_version(ucd):
    # DerivedAge.txt's header names the version of the database it belongs to.
    with open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8") as f:
        m = re.search(r"DerivedAge-(\d+\.\d+\.\d+)\.txt", f.readline())
    return m.group(1)


def c_array(name, ctype, values, per_line=24):
    lines = []
    for i in range(0, len(values), per_line):
        lines.append("    " + ",".join(str(v) for v in values[i:i + per_line]) + ",")
    return f"inline constexpr {ctype} {name}[{len(values)}] = {{\n" + "\n".join(lines) + "\n};\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ucd", default="/usr/share/unicode")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "include", "elm", "text",
                                                  "detail", "unicode_tables.hpp"))
    args = ap.parse_args()
    version = unicode_version(args.ucd)
    cat, lower, decomp, ccc = read_unicode_data(os.path.join(args.ucd, "UnicodeData.txt"))
    white = read_white_space(os.path.join(args.ucd, "PropList.txt"))
    age = read_age(os.path.join(args.ucd, "DerivedAge.txt"))
    overrides = hf_bert_overrides(cat, decomp, age)

    # Hangul syllables decompose algorithmically (Unicode 3.12); flag them so the fast path knows.
    has_decomp = set(decomp) | set(range(0xAC00, 0xAC00 + 11172))
    props = [0] * N
    for cp in range(N):
        p = cat[cp]
        if cp in lower:
            p |= 32
        if cp in has_decomp:
            p |= 64
        if cp in ccc:
            p |= 128
        props[cp] = p

    blocks = {}
    stage1 = []
    stage2 = []
    for start in range(0, N, BLOCK):
        blk = tuple(props[start:start + BLOCK])
        if blk not in blocks:
            blocks[blk] = len(blocks)
            stage2.extend(blk)
        stage1.append(blocks[blk])
    assert len(blocks) < 65536

    dec_keys = sorted(decomp)
    low_keys = sorted(lower)
    ccc_keys = sorted(ccc)
    out = []
    out.append("// SPDX-License-Identifier: MIT\n")
    out.append(f"// Unicode {version} property tables (general category, lowercase, canonical decomposition).\n")
    out.append("// Generated by tools/make_unicode_tables.py from Debian's unicode-data package; do not edit.\n")
    out.append("#pragma once\n\n#include <cstdint>\n\nnamespace elm::text::detail {\n\n")
    major, minor, patch = version.split(".")
    out.append(f"inline constexpr int unicode_version_major = {major};\n")
    out.append(f"inline constexpr int unicode_version_minor = {minor};\n")
    out.append(f"inline constexpr int unicode_version_patch = {patch};\n")
    out.append(f"inline constexpr unsigned unicode_block_shift = {BLOCK.bit_length() - 1};\n\n")
    out.append("// Property byte: bits 0-4 general category (order of elm::text::GeneralCategory), bit 5 simple\n")
    out.append("// lowercase mapping, bit 6 canonical decomposition, bit 7 non-zero canonical combining class.\n")
    out.append(c_array("unicode_stage1", "std::uint16_t", stage1))
    out.append(c_array("unicode_stage2", "std::uint8_t", stage2, 32))
    out.append("\n// One level of canonical decomposition: cp -> first (second, or 0 for a singleton).\n")
    out.append(c_array("unicode_decomp_cp", "std::uint32_t", dec_keys, 12))
    out.append(c_array("unicode_decomp_first", "std::uint32_t", [decomp[k][0] for k in dec_keys], 12))
    out.append(c_array("unicode_decomp_second", "std::uint32_t",
                       [decomp[k][1] if len(decomp[k]) > 1 else 0 for k in dec_keys], 12))
    out.append("\n// Simple lowercase mappings (UnicodeData.txt field 13).\n")
    out.append(c_array("unicode_lower_cp", "std::uint32_t", low_keys, 12))
    out.append(c_array("unicode_lower_to", "std::uint32_t", [lower[k] for k in low_keys], 12))
    out.append("\n// Canonical combining classes other than 0.\n")
    out.append(c_array("unicode_ccc_cp", "std::uint32_t", ccc_keys, 12))
    out.append(c_array("unicode_ccc_value", "std::uint8_t", [ccc[k] for k in ccc_keys], 32))
    out.append("\n// The White_Space property (PropList.txt).\n")
    out.append(c_array("unicode_white_space", "std::uint32_t", white, 12))
    keys = sorted(overrides)
    out.append("\n// Code points whose class differs in Hugging Face's BERT normaliser (Unicode 8.0 categories):\n")
    out.append("// 0 = a plain character (not punctuation, mark or control; not decomposed), 1 = punctuation,\n")
    out.append("// 2 = a nonspacing mark.\n")
    out.append(c_array("unicode_hf_bert_cp", "std::uint32_t", keys, 12))
    out.append(c_array("unicode_hf_bert_class", "std::uint8_t", [overrides[k] for k in keys], 32))
    out.append("\n}  // namespace elm::text::detail\n")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("".join(out))
    print(f"Unicode {version}: {len(blocks)} blocks of {BLOCK}, stage1 {len(stage1)} entries, "
          f"stage2 {len(stage2)} bytes, {len(dec_keys)} decompositions, {len(low_keys)} lowercase, "
          f"{len(ccc_keys)} ccc, {len(white)} white space, {len(keys)} BERT overrides -> {args.out}")


if __name__ == "__main__":
    main()
