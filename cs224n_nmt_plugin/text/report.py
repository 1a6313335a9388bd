"""A self-contained HTML report (and a markdown summary) of a system's translations of a test set,
from the translations as text (and, for heatmaps, the model's Translation objects): the
``cs224n-nmt report`` command (report_command.py, which loads the model when there is one).

    cs224n-nmt report --source TEST.es --reference TEST.en \\
        (--hypotheses OUT.txt [--data-bin DATA_BIN] | --checkpoint CKPT.pt --data-bin DATA_BIN) \\
        --out REPORT_DIR [--n 10] [--attention-for 1,5,9]

Writes REPORT_DIR/report.html, whose images are base64 data URIs (the file can be moved
alone), and REPORT_DIR/summary.md; with --checkpoint also REPORT_DIR/hypotheses.txt, the
translations as a4 text. Contents:

* Corpus scores: a4 BLEU beside sacreBLEU, exactly as ``score.py`` computes them.
* Sentence BLEU: the handout's sentence BLEU (``bleu.sentence_bleu``, one reference, a4
  tokens ``line.strip().split(' ')``, no smoothing) of every line under two weightings:
  BLEU-4, a4's uniform 1- to 4-gram weights, and BLEU-2, lambda = (1/2, 1/2). BLEU-4 is 0
  whenever no 4-gram matches, so for most short sentences; BLEU-2 is the same formula
  restricted to unigrams and bigrams, 0 only when no bigram matches. Histograms of both.
* The worst and best N sentences by BLEU-4, ties broken by BLEU-2, then by line number.
* With --data-bin, source words the model cannot see are marked: words whose encoding under
  the corpus's recipe (DATA_BIN/text/prepare.json; without it the word recipe) has a token
  missing from DATA_BIN/dict.es.txt.
* With --checkpoint, attention heatmaps for the lines of --attention-for (1-based; default
  1,2,3). The model translates like scripts/translate.sh (translator.py: the homework's beam
  search, beam 5, at most 70 steps). A heatmap is the soft attention alpha_t (eq 8) that the
  decoder computed while generating the kept hypothesis: a row per target token and a column per source
  token (each ending with </s>), every row summing to 1.

Images need matplotlib, an optional dependency (``pip install matplotlib``); without it the
report says they were left out. An inline script in report.html records how many images
loaded (``scripts/check_report_renders.sh`` reads it in headless Chromium).
An input problem prints one line naming the file and exits with status 1; the output files
are written to temporary names and renamed into place only when all are written.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cs224n_nmt_plugin.cli import positive_int
from cs224n_nmt_plugin.errors import InputError, UsageError
from cs224n_nmt_plugin.settings import BEAM, decoding_summary
from cs224n_nmt_plugin.text.bleu import A4_WEIGHTS, sentence_bleu, tokenize
from cs224n_nmt_plugin.text.files import read_lines, text_writer
from cs224n_nmt_plugin.text.scores import score_lines
from cs224n_nmt_plugin.text.translation_io import encode_for_data_bin

if TYPE_CHECKING:
    import numpy

BLEU2_WEIGHTS = (0.5, 0.5)
DEFAULT_N = 10
DEFAULT_ATTENTION_FOR = (1, 2, 3)
HISTOGRAM_BINS = 20
HEATMAP_INCHES_PER_TOKEN = 0.32
DPI = 100
OOV_TITLE = "not in the source dictionary"
CORPUS_HEADER = ("sentences", "a4 BLEU", "sacreBLEU")
DISTRIBUTION_HEADER = ("score", "mean", "median", "sentences at 0")
SENTENCE_HEADER = ("line", "BLEU-4", "BLEU-2", "source", "reference", "hypothesis")


@dataclass(frozen=True)
class ScoredSentence:
    index: int  # 1-based line number
    source: str
    reference: str
    hypothesis: str
    bleu4: float  # 0-1, a4 weights
    bleu2: float  # 0-1, lambda = (1/2, 1/2)


@dataclass(frozen=True)
class Heatmap:
    index: int  # 1-based line number
    source_tokens: list[str]  # as fed to the model ("WORD (unk)" if unknown), ending with </s>
    target_tokens: list[str]  # the hypothesis, ending with </s>
    weights: numpy.ndarray  # (target, source); each row sums to 1


@dataclass
class Report:
    inputs: dict[str, str]
    corpus: dict
    sentences: list[ScoredSentence]
    n: int
    unknown_words: set[str] | None  # None: no dictionary given
    heatmaps: list[Heatmap]
    images: dict[str, bytes] | None  # name -> PNG; None: matplotlib is missing


# ----- scores ----------------------------------------------------------------------------


def score_sentences(sources, references, hypotheses):
    return [
        ScoredSentence(index, source, reference, hypothesis,
                       *(sentence_bleu(tokenize(hypothesis), [tokenize(reference)], weights).bleu
                         for weights in (A4_WEIGHTS, BLEU2_WEIGHTS)))
        for index, (source, reference, hypothesis) in enumerate(zip(sources, references, hypotheses), start=1)
    ]


def worst(sentences, n):
    return sorted(sentences, key=lambda s: (s.bleu4, s.bleu2, s.index))[:n]


def best(sentences, n):
    return sorted(sentences, key=lambda s: (-s.bleu4, -s.bleu2, s.index))[:n]


def distribution_rows(sentences):
    """[score name, mean, median, share at 0] of BLEU-4 and BLEU-2, formatted on the 0-100 scale."""
    rows = []
    for name, values in (("BLEU-4 (a4 weights)", [s.bleu4 for s in sentences]),
                         ("BLEU-2 (lambda = 1/2, 1/2)", [s.bleu2 for s in sentences])):
        zero_share = sum(value == 0 for value in values) / len(values)
        rows.append([name, f"{100 * statistics.fmean(values):.1f}", f"{100 * statistics.median(values):.1f}",
                     f"{100 * zero_share:.1f}%"])
    return rows


def corpus_rows(corpus):
    return [[str(corpus["sentences"]), f'{corpus["a4_bleu"]:.2f}', f'{corpus["sacrebleu"]:.2f}']]


# ----- source words outside the dictionary -----------------------------------------------


def read_dictionary_symbols(path):
    """The symbols of a fairseq dictionary file (lines "SYMBOL COUNT [#fairseq:overwrite]")."""
    symbols = set()
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.rstrip().rsplit(" ", 2)
        if fields[-1] == "#fairseq:overwrite":
            fields.pop()
        if len(fields) < 2 or not fields[-1].isdigit():
            raise InputError(path, f"line {number} is not 'SYMBOL COUNT'")
        symbols.add(" ".join(fields[:-1]))
    return symbols


def find_unknown_words(sources, data_bin):
    """The a4 source tokens with a token of their encoding missing from dict.es.txt."""
    symbols = read_dictionary_symbols(Path(data_bin) / "dict.es.txt")
    words = sorted({word for line in sources for word in tokenize(line)})
    encoded = encode_for_data_bin(words, data_bin)
    return {word for word, pieces in zip(words, encoded) if any(piece not in symbols for piece in pieces.split())}


# ----- translation and attention ---------------------------------------------------------


def hypotheses_and_heatmaps(translations, attention_for):
    """The a4-text hypotheses of every line's Translation (translator.py), and the heatmaps of
    the lines in attention_for."""
    heatmaps = []
    for index in attention_for:
        translation = translations[index - 1]
        kept = translation.hypotheses[0]
        labels = [f"{token} (unk)" if unknown else token
                  for token, unknown in zip(translation.source_tokens, translation.unknown)]
        heatmaps.append(Heatmap(index, labels, kept.tokens, kept.attention))
    return [translation.hypotheses[0].text for translation in translations], heatmaps


# ----- images ----------------------------------------------------------------------------


def new_figure(width, height):
    """A matplotlib Figure drawn by Agg, or None when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure(figsize=(width, height), dpi=DPI)


