#!/usr/bin/env bash
# Runs the benchmarks (not part of the test suite): installs what the
# ZooKeeper peer needs, builds (scripts/build.sh), and runs
#   call      ftsr call vs raw CAF request      (apps/bench/ftsr-bench-call)
#   failover  kill -9 / SIGSTOP -> monitor      (apps/bench/ftsr-bench-failover)
#   group     ftsr group vs ZooKeeper ensemble  (apps/bench/ftsr-bench-group)
#   restart   persistent actor failover vs ZooKeeper leader failover
#             (apps/bench/ftsr-bench-restart)
#   tls       group writes over plain TCP vs mutual TLS, alternating
#             (scripts/bench-group-tls.sh [ROUNDS] [args])
#   partition the kv group's primary isolated 20 times (netns, root): time
#             until the majority serves again (FTSR_PARTITION_ROUNDS)
#   fd        failure-detector idle CPU and detection time by cluster size
#             (scripts/bench-fd.sh [SIZES...])
#   bank      ftsr-bank transfers vs PostgreSQL pgbench TPC-B
#             (scripts/bench-bank.sh; not part of all)
# Usage: bash scripts/bench.sh [call|failover|group|restart|tls|partition|fd|bank|all] [extra args]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
if [[ "$which" == bank ]]; then
  exec bash scripts/bench-bank.sh "$@"
fi
zk_packages=(zookeeper libzookeeper-mt-dev default-jre-headless)
missing=()
for pkg in "${zk_packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == \
     "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" > /dev/null
fi
bash scripts/build.sh ftsr-bench-call ftsr-bench-failover ftsr-bench-group \
  ftsr-bench-restart
case "$which" in
  call) ./build/apps/bench/ftsr-bench-call "$@" ;;
  failover) ./build/apps/bench/ftsr-bench-failover "$@" ;;
  group) ./build/apps/bench/ftsr-bench-group "$@" ;;
  restart) ./build/apps/bench/ftsr-bench-restart "$@" ;;
  tls) bash scripts/bench-group-tls.sh "$@" ;;
  partition)
    bash scripts/build.sh partition_test
    ./build/tests/partition_test --gtest_also_run_disabled_tests \
      --gtest_filter='partition.DISABLED_bench_*' "$@" ;;
  fd) bash scripts/build.sh ftsr-node && bash scripts/bench-fd.sh "$@" ;;
  all)
    ./build/apps/bench/ftsr-bench-call
    ./build/apps/bench/ftsr-bench-failover
    ./build/apps/bench/ftsr-bench-group
    ./build/apps/bench/ftsr-bench-restart
    ;;
  *) echo "bench.sh: unknown benchmark '$which' (call|failover|group|restart|tls|partition|fd|bank|all)" >&2
     exit 2 ;;
esac
