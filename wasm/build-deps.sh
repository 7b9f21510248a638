#!/usr/bin/env bash
# Builds the third-party C/C++ that the WebAssembly build needs from Debian
# source packages (Emscripten ports download from the internet and fail here):
#   protobuf (lite runtime), snowball (libstemmer), utf8proc.
# Usage: wasm/build-deps.sh PREFIX
# Idempotent: each package leaves PREFIX/.stamp-<name> when installed and is
# skipped afterwards. Needs a `deb-src` apt source (run.sh adds it).
set -euo pipefail

prefix=$(realpath -m "${1:?usage: build-deps.sh PREFIX}")
src="$prefix/src"
mkdir -p "$src" "$prefix/lib" "$prefix/include"
export NODE_PATH=/usr/share/nodejs
jobs=$(nproc)

say() { printf '  [wasm deps] %s\n' "$*" >&2; }

# fetch NAME -> prints the unpacked source directory (Debian patches applied).
fetch() {
  local name=$1
  local dir
  dir=$(find "$src" -maxdepth 1 -type d -name "$name-*" | head -n 1)
  if [ -z "$dir" ]; then
    say "apt-get source $name"
    (cd "$src" && apt-get source --download-only "$name" >/dev/null 2>&1) ||
      { echo "apt-get source $name failed: is a deb-src entry configured?" >&2; exit 1; }
    (cd "$src" && dpkg-source --no-check -x "$(ls "$name"_*.dsc | head -n 1)" >/dev/null)
    dir=$(find "$src" -maxdepth 1 -type d -name "$name-*" | head -n 1)
  fi
  echo "$dir"
}

if [ ! -f "$prefix/.stamp-protobuf" ]; then
  dir=$(fetch protobuf)
  say "building protobuf-lite for wasm32 (about a minute)"
  emcmake cmake -S "$dir" -B "$src/protobuf-build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
    -Dprotobuf_BUILD_LIBPROTOC=OFF -Dprotobuf_WITH_ZLIB=OFF \
    -Dprotobuf_BUILD_SHARED_LIBS=OFF >/dev/null
  cmake --build "$src/protobuf-build" --target libprotobuf-lite -j "$jobs" >/dev/null
  cp "$src/protobuf-build/libprotobuf-lite.a" "$prefix/lib/"
  # Headers: the whole public tree (lite code includes a few non-lite headers).
  (cd "$dir/src" && find google \( -name "*.h" -o -name "*.inc" \) -exec cp --parents {} "$prefix/include" \;)
  touch "$prefix/.stamp-protobuf"
fi

if [ ! -f "$prefix/.stamp-snowball" ]; then
  dir=$(fetch snowball)
  say "building the Snowball stemmers (libstemmer) for wasm32"
  make -C "$dir" -j "$jobs" >/dev/null   # native snowball compiler generates src_c/
  objs=()
  mkdir -p "$src/snowball-obj"
  for f in "$dir"/libstemmer/libstemmer.c "$dir"/src_c/*.c "$dir"/runtime/api.c "$dir"/runtime/utilities.c; do
    o="$src/snowball-obj/$(basename "$f" .c).o"
    emcc -O2 -I"$dir/include" -c "$f" -o "$o"
    objs+=("$o")
  done
  rm -f "$prefix/lib/libstemmer.a"
  emar rcs "$prefix/lib/libstemmer.a" "${objs[@]}"
  cp "$dir/include/libstemmer.h" "$prefix/include/"
  touch "$prefix/.stamp-snowball"
fi

if [ ! -f "$prefix/.stamp-utf8proc" ]; then
  dir=$(fetch utf8proc)
  say "building utf8proc for wasm32"
  emcc -O2 -DUTF8PROC_STATIC -c "$dir/utf8proc.c" -I"$dir" -o "$src/utf8proc.o"
  rm -f "$prefix/lib/libutf8proc.a"
  emar rcs "$prefix/lib/libutf8proc.a" "$src/utf8proc.o"
  cp "$dir/utf8proc.h" "$prefix/include/"
  touch "$prefix/.stamp-utf8proc"
fi
say "ready in $prefix"
