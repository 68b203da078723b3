#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rewrites the map of public headers in README.md (between <!-- header-map --> and <!-- /header-map -->) from
the description comment that opens each header under include/elm (after the licence line), detail folders left out.

Usage: python3 tools/update_header_map.py [--check]   (--check: exit 1, printing the difference, when stale)
"""
import argparse
import difflib
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def header_map():
    rows = ["| header | what it provides |", "|---|---|"]
    include = os.path.join(ROOT, "include")
    paths = []
    for folder, dirs, files in os.walk(os.path.join(include, "elm")):
        dirs[:] = [d for d in dirs if d != "detail"]
        paths += [os.path.join(folder, f) for f in files if f.endswith(".hpp")]
    for path in sorted(paths, key=lambda p: os.path.relpath(p, include)):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if len(lines) < 2 or not lines[1].startswith("// "):
            sys.exit(f"{path}: expected a one-line description comment on line 2")
        description = []
        for line in lines[1:]:  # the description may go on over several comment lines
            if not line.startswith("// "):
                break
            description.append(line[3:])
        rows.append(f"| `{os.path.relpath(path, include)}` | {' '.join(description)} |")
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = os.path.join(ROOT, "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = f.read().splitlines()
    begin, end = lines.index("<!-- header-map -->"), lines.index("<!-- /header-map -->")
    new = lines[: begin + 1] + header_map() + lines[end:]
    if args.check:
        if new != lines:
            sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(lines, new, "README.md", "expected", n=0))
            sys.exit("README.md's header map is stale: run python3 tools/update_header_map.py")
        return
    with open(readme + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(new) + "\n")
    os.replace(readme + ".tmp", readme)


if __name__ == "__main__":
    main()
