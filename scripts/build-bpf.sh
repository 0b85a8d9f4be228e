#!/usr/bin/env bash
# Rebuilds every BPF object (examples and test fixtures) from its C source with clang.
# Objects are committed so that users without clang can run everything; CI rebuilds them to
# prove the sources still compile.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
arch=$(uname -m)
case "$arch" in
  x86_64) incarch=x86_64-linux-gnu ;;
  aarch64) incarch=aarch64-linux-gnu ;;
  *) incarch="$arch-linux-gnu" ;;
esac
# The prefix map keeps the build directory out of the debug info, so objects are reproducible.
CFLAGS=(-g -O2 -target bpf -Wall -Werror -I/usr/include/"$incarch" -fdebug-prefix-map="$PWD"=.)
n=0
while IFS= read -r -d '' src; do
  obj="${src%.c}.o"
  extra=()
  # A fixture may ask for extra flags (a CPU version, big-endian) on a line `// tsbpf-cflags: ...`.
  if flags=$(grep -m1 -oP '(?<=// tsbpf-cflags: ).*' "$src"); then
    read -r -a extra <<<"$flags"
  fi
  "$CLANG" "${CFLAGS[@]}" "${extra[@]}" -c "$src" -o "$obj"
  n=$((n + 1))
done < <(find examples test/bpf -name '*.bpf.c' -print0 2>/dev/null | sort -z)
echo "build-bpf: built $n objects"
