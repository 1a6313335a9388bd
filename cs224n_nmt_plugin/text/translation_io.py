"""Text in and out of fairseq's translation tools, with the pre/post-processing of the
recipe a corpus was prepared with (read from its prepare.json).

    cs224n-nmt encode TEXT_DIR RAW.es ENCODED.es
    cs224n-nmt collect TEXT_DIR FAIRSEQ_OUTPUT OUT.txt --count N

``encode`` turns raw Spanish (a4 text) into what fairseq-interactive must read, one line
per input line (an empty line too: a4 reads it as the single token ''); a line of more
than MAX_TOKENS (1023) tokens after encoding is cut to its first 1023, with a
one-line warning on stderr that counts them, so that it fits the model's 1024 positions
and every input line still gets its translation;
``collect`` takes the H- lines of fairseq-generate or fairseq-interactive output, puts
them in input order, turns each back into a4 text, checks that every one of the N input
sentences has exactly one translation, and writes OUT.txt (atomically).
"""
import json
import sys
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text import prepare
from cs224n_nmt_plugin.text.files import read_lines, write_lines
from cs224n_nmt_plugin.text.tokens import MAX_TOKENS


def recipe_of(text_dir):
    manifest = Path(text_dir) / prepare.MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(manifest, "missing: prepare the corpus first")
    return json.loads(manifest.read_text(encoding="utf-8"))["recipe"]


def encode_source_lines(lines, text_dir):
    """Raw Spanish lines as the corpus's recipe fed them to fairseq-preprocess."""
    recipe = recipe_of(text_dir)
    if recipe == "word":
        return [prepare.encode_a4_line(line) for line in lines]
    codes = (Path(text_dir) / "bpe.codes.es").read_text(encoding="utf-8")
    return prepare.apply_bpe_codes(codes, [prepare.moses_tokenize(line, "es") for line in lines])


def recipe_of_data_bin(data_bin):
    """The recipe DATA_BIN was prepared with (its text/prepare.json), or the word recipe for a
    data-bin made without the pipeline."""
    text_dir = Path(data_bin) / "text"
    return recipe_of(text_dir) if (text_dir / prepare.MANIFEST_NAME).is_file() else "word"


def encode_for_data_bin(lines, data_bin):
    """Raw Spanish lines as the recipe of DATA_BIN (recipe_of_data_bin) encodes them."""
    text_dir = Path(data_bin) / "text"
    if (text_dir / prepare.MANIFEST_NAME).is_file():
        return encode_source_lines(lines, text_dir)
    return [prepare.encode_a4_line(line) for line in lines]


def truncate_long_lines(lines):
    """``lines`` with each one cut to its first MAX_TOKENS tokens, and the numbers of those cut."""
    result, numbers = [], []
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if len(tokens) > MAX_TOKENS:
            line = " ".join(tokens[:MAX_TOKENS])
            numbers.append(number)
        result.append(line)
    return result, numbers


def hypotheses_in_order(fairseq_output_lines, count, path):
    """The best hypothesis (first H- line) of sentences 0..count-1, by sentence id."""
    found = {}
    for line in fairseq_output_lines:
        if line.startswith("H-"):
            sentence_id, _score, text = (line.rstrip("\n").split("\t") + [""])[:3]
            found.setdefault(int(sentence_id[2:]), text)
    missing = [i for i in range(count) if i not in found]
    if missing or len(found) != count:
        raise InputError(
            path, f"has translations for {len(found)} of {count} sentences (first missing: {missing[:5]})"
        )
    return [found[i] for i in range(count)]


def add_encode_arguments(parser):
    parser.add_argument("text_dir", type=Path, help="the corpus's prepared text (data-bin/NAME/text)")
    parser.add_argument("raw", type=Path, help="raw Spanish, one sentence a line")
    parser.add_argument("encoded", type=Path, help="the lines to give fairseq-interactive")


def run_encode(args):
    lines, cut = truncate_long_lines(encode_source_lines(read_lines(args.raw), args.text_dir))
    if cut:
        print(f"warning: {args.raw}: {len(cut)} line(s) of more than {MAX_TOKENS} tokens cut to "
              f"their first {MAX_TOKENS} (line {', '.join(map(str, cut[:5]))}"
              f"{', ...' if len(cut) > 5 else ''})", file=sys.stderr)
    write_lines(args.encoded, lines)


def add_collect_arguments(parser):
    parser.add_argument("text_dir", type=Path, help="the corpus's prepared text (data-bin/NAME/text)")
    parser.add_argument("fairseq_output", type=Path, help="what fairseq-generate or fairseq-interactive printed")
    parser.add_argument("output", type=Path, help="the translations, a4 text, one a line in input order")
    parser.add_argument("--count", type=int, required=True, help="number of input sentences")


def run_collect(args):
    recipe = recipe_of(args.text_dir)
    hypotheses = hypotheses_in_order(read_lines(args.fairseq_output), args.count, args.fairseq_output)
    write_lines(args.output, [prepare.postprocess_hypothesis(h, recipe) for h in hypotheses])