def png_bytes(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def histogram_png(sentences):
    figure = new_figure(11, 3.8)
    if figure is None:
        return None
    bins = [100 * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)]
    for position, (name, values) in enumerate(
        (("BLEU-4 (a4 weights)", [100 * s.bleu4 for s in sentences]),
         ("BLEU-2 (lambda = 1/2, 1/2)", [100 * s.bleu2 for s in sentences])), start=1):
        axes = figure.add_subplot(1, 2, position)
        axes.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
        axes.set_title(f"{name}: mean {statistics.fmean(values):.1f}")
        axes.set_xlabel("sentence BLEU (0-100)")
        axes.set_ylabel("sentences")
        axes.set_xlim(0, 100)
    figure.tight_layout()
    return png_bytes(figure)


def heatmap_png(heatmap):
    rows, columns = heatmap.weights.shape
    figure = new_figure(max(4.0, HEATMAP_INCHES_PER_TOKEN * columns + 2.5),
                        max(3.0, HEATMAP_INCHES_PER_TOKEN * rows + 1.8))
    if figure is None:
        return None
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(heatmap.weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), heatmap.source_tokens, rotation=90)
    axes.set_yticks(range(rows), heatmap.target_tokens)
    axes.set_xlabel("source")
    axes.set_ylabel("hypothesis")
    axes.set_title(f"attention, sentence {heatmap.index}")
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    return png_bytes(figure)


