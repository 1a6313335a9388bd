"""Check and prepare a Spanish-English parallel corpus for fairseq-preprocess.

    cs224n-nmt prepare {a4,folder,tatoeba} INPUT --out DIR [--recipe word|bpe] [options]

Reads a corpus, checks it, and writes ``train.es train.en valid.es valid.en test.es
test.en`` (plus ``prepare.json``, the untouched English references ``ref.valid.en
ref.test.en`` for scoring, and for the bpe recipe ``bpe.codes.es bpe.codes.en``)
into an output folder, ready for::

    fairseq-preprocess --source-lang es --target-lang en \\
        --trainpref OUT/train --validpref OUT/valid --testpref OUT/test

Sources (the first argument):
  a4       an a4 ``en_es_data/`` folder: train, dev and test ``.es``/``.en`` (dev becomes valid).
  folder   any folder with ``train.{es,en}``, ``valid.{es,en}`` or ``dev.{es,en}`` (not both),
           and ``test.{es,en}``.
  tatoeba  the Tatoeba ``spa.txt`` TSV (``english<TAB>spanish[<TAB>attribution]``), shuffled
           with ``random.Random(seed)`` and cut into valid (first), test (next) and train
           (the rest). Duplicate pairs are kept, so a pair may occur in more than one split.

Recipes (``--recipe``):
  word  (default) the a4 text exactly: tokens are ``line.strip().split(' ')``, so a double
        space yields an empty token ''. fairseq's tokenizer collapses whitespace, so each ''
        token is written as EMPTY_TOKEN; ``decode_a4_line`` undoes this. Nothing is
        lowercased and accents stay. A line that is empty after strip is the single token ''
        (written as EMPTY_TOKEN). Limits: a literal EMPTY_TOKEN in the input reads back as '';
        whitespace other than ' ' (e.g. a no-break space) is part of an a4 token but splits
        a fairseq token.
  bpe   sacremoses tokenization (escape off, aggressive dash splits off), then subword-nmt
        BPE learned separately per language on the train split only (``--bpe-merges``,
        default 8000) and applied to every split. ``decode_bpe_line`` undoes both.

Input policy: files must be UTF-8, lines end at \\n, \\r or \\r\\n; a pair whose Spanish or English \
side is empty or whitespace-only is dropped from
both sides, and the count per split is printed and recorded (for tatoeba a whitespace-only
TSV line counts as such a pair and the count is recorded under "corpus"). A pair with a side
of more than MAX_TOKENS (1023) tokens as fairseq reads the written line (whitespace-separated,
after the recipe, so BPE pieces count) is dropped from both sides likewise, in every split:
with the </s> fairseq appends it would exceed the model's 1024 positions: fairseq-train would
skip it with a logged warning, validation and fairseq-generate would stop with an error.
``--max-lines N`` keeps the first N remaining train pairs (BPE is then learned on those).
Any input problem is one line on stderr naming the file, with exit status 1; outputs are
written to temporary names in the output folder and renamed into place only when all are
written, so a failed run leaves no output behind.

``prepare.json`` fields: source, input_files, recipe, recipe_options, seed (tatoeba only,
else null), valid_size/test_size requested (tatoeba only, else null), max_lines (or null),
sizes (pairs per split), dropped_empty_pairs, max_tokens, dropped_long_pairs (per split).
"""
import argparse
import functools
import io
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from cs224n_nmt_plugin.cli import positive_int
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.settings import SOURCE_LANG, TARGET_LANG
from cs224n_nmt_plugin.text.files import read_lines, text_writer, write_files
from cs224n_nmt_plugin.text.tokens import EMPTY_TOKEN, MAX_TOKENS

LANGS = (SOURCE_LANG, TARGET_LANG)
SPLITS = ("train", "valid", "test")
A4_FILE_STEMS = {"train": ("train",), "valid": ("dev",), "test": ("test",)}
FOLDER_FILE_STEMS = {"train": ("train",), "valid": ("valid", "dev"), "test": ("test",)}
BPE_SEPARATOR = "@@"
DEFAULT_BPE_MERGES = 8000
MANIFEST_NAME = "prepare.json"


