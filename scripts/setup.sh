#!/usr/bin/env bash
# Installs what elm needs to build its tests, examples and benchmarks, from Debian's packages, if missing.
set -euo pipefail
packages=(g++ cmake ninja-build ccache libeigen3-dev nlohmann-json3-dev libfmt-dev catch2 libcli11-dev libbenchmark-dev libopenblas-dev libstb-dev clang libomp-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "elm setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