def draw_images(sentences, heatmaps):
    """Image name -> PNG bytes, or None when matplotlib is not installed."""
    histogram = histogram_png(sentences)
    if histogram is None:
        return None
    images = {"histogram": histogram}
    images.update((f"attention-{heatmap.index}", heatmap_png(heatmap)) for heatmap in heatmaps)
    return images


def data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ----- HTML (the template pages/report.html) --------------------------------------------


def source_words(source, unknown_words):
    """The source's a4 tokens as (word, unknown) pairs, for the template to mark."""
    unknown_words = unknown_words or set()
    return [(word, word in unknown_words) for word in tokenize(source)]


def sentence_rows(report, sentences):
    return [[str(s.index), f"{100 * s.bleu4:.1f}", f"{100 * s.bleu2:.1f}", source_words(s.source, report.unknown_words),
             s.reference, s.hypothesis] for s in sentences]


def render_html(report):
    from cs224n_nmt_plugin.pages import render

    shown = min(report.n, len(report.sentences))
    heatmap_sentences = [report.sentences[heatmap.index - 1] for heatmap in report.heatmaps]
    heatmaps = [{"index": s.index, "row": [source_words(s.source, report.unknown_words), s.reference, s.hypothesis]}
                for s in heatmap_sentences]
    return render(
        "report.html",
        inputs=list(report.inputs.items()),
        corpus_header=CORPUS_HEADER, corpus_rows=corpus_rows(report.corpus),
        distribution_header=DISTRIBUTION_HEADER, distribution_rows=distribution_rows(report.sentences),
        unknown_count=None if report.unknown_words is None else len(report.unknown_words), oov_title=OOV_TITLE,
        sentence_header=SENTENCE_HEADER,
        ranked=[(f"Worst {shown} sentences", sentence_rows(report, worst(report.sentences, report.n))),
                (f"Best {shown} sentences", sentence_rows(report, best(report.sentences, report.n)))],
        heatmaps=heatmaps, beam=BEAM,
        images=None if report.images is None else {name: data_uri(png) for name, png in report.images.items()},
    )


# ----- markdown --------------------------------------------------------------------------


def markdown_text(text, unknown_words=None):
    """Text safe in a markdown table cell: HTML and markdown syntax escaped, unknown words bold."""
    unknown_words = unknown_words or set()

    def word(token):
        safe = re.sub(r"([\\`*_\[\]|#~])", r"\\\1", html.escape(token, quote=False))
        return f"**{safe}**" if token and token in unknown_words else safe  # "****" is no emphasis

    return " ".join(word(token) for token in tokenize(text))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown_sentences(report, title, sentences):
    rows = [[str(s.index), f"{100 * s.bleu4:.1f}", f"{100 * s.bleu2:.1f}",
             markdown_text(s.source, report.unknown_words), markdown_text(s.reference), markdown_text(s.hypothesis)]
            for s in sentences]
    return ["", f"## {title}", ""] + markdown_table(SENTENCE_HEADER, rows)


def render_markdown(report):
    lines = ["# Translation report", ""]
    lines += [f"- {name}: {markdown_text(value)}" for name, value in report.inputs.items()]
    lines += ["", "## Corpus scores", ""]
    lines += markdown_table(CORPUS_HEADER, corpus_rows(report.corpus))
    lines += ["", "## Sentence BLEU (handout definition, a4 tokens, unsmoothed, 0-100)", ""]
    lines += markdown_table(DISTRIBUTION_HEADER, distribution_rows(report.sentences))
    lines += ["", "Ranked by BLEU-4, ties broken by BLEU-2, then by line number."]
    if report.unknown_words is not None:
        lines += [f"Source words in **bold** are {OOV_TITLE}."]
    n = min(report.n, len(report.sentences))
    lines += markdown_sentences(report, f"Worst {n} sentences", worst(report.sentences, report.n))
    lines += markdown_sentences(report, f"Best {n} sentences", best(report.sentences, report.n))
    if report.heatmaps:
        lines += ["", "Attention heatmaps (in report.html) for lines "
                  + ", ".join(str(h.index) for h in report.heatmaps) + "."]
    return "\n".join(lines) + "\n"


