#!/bin/sh
# Compiler launcher of ELM_BENCHMARKS_COMPILE_CHECK: runs the compile command it is given with -fsyntax-only (every
# template the benchmark uses is still instantiated and checked, no code is generated), then leaves the empty object
# file the build expects, so that the check runs again only when a source or header changes.
object=""
previous=""
for argument in "$@"; do
  [ "$previous" = "-o" ] && object=$argument
  previous=$argument
done
"$@" -fsyntax-only || exit $?
[ -n "$object" ] && : >"$object"
