#!/usr/bin/env bash
# Generates a throw-away certificate authority and certificates signed by it,
# for tests and local trials of a TLS cluster ([cluster.tls] in the cluster
# file). Never use these for anything else: the keys are unencrypted and the
# CA key is left next to them.
#
#   bash scripts/make-test-certs.sh DIR NAME...
#
# writes DIR/ca.pem and DIR/ca.key (the CA), and for each NAME DIR/NAME.pem
# and DIR/NAME.key (CN=NAME, valid for TLS clients and servers), all valid for
# two days. Creates DIR if needed; an existing CA in DIR is reused, so
# certificates can be added later.
set -euo pipefail
if (($# < 2)); then
  echo "usage: make-test-certs.sh DIR NAME..." >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
umask 077
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [[ ! -f "$dir/ca.pem" ]]; then
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -days 2 -subj "/CN=ftsr test CA $(basename "$dir")" 2> /dev/null
fi
ext="$dir/leaf.ext"
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth,clientAuth" > "$ext"
for name in "$@"; do
  openssl req "${ec[@]}" -keyout "$dir/$name.key" -out "$dir/$name.csr" \
    -subj "/CN=$name" 2> /dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" \
    -CAkey "$dir/ca.key" -CAcreateserial -days 2 -extfile "$ext" \
    -out "$dir/$name.pem" 2> /dev/null
  rm -f "$dir/$name.csr"
done
rm -f "$ext" "$dir/ca.srl"
