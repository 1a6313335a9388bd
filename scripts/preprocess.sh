#!/usr/bin/env bash
# Usage: bash scripts/preprocess.sh NAME
# fairseq-preprocess of data-bin/NAME/text/ into data-bin/NAME/, with a4's vocabulary rule
# (cs224n_nmt_plugin/settings.py): at most 50,000 words per side (plus fairseq's 4 specials), each
# seen at least twice, built separately per language, and no padding of the dictionaries.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 1 ]] || die "usage: bash scripts/preprocess.sh NAME"
corpus_paths "$1"
use_environment
[[ -f $TEXT_DIR/.stamp ]] || die "$TEXT_DIR is not prepared: run bash scripts/prepare.sh $NAME ... first"

mapfile -t vocabulary < <(settings preprocess)
description="preprocess ${vocabulary[*]}"
if is_current "$BIN_DIR/.preprocess.stamp" "$description" "$TEXT_DIR/.stamp"; then
  say "up to date: $BIN_DIR"
  exit 0
fi
staging=$BIN_DIR/.preprocess.tmp
rm -rf "$staging"
say "fairseq-preprocess $TEXT_DIR -> $BIN_DIR (log: $BIN_DIR/preprocess.log)"
mkdir -p "$staging"
logged "$staging/preprocess.log" fairseq-preprocess --source-lang es --target-lang en \
  --trainpref "$TEXT_DIR/train" --validpref "$TEXT_DIR/valid" --testpref "$TEXT_DIR/test" \
  --destdir "$staging" "${vocabulary[@]}" --workers "$(nproc)"
mv -f "$staging"/* "$BIN_DIR"/
rmdir "$staging"
say "dictionaries: $(wc -l < "$BIN_DIR/dict.es.txt") es words, $(wc -l < "$BIN_DIR/dict.en.txt") en words (plus 4 specials)"
mark_done "$BIN_DIR/.preprocess.stamp" "$description"