@dataclass
class Corpus:
    """Sentence pairs (es, en) per split, with what was read and dropped on the way."""

    splits: dict
    input_files: list
    dropped_empty_pairs: dict
    dropped_long_pairs: dict = field(default_factory=dict)


# ----- the word recipe -------------------------------------------------------------------


def encode_a4_line(line):
    """The a4 tokens of ``line`` joined by single spaces, each '' token as EMPTY_TOKEN."""
    return " ".join(token if token else EMPTY_TOKEN for token in line.strip().split(" "))


def decode_a4_line(line):
    """Inverse of encode_a4_line: EMPTY_TOKEN back to '', tokens joined by single spaces."""
    return " ".join("" if token == EMPTY_TOKEN else token for token in line.strip().split(" "))


# ----- the bpe recipe --------------------------------------------------------------------


@functools.cache
def moses_tokenizer(lang):
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


@functools.cache
def moses_detokenizer(lang):
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=lang)


def moses_tokenize(line, lang):
    return moses_tokenizer(lang).tokenize(
        line.strip(), escape=False, aggressive_dash_splits=False, return_str=True
    )


def learn_bpe_codes(tokenized_lines, merges):
    """The text of a subword-nmt codes file learned from ``tokenized_lines``."""
    from subword_nmt.learn_bpe import learn_bpe

    codes = io.StringIO()
    learn_bpe(tokenized_lines, codes, merges)
    return codes.getvalue()


def apply_bpe_codes(codes_text, tokenized_lines):
    from subword_nmt.apply_bpe import BPE

    bpe = BPE(io.StringIO(codes_text), separator=BPE_SEPARATOR)
    return [bpe.segment(line) for line in tokenized_lines]


def decode_bpe_line(line, lang):
    """Plain text from a BPE-segmented, Moses-tokenized line: joins subwords, detokenizes."""
    tokens = re.sub(rf"{BPE_SEPARATOR}( |$)", "", line.strip()).split()
    return moses_detokenizer(lang).detokenize(tokens, return_str=True, unescape=False)


def postprocess_hypothesis(line, recipe, lang="en"):
    """A fairseq-generate hypothesis of ``recipe`` as a4 text (tokens split by ' ')."""
    if recipe == "word":
        return decode_a4_line(line)
    if recipe == "bpe":
        return decode_bpe_line(line, lang)
    raise ValueError(f"unknown recipe {recipe!r}")


# ----- reading and checking inputs -------------------------------------------------------


def read_parallel(es_path, en_path):
    es_lines, en_lines = read_lines(es_path), read_lines(en_path)
    if len(es_lines) != len(en_lines):
        raise InputError(es_path, f"has {len(es_lines)} lines but {en_path} has {len(en_lines)}")
    return list(zip(es_lines, en_lines))


def drop_empty_pairs(pairs):
    """The pairs whose sides both have text, and how many were dropped."""
    kept = [pair for pair in pairs if pair[0].strip() and pair[1].strip()]
    return kept, len(pairs) - len(kept)


def require_pairs(pairs, path):
    if not pairs:
        raise InputError(path, "no sentence pairs (after dropping empty ones)")


def find_split_stem(folder, split, accepted_stems):
    """The one accepted file stem of ``split`` whose .es file exists in ``folder``."""
    present = [stem for stem in accepted_stems if (folder / f"{stem}.es").exists()]
    if len(present) > 1:
        names = " and ".join(f"{stem}.es" for stem in present)
        raise InputError(folder, f"both {names} exist; keep one")
    return present[0] if present else accepted_stems[0]


