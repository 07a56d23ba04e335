#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy: bugprone and performance checks) on the
# given sources, or on every library and app source; needs a configured
# build/ (CMake exports build/compile_commands.json). Exit code 1 if
# clang-tidy reports anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -f build/compile_commands.json ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
fi
if (($# > 0)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'actors/*.cpp' 'replication/*.cpp' \
    'persistence/*.cpp' 'txn/*.cpp' 'apps/*.cpp')
fi
out=$(clang-tidy -p build --quiet "${files[@]}" 2> /dev/null || true)
if grep -q "warning:\|error:" <<< "$out"; then
  echo "$out"
  exit 1
fi
echo "tidy: ${#files[@]} files clean"
