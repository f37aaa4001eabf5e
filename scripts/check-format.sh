#!/usr/bin/env bash
# Fails if any C++ file differs from what clang-format (Google base, 100 columns) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if ((${#files[@]} == 0)); then exit 0; fi
if ! clang-format-14 --dry-run --Werror "${files[@]}"; then
  echo "format-check: the files above are not formatted; run 'make format'" >&2
  exit 1
fi
echo "format-check: ${#files[@]} files formatted"
