#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ (FTSR_FUZZ) and runs
# each for a bounded time (FUZZ_SECONDS, default 60) on its committed corpus
# tests/fuzz/corpus/<target> (read only; new inputs go to
# build-fuzz/corpus/<target>). A crash, hang or sanitizer report fails the
# run and leaves the input in build-fuzz/artifacts/: turn it into a
# regression test. Extra arguments replace the list of targets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

targets=(cluster_config_fuzz stable_record_fuzz protocol_fuzz)
if (($# > 0)); then targets=("$@"); fi
seconds=${FUZZ_SECONDS:-60}

jobs=$(nproc 2> /dev/null || echo 1)
if ((jobs > 2)); then jobs=2; fi

# -O1 without debug info (compile time is most of the stage's cost).
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
  -DCMAKE_CXX_COMPILER=clang++ -DFTSR_FUZZ=ON > /dev/null
make -C build-fuzz -j"$jobs" --no-print-directory "${targets[@]}"

mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  mkdir -p build-fuzz/corpus/"$name"
  echo "fuzz: $t for ${seconds}s"
  build-fuzz/tests/"$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/"$name"- \
    build-fuzz/corpus/"$name" tests/fuzz/corpus/"$name"
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
