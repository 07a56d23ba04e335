#!/usr/bin/env bash
# Installs the Debian 12 packages ftsr needs to build and test.
# Idempotent: when every package is already installed, apt is not touched.
# Run as root (or as a user with sudo).
set -euo pipefail

packages=(
  build-essential
  cmake
  ca-certificates
  libcaf-dev
  libtomlplusplus-dev
  libcli11-dev
  libspdlog-dev
  nlohmann-json3-dev
  liblmdb-dev
  libboost-serialization-dev
  libgtest-dev
  libbenchmark-dev
  libcpp-httplib-dev
  pkgconf
  prometheus
  chromium
  chromium-driver
  python3-selenium
  iproute2
  libssl-dev
  openssl
  clang
  libclang-rt-14-dev
  clang-format
  clang-tidy
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if ! command -v apt-get > /dev/null; then
  echo "install-deps: apt-get not found; install these Debian 12 packages" \
       "by hand: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if ((EUID != 0)); then
  if command -v sudo > /dev/null; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run this script as root to install them" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
echo "install-deps: done"
