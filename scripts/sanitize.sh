#!/usr/bin/env bash
# The second CI stage: the unit and in-process tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer (FTSR_SANITIZE) in
# build-asan/, each binary run once; any report fails the stage. The
# multi-process tests (system, group_system, persistent_system, partition,
# node_cli, bank, demo) stay in the plain build only: under the sanitizers
# their real processes and timeouts would make the stage slower than the
# rest of CI together. Extra arguments replace the list of test binaries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

tests=(
  cluster_config_test supervisor_test directory_test membership_core_test
  group_core_test replica_parts_test checkpoint_core_test txn_core_test
  txn_sim_test history_check_test stable_store_test multicast_test
  group_test node_test persistent_test stable_store_group_test
  checkpoint_test names_test invocation_table_test metrics_test
  transport_test
)
if (($# > 0)); then tests=("$@"); fi

jobs=$(nproc 2> /dev/null || echo 1)
if ((jobs > 2)); then jobs=2; fi

# -O1 without debug info: the stage compiles the libraries again, and
# compile time is most of its cost; -O1 keeps the reports accurate. Asserts
# stay on (no NDEBUG).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -DFTSR_SANITIZE=ON \
  > /dev/null
make -C build-asan -j"$jobs" --no-print-directory "${tests[@]}"

# halt_on_error: the first report fails the binary (exit code != 0).
export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/sanitizer/ubsan.supp
failed=()
for t in "${tests[@]}"; do
  echo "sanitize: $t"
  if ! build-asan/tests/"$t" --gtest_brief=1; then
    failed+=("$t")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "sanitize: failed: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: ${#tests[@]} test binaries clean"
