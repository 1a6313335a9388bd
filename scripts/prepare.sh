#!/usr/bin/env bash
# Usage: bash scripts/prepare.sh NAME {a4|tatoeba|folder} INPUT [prepare options]
# Checks and prepares a parallel corpus into data-bin/NAME/text/ (see
# `cs224n-nmt prepare --help` for the sources, recipes and options).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -ge 3 ]] || die "usage: bash scripts/prepare.sh NAME {a4|tatoeba|folder} INPUT [options]"
corpus_paths "$1"
source_kind=$2 input=$3
shift 3
use_environment
[[ -e $input ]] || die "$input: no such file or folder"

# A folder counts as an input too: removing, adding or renaming a file in it makes it newer.
if [[ -d $input ]]; then inputs=("$input" "$input"/*); else inputs=("$input"); fi
settings="prepare $source_kind $(realpath "$input") $*"
if is_current "$TEXT_DIR/.stamp" "$settings" "${inputs[@]}"; then
  say "up to date: $TEXT_DIR"
  exit 0
fi
say "preparing $source_kind corpus $input -> $TEXT_DIR"
cs224n-nmt prepare "$source_kind" "$input" --out "$TEXT_DIR" "$@"
mark_done "$TEXT_DIR/.stamp" "$settings"