def load_split_folder(folder, accepted_stems):
    """A corpus from a folder of parallel files; ``accepted_stems`` maps split -> stems."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    splits, input_files, dropped = {}, [], {}
    for split in SPLITS:
        stem = find_split_stem(folder, split, accepted_stems[split])
        es_path, en_path = folder / f"{stem}.es", folder / f"{stem}.en"
        splits[split], dropped[split] = drop_empty_pairs(read_parallel(es_path, en_path))
        require_pairs(splits[split], es_path)
        input_files += [str(es_path), str(en_path)]
    return Corpus(splits, input_files, dropped)


def read_tsv_pairs(path):
    """(es, en) pairs from "english<TAB>spanish[<TAB>...]" lines; blank lines give ('', '')."""
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) > 1:
            pairs.append((fields[1], fields[0]))
        elif not line.strip():
            pairs.append(("", ""))
        else:
            raise InputError(path, f"line {number} has no tab (expected english<TAB>spanish)")
    return pairs


def shuffle_and_split(pairs, seed, valid_size, test_size, path):
    """valid = the first valid_size shuffled pairs, test = the next test_size, train = the rest."""
    if len(pairs) <= valid_size + test_size:
        raise InputError(path, f"{len(pairs)} pairs, need more than valid {valid_size} + test {test_size}")
    shuffled = list(pairs)
    random.Random(seed).shuffle(shuffled)
    boundary = valid_size + test_size
    return {"train": shuffled[boundary:], "valid": shuffled[:valid_size], "test": shuffled[valid_size:boundary]}


def load_tatoeba(path, seed, valid_size, test_size):
    pairs, dropped = drop_empty_pairs(read_tsv_pairs(path))
    splits = shuffle_and_split(pairs, seed, valid_size, test_size, path)
    return Corpus(splits, [str(path)], {"corpus": dropped})


def fairseq_token_count(line):
    """How many tokens fairseq's tokenizer (split on whitespace) makes of a written line."""
    return len(line.split())


def drop_long_pairs(corpus, files, input_path):
    """Drops every pair with a side over MAX_TOKENS tokens from ``corpus.splits`` and from
    the split files of ``files`` (the recipe's output), recording the count per split."""
    for split in SPLITS:
        sides = [files[f"{split}.{lang}"].split("\n")[:-1] for lang in LANGS]
        keep = [i for i, lines in enumerate(zip(*sides)) if max(map(fairseq_token_count, lines)) <= MAX_TOKENS]
        corpus.dropped_long_pairs[split] = len(sides[0]) - len(keep)
        if not keep:
            raise InputError(input_path, f"the {split} split has no pair of at most {MAX_TOKENS} tokens a side")
        if len(keep) < len(sides[0]):
            corpus.splits[split] = [corpus.splits[split][i] for i in keep]
            for lang, lines in zip(LANGS, sides):
                files[f"{split}.{lang}"] = as_text(lines[i] for i in keep)


def check_output_folder(out_dir, input_path):
    if Path(out_dir).resolve() == Path(input_path).resolve():
        raise InputError(out_dir, "is the input folder; choose another output folder")


# ----- recipes ---------------------------------------------------------------------------


def side(pairs, lang):
    return [pair[LANGS.index(lang)] for pair in pairs]


def as_text(lines):
    return "".join(f"{line}\n" for line in lines)


def prepare_word(splits):
    """Output file name -> text, for the word recipe."""
    return {
        f"{split}.{lang}": as_text(encode_a4_line(line) for line in side(pairs, lang))
        for split, pairs in splits.items()
        for lang in LANGS
    }


def prepare_bpe(splits, merges):
    """Output file name -> text (splits and codes files), for the bpe recipe."""
    files = {}
    for lang in LANGS:
        tokenized = {split: [moses_tokenize(line, lang) for line in side(pairs, lang)]
                     for split, pairs in splits.items()}
        codes = learn_bpe_codes(tokenized["train"], merges)
        files[f"bpe.codes.{lang}"] = codes
        for split, lines in tokenized.items():
            files[f"{split}.{lang}"] = as_text(apply_bpe_codes(codes, lines))
    return files


def reference_files(splits):
    """The untouched English of valid and test, which scoring compares translations with."""
    return {f"ref.{split}.en": as_text(side(splits[split], "en")) for split in ("valid", "test")}


# ----- writing ---------------------------------------------------------------------------


