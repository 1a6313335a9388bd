"""Tests for the report (cs224n_nmt_plugin/text/report.py): the report's content from a hypotheses file (no model),
attention heatmaps from a real checkpoint, and rendering in headless Chromium."""
import base64
import html
import io
import re
import sys

import pytest
import sacrebleu
import torch

from conftest import needs_chromium, run_script, write_lines
from cs224n_nmt_plugin.cli import COMMANDS, command_parser, main
from cs224n_nmt_plugin.settings import MAX_STEPS
from cs224n_nmt_plugin.text import prepare, report
from cs224n_nmt_plugin.text.bleu import A4_WEIGHTS, a4_corpus_bleu, sentence_bleu, tokenize
from cs224n_nmt_plugin.text.translation_io import encode_for_data_bin

SOURCES = [
    "el perro grande come carne",
    "el gato bebe la leche",
    "una casa roja está aquí",
    '<script>alert("x")</script> & gato',
    "nosotros estamos aquí",
]
REFERENCES = [
    "the big dog eats meat",
    "the cat drinks the  milk",  # a4 tokens: the double space is a '' token
    "a red house is here",
    "she stood up",
    "we are here",
]
HYPOTHESES = [
    "the big dog eats meat",  # BLEU-4 1
    "the cat drinks milk",  # BLEU-4 0 (no 4-gram matches), BLEU-2 > 0
    "a red house is big",  # 0 < BLEU-4 < 1
    '<b>bold</b> & "q"',  # 0 and 0
    "they",  # 0 and 0
]
SOURCE_DICTIONARY = ["el", "perro", "grande", "come", "carne", "bebe", "la", "leche", "una", "casa", "aquí", "&"]
UNKNOWN = {"gato", "roja", "está", '<script>alert("x")</script>', "nosotros", "estamos"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def files(tmp_path):
    data_bin = tmp_path / "data-bin"
    data_bin.mkdir()
    write_lines(data_bin / "dict.es.txt", [f"{word} 3" for word in SOURCE_DICTIONARY])
    return {
        "source": write_lines(tmp_path / "test.es", SOURCES),
        "reference": write_lines(tmp_path / "test.en", REFERENCES),
        "hypotheses": write_lines(tmp_path / "out.txt", HYPOTHESES),
        "data_bin": data_bin,
        "out": tmp_path / "report",
    }


def run_report(files, *extra, data_bin=True):
    argv = ["--source", str(files["source"]), "--reference", str(files["reference"]),
            "--hypotheses", str(files["hypotheses"]), "--out", str(files["out"]), *extra]
    if data_bin:
        argv += ["--data-bin", str(files["data_bin"])]
    assert main(["report", *argv]) == 0
    return (files["out"] / "report.html").read_text(encoding="utf-8")


def table_after(page, heading):
    match = re.search(rf"<h2>{re.escape(heading)}</h2>(<table>.*?</table>)", page)
    assert match, f"no table after {heading!r}"
    return match.group(1)


def line_column(table):
    return [int(number) for number in re.findall(r'<tr><td class="num">(\d+)</td>', table)]


def embedded_pngs(page):
    return [base64.b64decode(data, validate=True)
            for data in re.findall(r'<img src="data:image/png;base64,([^"]*)"', page)]


def check_png(png):
    from PIL import Image

    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.width > 0 and image.height > 0


# ----- from a hypotheses file --------------------------------------------------------------


def test_scores_are_those_of_the_bleu_functions(files):
    page = run_report(files)
    parser, _ = command_parser("report", COMMANDS["report"])
    args = parser.parse_args(["--source", str(files["source"]), "--reference", str(files["reference"]),
                              "--hypotheses", str(files["hypotheses"]), "--out", str(files["out"])])
    built, _ = report.build_report(args, *report.read_inputs(args))
    a4 = round(a4_corpus_bleu(HYPOTHESES, REFERENCES), 2)
    sacre = round(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score, 2)
    assert built.corpus == {"sentences": 5, "a4_bleu": a4, "sacrebleu": sacre}
    assert f'<td class="num">{a4:.2f}</td><td class="num">{sacre:.2f}</td>' in page
    for sentence, hypothesis, reference in zip(built.sentences, HYPOTHESES, REFERENCES):
        assert sentence.bleu4 == sentence_bleu(tokenize(hypothesis), [tokenize(reference)], A4_WEIGHTS).bleu
        assert sentence.bleu2 == sentence_bleu(tokenize(hypothesis), [tokenize(reference)], (0.5, 0.5)).bleu
    bleu4 = [s.bleu4 for s in built.sentences]
    assert bleu4[0] == 1.0 and bleu4[1] == 0.0 < built.sentences[1].bleu2 and 0 < bleu4[2] < 1


def test_worst_and_best_are_ranked_by_bleu4_then_bleu2_then_line(files):
    page = run_report(files, "--n", "3")
    assert line_column(table_after(page, "Worst 3 sentences")) == [4, 5, 2]
    assert line_column(table_after(page, "Best 3 sentences")) == [1, 3, 2]
    summary = (files["out"] / "summary.md").read_text(encoding="utf-8")
    worst_rows = summary.split("## Worst 3 sentences")[1].split("## Best")[0]
    assert [int(row.split("|")[1]) for row in worst_rows.splitlines() if re.match(r"\| \d", row)] == [4, 5, 2]


def test_all_text_is_escaped(files):
    page = run_report(files)
    assert page.count("<script>") == 1  # the report's own image check
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</mark> &amp; <mark" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;q&#34;" in page
    assert "<b>bold" not in page
    summary = (files["out"] / "summary.md").read_text(encoding="utf-8")
    assert "<script>" not in summary and "&lt;b&gt;bold&lt;/b&gt;" in summary


def test_unknown_source_words_are_marked(files):
    page = run_report(files)
    marked = set(re.findall(r'<mark title="[^"]*">([^<]*)</mark>', page))
    assert {html.unescape(word) for word in marked} == UNKNOWN
    assert f"{len(UNKNOWN)} distinct source words are unknown" in page
    assert "**gato**" in (files["out"] / "summary.md").read_text(encoding="utf-8")


def test_without_a_data_bin_nothing_is_marked(files):
    page = run_report(files, data_bin=False)
    assert "<mark title" not in page and "no --data-bin" in page


def test_the_histogram_is_an_embedded_png(files):
    page = run_report(files)
    pngs = embedded_pngs(page)
    assert len(pngs) == page.count("<img ") == 1
    check_png(pngs[0])
    assert not any(path.name != "report.html" and path.suffix == ".png" for path in files["out"].iterdir())


def test_without_matplotlib_the_report_has_no_images(files, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    page = run_report(files)
    assert "<img " not in page and "matplotlib is not installed" in page
    assert "matplotlib is not installed" in capsys.readouterr().err


@pytest.mark.parametrize("problem, edit, message", [
    ("short reference", lambda f: write_lines(f["reference"], REFERENCES[:4]), "test.en: has 4 lines but"),
    ("missing hypotheses", lambda f: f["hypotheses"].unlink(), "out.txt: missing or not a file"),
    ("bad dictionary", lambda f: write_lines(f["data_bin"] / "dict.es.txt", ["el"]), "dict.es.txt: line 1 is not"),
    ("not UTF-8", lambda f: f["source"].write_bytes(b"\xff\n" * 5), "test.es: line 1 is not UTF-8"),
])
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(files, capsys, problem, edit, message):
    edit(files)
    argv = ["--source", str(files["source"]), "--reference", str(files["reference"]), "--hypotheses",
            str(files["hypotheses"]), "--data-bin", str(files["data_bin"]), "--out", str(files["out"])]
    assert main(["report", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not files["out"].exists() or not any(files["out"].iterdir())


def test_attention_needs_a_checkpoint(files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--source", str(files["source"]), "--reference", str(files["reference"]), "--hypotheses",
                     str(files["hypotheses"]), "--out", str(files["out"]), "--attention-for", "1"])
    assert exit_info.value.code == 2 and "--attention-for needs --checkpoint" in capsys.readouterr().err


def test_attention_lines_past_the_end_are_refused_before_loading(files, capsys):
    argv = ["--source", str(files["source"]), "--reference", str(files["reference"]), "--checkpoint",
            str(files["out"] / "none.pt"), "--data-bin", str(files["data_bin"]), "--out", str(files["out"]),
            "--attention-for", "2,6"]
    assert main(["report", *argv]) == 1
    assert "test.es: has 5 lines; --attention-for 6 is past the end" in capsys.readouterr().err


# ----- from a checkpoint -------------------------------------------------------------------

TRAIN_PAIRS = [("el perro come", "the dog eats"), ("el gato  bebe", "the cat drinks"),
               ("la casa es roja", "the house is red"), ("un perro bebe agua", "a dog drinks water")]
MODEL_SOURCES = ["el perro come agua", "el  gato", "la casa es roja y el perro come", "un zorro bebe"]
MODEL_REFERENCES = ["the dog eats water", "the cat", "the house is red and the dog eats", "a fox drinks"]


def write_dictionary(path, lines):
    from fairseq.data import Dictionary

    dictionary = Dictionary()
    for line in lines:
        for word in line.split():
            dictionary.add_symbol(word)
    dictionary.finalize(padding_factor=1)
    dictionary.save(str(path))


def save_untrained_checkpoint(data_bin, path):
    """A fairseq checkpoint of a fresh cs224n_lstm_tiny, written by fairseq's Trainer as
    fairseq-train writes its checkpoints (consolidate the optimizer, then save)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data_bin), "--arch", "cs224n_lstm_tiny", "--source-lang", "es", "--target-lang", "en", "--cpu",
        "--optimizer", "adam", "--lr", "1e-3", "--criterion", "cross_entropy", "--sentence-avg",
        "--batch-size", "32", "--seed", "1"])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    torch.manual_seed(1)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    trainer.consolidate_optimizer()
    trainer.save_checkpoint(str(path), {})


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_model")
    corpus = root / "corpus"
    corpus.mkdir()
    for split in ("train", "valid", "test"):
        write_lines(corpus / f"{split}.es", [es for es, _ in TRAIN_PAIRS])
        write_lines(corpus / f"{split}.en", [en for _, en in TRAIN_PAIRS])
    data_bin = root / "data-bin"
    assert main(["prepare", "folder", str(corpus), "--out", str(data_bin / "text")]) == 0
    for lang in ("es", "en"):
        write_dictionary(data_bin / f"dict.{lang}.txt", (data_bin / "text" / f"train.{lang}").read_text().splitlines())
    checkpoint = root / "checkpoints" / "checkpoint_best.pt"
    checkpoint.parent.mkdir()
    save_untrained_checkpoint(data_bin, checkpoint)
    return {"source": write_lines(root / "test.es", MODEL_SOURCES),
            "reference": write_lines(root / "test.en", MODEL_REFERENCES),
            "data_bin": data_bin, "checkpoint": checkpoint, "out": root / "report"}


@pytest.fixture(scope="module")
def model_report(model_files):
    f = model_files
    assert main(["report", "--source", str(f["source"]), "--reference", str(f["reference"]), "--checkpoint",
                        str(f["checkpoint"]), "--data-bin", str(f["data_bin"]), "--out", str(f["out"]),
                        "--attention-for", "2,3,4"]) == 0
    return (f["out"] / "report.html").read_text(encoding="utf-8")


def teacher_forced_attention(model, source_tokens, hypothesis_tokens):
    """alpha (T, S) of the model reading the hypothesis after the source, one sentence alone."""
    network = model.models[0]
    eos = torch.tensor([network.decoder.dictionary.eos()])
    previous = torch.cat([eos, hypothesis_tokens[:-1]]).unsqueeze(0)
    with torch.no_grad():
        _, extra = network(source_tokens.unsqueeze(0), torch.tensor([len(source_tokens)]), previous)
    return extra["attn"][0][0].numpy()


def test_heatmaps_show_the_attention_the_model_used(model_files):
    from cs224n_nmt_plugin.translator import Translator

    f = model_files
    translator = Translator(f["checkpoint"], f["data_bin"])
    model = translator.hub
    hypotheses, heatmaps = report.hypotheses_and_heatmaps(translator.translate(MODEL_SOURCES), (2, 3, 4))
    encoded = encode_for_data_bin(MODEL_SOURCES, f["data_bin"])
    assert [h.index for h in heatmaps] == [2, 3, 4]
    assert heatmaps[0].source_tokens == ["el", prepare.EMPTY_TOKEN, "gato", "</s>"]  # encoded like the corpus
    assert heatmaps[2].source_tokens == ["un", "zorro (unk)", "bebe", "</s>"]
    for heatmap in heatmaps:
        source_tokens = model.encode(encoded[heatmap.index - 1])
        hypothesis_tokens = torch.tensor([model.tgt_dict.index(token) for token in heatmap.target_tokens])
        completed = heatmap.target_tokens[-1] == "</s>"  # else stopped at the homework's 70 steps
        assert completed or len(heatmap.target_tokens) == MAX_STEPS
        assert heatmap.weights.shape == (len(heatmap.target_tokens), len(source_tokens))
        assert heatmap.weights.sum(axis=1) == pytest.approx(1.0, abs=1e-5)
        # The generator batched sentences of different lengths (padded): the weights kept must be
        # exactly those of the model reading this sentence alone.
        expected = teacher_forced_attention(model, source_tokens, hypothesis_tokens)
        assert abs(heatmap.weights - expected).max() < 1e-5
        words = heatmap.target_tokens[:-1] if completed else heatmap.target_tokens
        assert hypotheses[heatmap.index - 1] == prepare.decode_a4_line(" ".join(words))


def test_checkpoint_report_has_heatmaps_and_hypotheses(model_files, model_report):
    pngs = embedded_pngs(model_report)
    assert len(pngs) == 4  # histogram + 3 heatmaps
    for png in pngs:
        check_png(png)
    assert "<h3>Sentence 2</h3>" in model_report and "<h3>Sentence 3</h3>" in model_report
    assert 'alt="attention of sentence 3' in model_report
    hypotheses = (model_files["out"] / "hypotheses.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == len(MODEL_SOURCES)
    assert '<mark title="not in the source dictionary">zorro</mark>' in model_report


# ----- rendering in headless Chromium ------------------------------------------------------

def check_renders(report_html, screenshot):
    return run_script("check_report_renders.sh", report_html, screenshot, check=False, timeout=120)


@needs_chromium
def test_the_report_renders_with_every_image_loaded(model_files, model_report, tmp_path):
    result = check_renders(model_files["out"] / "report.html", tmp_path / "shot.png")
    assert result.returncode == 0, result.stderr
    assert "4 of 4 images loaded, 0 broken" in result.stdout
    check_png((tmp_path / "shot.png").read_bytes())


@needs_chromium
def test_the_render_check_catches_a_broken_image(files, tmp_path):
    page = run_report(files)
    broken = re.sub(r"base64,[^\"]*", "base64,AAAA", page)
    (tmp_path / "broken.html").write_text(broken, encoding="utf-8")
    result = check_renders(tmp_path / "broken.html", tmp_path / "shot.png")
    assert result.returncode == 1 and "1 of 1 images are broken" in result.stderr
