#!/usr/bin/env bash
# Text output and messages go through {fmt} with format strings checked at
# compile time. Fails when a C++ file under core/, native/ or bindings/:
#   - calls a printf-family function (printf, fprintf, snprintf, sprintf,
#     vprintf, ...): use fmt::print / fmt::format / fmt::format_to;
#   - calls std::to_string: use fmt::format (messages) or fmt::to_string
#     (a lone number);
#   - passes a bare string literal as the format of fmt::format, fmt::print,
#     fmt::format_to or fmt::format_to_n: wrap it in FMT_STRING("...") — the
#     build is C++17, where only FMT_STRING makes {fmt} 9 check the string
#     against the arguments at compile time (C++20 would check bare literals);
#   - (core/ and bindings/ only) uses `long double`: the WebAssembly build
#     compiles {fmt} with FMT_USE_LONG_DOUBLE=0 (cmake/FoldbackDeps.cmake), where
#     a long double argument would print as nothing.
# `//` comments are ignored. A file may be exempted in
# tests/lint/formatting_allow.txt (one path per line, with the reason).
#
# Usage: check_formatting.sh SOURCE_ROOT
#        check_formatting.sh --self-test   (the check fails on each kind of
#                                            violation and passes clean code)
set -euo pipefail

check() {
  local root=$1
  local allow="$root/tests/lint/formatting_allow.txt"
  local status=0
  local files
  files=$(cd "$root" && find core native bindings \( -name '*.cc' -o -name '*.h' \) -type f 2>/dev/null | sort)
  for f in $files; do
    if [ -f "$allow" ] && grep -qxF "$f" <(sed -e 's/[[:space:]]*#.*//' -e '/^$/d' "$allow"); then
      continue
    fi
    # perl: the file as one string, `//` comments blanked (line numbers kept).
    perl -0777 -ne '
      my $src = $_;
      (my $code = $src) =~ s{//[^\n]*}{}g;
      my $bad = 0;
      my $report = sub {
        my ($pos, $what) = @_;
        my $line = 1 + (() = substr($code, 0, $pos) =~ /\n/g);
        print "$ARGV:$line: $what\n";
        $bad = 1;
      };
      while ($code =~ /(?<![\w.>])((?:std::)?v?(?:s|sn|f|d|as)?printf)\s*\(/g) {
        $report->($-[1], "$1: use fmt::print / fmt::format");
      }
      while ($code =~ /std::to_string\s*\(/g) {
        $report->($-[0], "std::to_string: use fmt::format / fmt::to_string");
      }
      # fmt::f(  [one leading argument: a stream or an output iterator,]  "literal"
      while ($code =~ /fmt::(format|print|format_to|format_to_n)\s*\(\s*(?:(?:[\w:.\->]|\([^()"]*\))+\s*,\s*){0,2}(?=R?")/g) {
        $report->($-[0], "fmt::$1 with a bare literal format: wrap it in FMT_STRING(...)");
      }
      if ($ARGV =~ m{/(core|bindings)/}) {
        while ($code =~ /\blong\s+double\b/g) {
          $report->($-[0], "long double: the wasm build formats none (FMT_USE_LONG_DOUBLE=0)");
        }
      }
      exit $bad;
    ' "$root/$f" || status=1
  done
  return $status
}

self_test() {
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/core/src" "$tmp/tests/lint"
  local clean='#include <fmt/format.h>
// printf("in a comment") and std::to_string(1) in a comment are fine
std::string A(int n) { return fmt::format(FMT_STRING("n={}"), n); }
void B(FILE* f, std::string* s) {
  fmt::print(f, FMT_STRING("{}\n"), 1);
  fmt::format_to(std::back_inserter(*s), FMT_STRING("{}"), 2);
  fmt::print(FMT_STRING("done\n"));
  std::string t = fmt::to_string(3);
}'
  printf '%s\n' "$clean" >"$tmp/core/src/clean.cc"
  check "$tmp" >/dev/null || { echo "self-test: clean code was refused"; check "$tmp"; return 1; }
  local n=0
  for bad in 'std::printf("%d\n", 1);' 'fprintf(stderr, "x");' 'char b[8]; std::snprintf(b, 8, "%d", 1);' \
             'std::string s = "n=" + std::to_string(1);' 'fmt::print("{}\n", 1);' \
             'fmt::print(stderr, "{}\n", 1);' 'std::string s = fmt::format("{}", 1);' \
             'fmt::format_to(std::back_inserter(s), "{}", 1);' 'fmt::print(
    "{}\n", 1);' 'fmt::format_to(std::back_inserter(s), R"({"a":{}})", 1);' 'long double x = 1;'; do
    n=$((n + 1))
    printf '%s\nvoid F() { %s }\n' "$clean" "$bad" >"$tmp/core/src/bad.cc"
    if check "$tmp" >/dev/null; then
      echo "self-test: not caught: $bad"
      return 1
    fi
    # The allow-list exempts the file.
    echo "core/src/bad.cc  # test" >"$tmp/tests/lint/formatting_allow.txt"
    check "$tmp" >/dev/null || { echo "self-test: allow-list ignored"; return 1; }
    rm "$tmp/tests/lint/formatting_allow.txt"
  done
  echo "self-test: $n violations caught, clean code and the allow-list accepted"
}

if [ "${1:-}" = "--self-test" ]; then
  self_test
else
  check "${1:?usage: check_formatting.sh SOURCE_ROOT | --self-test}"
fi