def manifest(args, corpus):
    recipe_options = {"empty_token": EMPTY_TOKEN}
    if args.recipe == "bpe":
        recipe_options = {
            "bpe_merges": args.bpe_merges,
            "bpe_codes": {lang: f"bpe.codes.{lang}" for lang in LANGS},
            "moses": {"escape": False, "aggressive_dash_splits": False},
        }
    return {
        "source": args.source,
        "input_files": corpus.input_files,
        "recipe": args.recipe,
        "recipe_options": recipe_options,
        "seed": getattr(args, "seed", None),
        "valid_size": getattr(args, "valid_size", None),
        "test_size": getattr(args, "test_size", None),
        "max_lines": args.max_lines,
        "sizes": {split: len(pairs) for split, pairs in corpus.splits.items()},
        "dropped_empty_pairs": corpus.dropped_empty_pairs,
        "max_tokens": MAX_TOKENS,
        "dropped_long_pairs": corpus.dropped_long_pairs,
    }


# ----- command line ----------------------------------------------------------------------


def load_corpus(args):
    if args.source == "a4":
        return load_split_folder(args.input, A4_FILE_STEMS)
    if args.source == "folder":
        return load_split_folder(args.input, FOLDER_FILE_STEMS)
    return load_tatoeba(args.input, args.seed, args.valid_size, args.test_size)


def prepare_corpus(args):
    if args.source != "tatoeba":
        check_output_folder(args.out, args.input)
    corpus = load_corpus(args)
    if args.max_lines is not None:
        corpus.splits["train"] = corpus.splits["train"][: args.max_lines]
    if args.recipe == "bpe":
        files = prepare_bpe(corpus.splits, args.bpe_merges)
    else:
        files = prepare_word(corpus.splits)
    drop_long_pairs(corpus, files, args.input)
    files.update(reference_files(corpus.splits))
    record = manifest(args, corpus)
    files[MANIFEST_NAME] = json.dumps(record, indent=2) + "\n"
    write_files({Path(args.out) / name: text_writer(text) for name, text in files.items()})  # all or nothing
    return record


def add_arguments(parser):
    """The prepare command's arguments: a source (a4, folder or tatoeba) and its options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    common.add_argument("--recipe", choices=("word", "bpe"), default="word", help="default: word (the a4 text)")
    common.add_argument("--bpe-merges", type=positive_int, default=DEFAULT_BPE_MERGES, metavar="N",
                        help=f"BPE merge operations per language (bpe recipe; default {DEFAULT_BPE_MERGES})")
    common.add_argument("--max-lines", type=positive_int, metavar="N", help="keep only the first N train pairs")

    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    a4 = sources.add_parser("a4", parents=[common], help="an a4 en_es_data/ folder (train/dev/test)")
    a4.add_argument("input", type=Path, metavar="FOLDER")
    folder = sources.add_parser("folder", parents=[common],
                                help="a folder with train.*, valid.* or dev.*, test.* (.es/.en)")
    folder.add_argument("input", type=Path, metavar="FOLDER")
    tatoeba = sources.add_parser("tatoeba", parents=[common], help="the Tatoeba spa.txt TSV, split by seed")
    tatoeba.add_argument("input", type=Path, metavar="SPA_TXT")
    tatoeba.add_argument("--seed", type=int, default=1, help="shuffle seed (default 1)")
    tatoeba.add_argument("--valid-size", type=positive_int, default=2000, metavar="N",
                         help="valid pairs (default 2000)")
    tatoeba.add_argument("--test-size", type=positive_int, default=2000, metavar="N", help="test pairs (default 2000)")


def report(record, out_dir):
    sizes = ", ".join(f"{split} {count}" for split, count in record["sizes"].items())
    dropped = ", ".join(f"{part} {count}" for part, count in record["dropped_empty_pairs"].items())
    print(f"pairs: {sizes}")
    print(f"dropped pairs with an empty side: {dropped}")
    long = ", ".join(f"{split} {count}" for split, count in record["dropped_long_pairs"].items())
    print(f"dropped pairs with a side over {record['max_tokens']} tokens: {long}")
    print(f"wrote {out_dir}")


def run(args):
    record = prepare_corpus(args)
    report(record, args.out)
