"""Text in and out of fairseq's translation tools, with the pre/post-processing of the
recipe a corpus was prepared with (read from its prepare.json).

    python -m cs224n_nmt_plugin.translation_io encode TEXT_DIR RAW.es ENCODED.es
    python -m cs224n_nmt_plugin.translation_io collect TEXT_DIR FAIRSEQ_OUTPUT OUT.txt --count N

``encode`` turns raw Spanish (a4 text) into what fairseq-interactive must read, one line
per input line (an empty line too: a4 reads it as the single token ''); a line of more
than prepare.MAX_TOKENS (1023) tokens after encoding is cut to its first 1023, with a
one-line warning on stderr that counts them, so that it fits the model's 1024 positions
and every input line still gets its translation;
``collect`` takes the H- lines of fairseq-generate or fairseq-interactive output, puts
them in input order, turns each back into a4 text, checks that every one of the N input
sentences has exactly one translation, and writes OUT.txt (atomically).

Lines end at \\n, \\r or \\r\\n, as in prepare.py and fairseq-interactive (other Unicode line
separators such as U+2028 stay inside their line).
"""
import argparse
import json
import sys
from pathlib import Path

from cs224n_nmt_plugin import prepare
from cs224n_nmt_plugin.atomic_files import write_lines


class TranslationIOError(Exception):
    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")


def recipe_of(text_dir):
    manifest = Path(text_dir) / prepare.MANIFEST_NAME
    if not manifest.is_file():
        raise TranslationIOError(manifest, "missing: prepare the corpus first")
    return json.loads(manifest.read_text(encoding="utf-8"))["recipe"]


def encode_source_lines(lines, text_dir):
    """Raw Spanish lines as the corpus's recipe fed them to fairseq-preprocess."""
    recipe = recipe_of(text_dir)
    if recipe == "word":
        return [prepare.encode_a4_line(line) for line in lines]
    codes = (Path(text_dir) / "bpe.codes.es").read_text(encoding="utf-8")
    return prepare.apply_bpe_codes(codes, [prepare.moses_tokenize(line, "es") for line in lines])


def truncate_long_lines(lines):
    """``lines`` with each one cut to its first MAX_TOKENS tokens, and the numbers of those cut."""
    result, numbers = [], []
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if len(tokens) > prepare.MAX_TOKENS:
            line = " ".join(tokens[: prepare.MAX_TOKENS])
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
        raise TranslationIOError(
            path, f"has translations for {len(found)} of {count} sentences (first missing: {missing[:5]})"
        )
    return [found[i] for i in range(count)]


def read_text_lines(path):
    path = Path(path)
    if not path.is_file():
        raise TranslationIOError(path, "missing or not a file")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # universal newlines: \r\n and \r read as \n
    except UnicodeDecodeError as error:
        raise TranslationIOError(path, f"is not UTF-8 ({error.reason} at byte {error.start})")
    if lines[-1] == "":
        lines.pop()
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cs224n_nmt_plugin.translation_io", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    encode = commands.add_parser("encode", help="raw Spanish -> fairseq-interactive input")
    encode.add_argument("text_dir", type=Path)
    encode.add_argument("raw", type=Path)
    encode.add_argument("encoded", type=Path)
    collect = commands.add_parser("collect", help="fairseq output -> a4 text, in input order")
    collect.add_argument("text_dir", type=Path)
    collect.add_argument("fairseq_output", type=Path)
    collect.add_argument("output", type=Path)
    collect.add_argument("--count", type=int, required=True, help="number of input sentences")
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            lines, cut = truncate_long_lines(encode_source_lines(read_text_lines(args.raw), args.text_dir))
            if cut:
                print(f"warning: {args.raw}: {len(cut)} line(s) of more than {prepare.MAX_TOKENS} tokens cut to "
                      f"their first {prepare.MAX_TOKENS} (line {', '.join(map(str, cut[:5]))}"
                      f"{', ...' if len(cut) > 5 else ''})", file=sys.stderr)
            write_lines(args.encoded, lines)
        else:
            recipe = recipe_of(args.text_dir)
            hypotheses = hypotheses_in_order(read_text_lines(args.fairseq_output), args.count, args.fairseq_output)
            write_lines(args.output, [prepare.postprocess_hypothesis(h, recipe) for h in hypotheses])
    except TranslationIOError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
