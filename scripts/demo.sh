#!/usr/bin/env bash
# The main demo: installs what is missing, builds the examples (Release) and runs elm-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# -O3 said outright: scripts/test.sh builds the same folder at -O1, which checks results but trains slower.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG" -DELM_DEV_OPTIMIZATION=-O3
cmake --build build -j "$(nproc)" --target elm-demo
exec build/bin/elm-demo "$@"