# ----- command line ----------------------------------------------------------------------


def line_numbers(text):
    try:
        numbers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected line numbers like 1,5,9, got {text!r}") from None
    if any(number < 1 for number in numbers):
        raise argparse.ArgumentTypeError(f"line numbers start at 1, got {text!r}")
    return numbers


def add_arguments(parser):
    parser.add_argument("--source", required=True, type=Path, help="test source, raw a4 text (one sentence a line)")
    parser.add_argument("--reference", required=True, type=Path, help="test reference, a4 text")
    system = parser.add_mutually_exclusive_group(required=True)
    system.add_argument("--hypotheses", type=Path, help="translations, a4 text, one a line")
    system.add_argument("--checkpoint", type=Path, help="a cs224n_nmt checkpoint to translate with")
    parser.add_argument("--data-bin", type=Path, help="fairseq-preprocess folder (dict.es.txt, text/prepare.json); "
                        "needed with --checkpoint, optional with --hypotheses (marks unknown source words)")
    parser.add_argument("--out", required=True, type=Path, help="report folder (created if missing)")
    parser.add_argument("--n", type=positive_int, default=DEFAULT_N,
                        help=f"worst and best sentences to show (default {DEFAULT_N})")
    parser.add_argument("--attention-for", type=line_numbers, metavar="I,J,...",
                        help="1-based lines to draw attention for (--checkpoint only; default 1,2,3)")


def check_arguments(args):
    if args.checkpoint is not None and args.data_bin is None:
        raise UsageError("--checkpoint needs --data-bin")
    if args.hypotheses is not None and args.attention_for is not None:
        raise UsageError("--attention-for needs --checkpoint (attention comes from the model)")


def read_inputs(args):
    """The source and reference lines, checked against each other and --attention-for."""
    check_arguments(args)
    sources, references = read_lines(args.source), read_lines(args.reference)
    check_lines(sources, references, args)
    return sources, references


def check_lines(sources, references, args):
    if not sources:
        raise InputError(args.source, "has no lines")
    if len(references) != len(sources):
        raise InputError(args.reference, f"has {len(references)} lines but {args.source} has {len(sources)}")
    out_of_range = [i for i in args.attention_for or () if i > len(sources)]
    if out_of_range:
        raise InputError(args.source, f"has {len(sources)} lines; --attention-for {out_of_range[0]} is past the end")


def inputs_of(args):
    inputs = {"source": str(args.source), "reference": str(args.reference)}
    if args.hypotheses is not None:
        inputs["hypotheses"] = str(args.hypotheses)
    else:
        inputs["checkpoint"] = f"{args.checkpoint} ({decoding_summary()})"
    if args.data_bin is not None:
        inputs["data-bin"] = str(args.data_bin)
    return inputs


def build_report(args, sources, references, translations=None):
    """The Report, and the hypotheses file to write (None with --hypotheses). ``translations``:
    the model's Translation of every source line, with --checkpoint."""
    unknown_words = find_unknown_words(sources, args.data_bin) if args.data_bin is not None else None
    heatmaps = []
    if translations is not None:
        hypotheses, heatmaps = hypotheses_and_heatmaps(translations,
                                                       args.attention_for or DEFAULT_ATTENTION_FOR[: len(sources)])
    else:
        hypotheses = read_lines(args.hypotheses)
    corpus = score_lines(hypotheses, references, args.hypotheses or args.checkpoint)
    sentences = score_sentences(sources, references, hypotheses)
    report = Report(inputs_of(args), corpus, sentences, args.n, unknown_words, heatmaps,
                    draw_images(sentences, heatmaps))
    return report, (hypotheses if translations is not None else None)


def output_files(report, out, hypotheses):
    """report.html and summary.md in ``out``, with the model's translations hypotheses.txt: writers
    for files.write_files."""
    files = {"report.html": render_html(report), "summary.md": render_markdown(report)}
    if hypotheses is not None:
        files["hypotheses.txt"] = "".join(f"{line}\n" for line in hypotheses)
    return {Path(out) / name: text_writer(text) for name, text in files.items()}


def print_summary(report, out):
    if report.images is None:
        print("warning: matplotlib is not installed, so the report has no images", file=sys.stderr)
    print(f"a4 BLEU {report.corpus['a4_bleu']:.2f}, sacreBLEU {report.corpus['sacrebleu']:.2f} "
          f"on {report.corpus['sentences']} sentences")
    print(f"wrote {Path(out) / 'report.html'} and {Path(out) / 'summary.md'}")
