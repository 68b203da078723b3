#!/usr/bin/env bash
# The main demo: installs what is missing, builds the examples (Release) and runs elm-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target elm-demo
exec build/bin/elm-demo "$@"
