#!/usr/bin/env bash
# Installs foldback from the native build into a private prefix, builds the
# C and C++ examples through find_package(foldback) against that prefix
# (never against the build tree), runs them on the demo corpus, and checks
# pkg-config. Usage: tests/install/run_examples.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: run_examples.sh BUILD_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$build/install-test"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/foldback.h"
test -f "$prefix/include/foldback/index.h"
test -f "$prefix/lib/cmake/foldback/foldbackConfig.cmake"
test -f "$prefix/lib/pkgconfig/foldback.pc"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --exists foldback
corpus=("$root"/examples/corpus/cuad/*.txt)
for lang in c cpp; do
  cmake -S "$root/examples/$lang" -B "$work/$lang" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$work/$lang" >/dev/null
  out=$(LD_LIBRARY_PATH="$prefix/lib" "$work/$lang/foldback_example_$lang" "governing law" "${corpus[@]}")
  echo "$out"
  echo "$out" | grep -q "20 documents indexed"
  echo "$out" | grep -q "^1\. "
done
# The C example compiled by hand with pkg-config, as a Makefile would.
cc -o "$work/c-pkgconfig" "$root/examples/c/main.c" \
   $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs foldback)
LD_LIBRARY_PATH="$prefix/lib" "$work/c-pkgconfig" "termination" "${corpus[0]}" | grep -q "^1\. "
echo "install + find_package + pkg-config examples: ok"
