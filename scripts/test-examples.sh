#!/usr/bin/env bash
# The package test: installs ftsr from a build directory into a temporary
# prefix, checks the pkg-config file, builds each project under examples/
# against the installed package (find_package(ftsr)), and runs it on a
# local cluster of three of its own node processes: the example's client
# prints "ready: kill -9 <node>", the node is killed with SIGKILL, and the
# client checks that the application carried on. Then the other nodes are
# stopped with SIGTERM (exit code 0 expected).
#
#   bash scripts/test-examples.sh [BUILD_DIR]    (default: build/, built)
#
# Registered with ctest as `examples` (tests/CMakeLists.txt). Ports:
# 127.0.0.1:4281-4283 (FTSR_EXAMPLES_PORT overrides the first). Exits
# non-zero naming the failed step, with the logs of that example.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
port=${FTSR_EXAMPLES_PORT:-4281}
jobs=$(nproc 2> /dev/null || echo 1)
if ((jobs > 2)); then jobs=2; fi

work=$(mktemp -d -t ftsr-examples.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -9 "$pid" 2> /dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "test-examples: FAILED: $*" >&2
  for log in "$work"/logs/*.log; do
    [[ -f "$log" ]] || continue
    echo "---- $(basename "$log")" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}

# The README's quick tour quotes the examples: each ```cpp block after a
# "<!-- snippet: FILE -->" line must still be part of FILE, so the README
# shows code that compiles and runs (the examples below).
check_snippets() {
  local file="" in_block=0 block="" count=0 line
  while IFS= read -r line; do
    if [[ $line =~ ^\<!--\ snippet:\ (.+)\ --\>$ ]]; then
      file=${BASH_REMATCH[1]}
    elif [[ -n "$file" ]] && ((in_block == 0)) && [[ $line == '```cpp' ]]; then
      in_block=1
      block=""
    elif ((in_block)) && [[ $line == '```' ]]; then
      [[ -f "$root/$file" ]] || fail "README snippet names $file, which does not exist"
      [[ "$(< "$root/$file")" == *"${block%$'\n'}"* ]] \
        || fail "README snippet no longer in $file:"$'\n'"$block"
      in_block=0
      file=""
      count=$((count + 1))
    elif ((in_block)); then
      block+="$line"$'\n'
    fi
  done < "$root/README.md"
  echo "test-examples: $count README snippets match the examples"
}
check_snippets

launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

prefix="$work/prefix"
echo "test-examples: installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log" \
  || { cat "$work/install.log" >&2; fail "cmake --install"; }

# pkg-config: the flags it gives compile and link a program.
echo "test-examples: pkg-config ftsr"
pc=$(find "$prefix" -name ftsr.pc | head -n 1)
[[ -n "$pc" ]] || fail "no ftsr.pc installed"
export PKG_CONFIG_PATH=$(dirname "$pc")
printf '#include <ftsr/ftsr.hpp>\nint main() { return ftsr::is(ftsr::make_error(ftsr::errc::timeout), ftsr::errc::timeout) ? 0 : 1; }\n' \
  > "$work/pc_check.cpp"
# shellcheck disable=SC2046 # word splitting of the flags is wanted
c++ -std=c++17 -o "$work/pc_check" "$work/pc_check.cpp" \
  $(pkg-config --cflags --libs ftsr) || fail "pkg-config flags"
"$work/pc_check" || fail "pkg-config program"

# add_subdirectory: a project that pulls the source tree in gets ftsr::ftsr
# with the installed include layout, and none of the tests, benchmarks,
# samples or tools. Configured, and its source compiled against the
# target's include path; not linked, which would build the libraries a
# second time.
echo "test-examples: add_subdirectory(ftsr)"
sub="$work/subproject"
mkdir -p "$sub"
cat > "$sub/CMakeLists.txt" << CMAKE
cmake_minimum_required(VERSION 3.16)
project(uses_ftsr CXX)
set(CMAKE_CXX_STANDARD 17)
add_subdirectory("$root" ftsr)
add_executable(app main.cpp)
target_link_libraries(app PRIVATE ftsr::ftsr)
foreach(t bank_test ftsr-bank ftsr-demo ftsr-dashboard)
  if(TARGET \${t})
    message(FATAL_ERROR "add_subdirectory(ftsr) defined \${t}")
  endif()
endforeach()
CMAKE
cp "$work/pc_check.cpp" "$sub/main.cpp"
cmake -S "$sub" -B "$sub/build" "${launcher[@]}" > "$work/subproject.log" 2>&1 \
  || { cat "$work/subproject.log" >&2; fail "add_subdirectory: cmake"; }
make -C "$sub/build" main.cpp.o > "$work/subproject-build.log" 2>&1 \
  || { tail -n 40 "$work/subproject-build.log" >&2; fail "add_subdirectory: compile"; }

# run_example <folder> <binary prefix>
run_example() {
  local dir=$1 name=$2
  local out="$work/$dir" logs="$work/logs"
  rm -rf "$logs"
  mkdir -p "$logs"
  echo "test-examples: $dir: build against the installed package"
  cmake -S "$root/examples/$dir" -B "$out" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > "$logs/cmake.log" 2>&1 \
    || fail "$dir: cmake"
  cmake --build "$out" -j "$jobs" > "$logs/build.log" 2>&1 \
    || fail "$dir: build"

  local config="$out/cluster.toml"
  {
    printf '[cluster]\nname = "%s"\nheartbeat_interval_ms = 100\n' "$dir"
    printf 'failure_timeout_ms = 500\n'
    for i in 1 2 3; do
      printf '\n[[node]]\nname = "host%d"\nhost = "127.0.0.1"\nport = %d\n' \
        "$i" $((port + i - 1))
    done
  } > "$config"

  echo "test-examples: $dir: 3 nodes, client, kill -9"
  declare -A node_pid=()
  for host in host1 host2 host3; do
    "$out/$name-node" --config "$config" --name "$host" \
      --data-dir "$out/data/$host" > "$logs/$host.log" 2>&1 &
    node_pid[$host]=$!
    pids+=($!)
  done
  "$out/$name-client" "$config" > "$logs/client.log" 2>&1 &
  local client=$!
  pids+=("$client")

  # Wait (bounded) for the client to name the node to kill.
  local victim=""
  for _ in $(seq 1 1200); do
    victim=$(sed -n 's/^ready: kill -9 \(host[0-9]*\)$/\1/p' "$logs/client.log")
    [[ -n "$victim" ]] && break
    kill -0 "$client" 2> /dev/null || fail "$dir: client ended before the kill"
    sleep 0.1
  done
  [[ -n "$victim" ]] || fail "$dir: client not ready within 120 s"
  kill -9 "${node_pid[$victim]}"
  wait "${node_pid[$victim]}" 2> /dev/null || true

  local rc=0
  wait "$client" || rc=$?
  cat "$logs/client.log"
  ((rc == 0)) || fail "$dir: client exited with $rc"

  for host in host1 host2 host3; do
    [[ "$host" == "$victim" ]] && continue
    kill -TERM "${node_pid[$host]}"
    rc=0
    wait "${node_pid[$host]}" || rc=$?
    ((rc == 0)) || fail "$dir: $host exited with $rc after SIGTERM"
  done
  pids=()
}

run_example replicated-inventory inventory
run_example persistent-ledger ledger
run_example supervised-desk desk
echo "test-examples: all examples passed"
