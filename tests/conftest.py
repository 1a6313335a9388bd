"""Shared helpers: the repository's paths; runners of the pipeline scripts, fairseq's tools and
the cs224n-nmt command; the copy-task corpus; tiny fairseq dictionaries, model construction and
collated batches; one cs224n_lstm_tiny trained with fairseq's own tools on the copy task (for the
command-line tests); parsers of fairseq's output.

Markers (setup.cfg): ``slow`` for every test that trains a model or runs fairseq's tools, a
pipeline script, the notebook or a server; ``browser`` (with ``slow``) for those that drive
Chromium. ``bash scripts/test.sh --fast`` leaves both out. Two checks keep the marks honest: a test
that uses ``copy_model`` without ``slow`` stops the collection, and ``run_tool``/``run_script``
fail in a test that is not marked ``slow``."""
import argparse
import ast
import json
import random
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from fairseq.data import Dictionary, LanguagePairDataset

import cs224n_nmt_plugin  # noqa: F401  (registers the model)
from cs224n_nmt_plugin.models import CS224nNMTModel
from cs224n_nmt_plugin.notices import silence_third_party_notices

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # the course's a4 data and the Tatoeba corpus, where this machine has them
A4_DATA = SHARED / "data" / "en_es"
BIN = Path(sys.executable).parent
PLUGIN = str(REPO / "cs224n_nmt_plugin")
LETTERS = "a b c d e f g h i j k l".split()
CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config):
    """The tests that run fairseq's commands in this process see the notices filtered as every
    fairseq command with the plugin does (pytest restores the warning filters after each test)."""
    silence_third_party_notices()


def pytest_collection_modifyitems(config, items):
    """copy_model trains with fairseq-train: a test that uses it, even through another fixture, is slow."""
    unmarked = [item.nodeid for item in items
                if "copy_model" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("these tests use copy_model (fairseq-train) but are not marked slow: "
                                + ", ".join(unmarked))


_running = {}  # "test": the test whose setup, call or teardown runs now


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running["test"] = item
    try:
        return (yield)
    finally:
        _running.pop("test", None)


def only_in_slow_tests(what):
    """Fails the running test, unless it is marked slow: ``what`` is for the slow tier only."""
    test = _running.get("test")
    if test is not None and test.get_closest_marker("slow") is None:
        pytest.fail(f"{test.nodeid} runs {what}: mark it slow (scripts/test.sh --fast leaves slow tests out)",
                    pytrace=False)


def needs_chromium(test):
    """A test that drives headless Chromium: marked browser and slow, skipped where Chromium is missing."""
    skip = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                              reason=f"{CHROMIUM} not installed (Debian: apt-get install -y chromium)")
    return pytest.mark.browser(pytest.mark.slow(skip(test)))


# ----- running the scripts, fairseq's tools and the cs224n-nmt command ----------------------


def failure(name, result):
    return f"{name} failed (status {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def run_script(name, *args, env=None, check=True, checkout=REPO, text=True, **options):
    """scripts/NAME ARGS of ``checkout`` (by bash, or this Python for a .py), its output captured (as
    text unless text=False); ``env`` is the whole environment (None: this process's); ``options`` go
    to subprocess.run (cwd, timeout, input). With ``check``, a failure fails the test, showing the
    output's end."""
    only_in_slow_tests(f"scripts/{name}")
    interpreter = sys.executable if name.endswith(".py") else "bash"
    result = subprocess.run([interpreter, str(Path(checkout) / "scripts" / name), *map(str, args)],
                            capture_output=True, text=text, env=env, **options)
    if check:
        assert result.returncode == 0, failure(name, result)
    return result


def run_tool(tool, *args, stdin=None, env=None, check=True, **options):
    """A fairseq command-line tool (or another of the venv's) with its output captured as text;
    ``env`` is the whole environment (None: this process's)."""
    only_in_slow_tests(tool)
    result = subprocess.run([str(BIN / tool), *map(str, args)], input=stdin, capture_output=True, text=True, env=env,
                            **options)
    if check:
        assert result.returncode == 0, failure(tool, result)
    return result


def run_cli(*args, stdin=None, env=None, check=False, cwd=REPO, text=True, timeout=300):
    """``cs224n-nmt ARGS`` in a fresh interpreter (python -m cs224n_nmt_plugin), output captured."""
    result = subprocess.run([sys.executable, "-m", "cs224n_nmt_plugin", *map(str, args)], input=stdin,
                            capture_output=True, text=text, env=env, cwd=cwd, timeout=timeout)
    if check:
        assert result.returncode == 0, failure(f"cs224n-nmt {args[0] if args else ''}", result)
    return result


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def loaded_after(code, modules):
    """Which of ``modules`` are in sys.modules after running ``code`` in a fresh interpreter, sorted."""
    check = f"import sys\n{code}\nprint(sorted(m for m in {tuple(modules)!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return ast.literal_eval(result.stdout.splitlines()[-1])


# ----- files ---------------------------------------------------------------------------------


def write_lines(path, lines):
    """``lines``, each ended by a newline, as UTF-8."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def copy_sentences(rng, count, lengths=(3, 7)):
    """``count`` lines of LETTERS, each ``lengths[0]`` to ``lengths[1]`` letters long, drawn with ``rng``."""
    return [" ".join(rng.choice(LETTERS) for _ in range(rng.randint(*lengths))) for _ in range(count)]


def write_copy_corpus(folder, seed=0, sizes=(("train", 2000), ("valid", 100), ("test", 37)), lengths=(3, 7)):
    """Lowercase letters -> the same letters uppercased, as SPLIT.es and SPLIT.en of ``sizes``:
    cs224n_lstm_tiny learns it in seconds, so tests can demand correct translations, not just files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in sizes:
        sources = copy_sentences(rng, size, lengths)
        write_lines(folder / f"{split}.es", sources)
        write_lines(folder / f"{split}.en", [s.upper() for s in sources])
    return folder


def write_tatoeba_copy(path, pairs, seed=0):
    """The copy task as a Tatoeba spa.txt: English (the uppercase copy), Spanish, attribution."""
    sources = copy_sentences(random.Random(seed), pairs)
    return write_lines(path, [f"{s.upper()}\t{s}\tCC-BY 2.0" for s in sources])


# ----- models and batches --------------------------------------------------------------------


def make_dictionary(num_words):
    dictionary = Dictionary()
    for index in range(num_words):
        dictionary.add_symbol(f"w{index}")
    return dictionary


class TinyTask:
    """The two attributes of a fairseq task that build_model reads."""

    def __init__(self, source_dictionary, target_dictionary):
        self.source_dictionary = source_dictionary
        self.target_dictionary = target_dictionary


def build_model(src_dict, tgt_dict, embed_size=6, hidden_size=5, dropout=0.0, **model_args):
    """A cs224n_nmt model; ``model_args`` are further options by name (attention, a4_framing)."""
    args = argparse.Namespace(embed_size=embed_size, hidden_size=hidden_size, dropout=dropout, **model_args)
    return CS224nNMTModel.build_model(args, TinyTask(src_dict, tgt_dict))


def random_sentences(generator, dictionary, lengths):
    """Random word ids (never specials), each sentence ended by </s> like fairseq's data."""
    low = dictionary.nspecial
    return [
        torch.cat([torch.randint(low, len(dictionary), (n,), generator=generator), torch.tensor([dictionary.eos()])])
        for n in lengths
    ]


def collate(src_dict, tgt_dict, sources, targets, left_pad_source=True):
    """A padded batch exactly as fairseq's translation task makes it."""
    dataset = LanguagePairDataset(
        sources, [len(s) for s in sources], src_dict,
        targets, [len(t) for t in targets], tgt_dict,
        left_pad_source=left_pad_source, left_pad_target=False,
    )
    return dataset.collater([dataset[i] for i in range(len(sources))])


@pytest.fixture
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


# ----- a user's environment: a virtual environment with only this run's torch ----------------


@pytest.fixture(scope="session")
def torch_environment(tmp_path_factory):
    """A fresh virtual environment holding only this test run's torch, built once a session."""
    venv = tmp_path_factory.mktemp("torch-env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"torch=={torch.__version__}"],
                   check=True)
    return venv


@pytest.fixture(scope="module")
def user_environment(torch_environment, tmp_path_factory):
    """A copy of ``torch_environment`` for one test module to install into, as a user's runtime is:
    hard links, which pip's installs (new files, removals) leave shared with the original intact."""
    venv = tmp_path_factory.mktemp("user-env") / "venv"
    subprocess.run(["cp", "-al", torch_environment, venv], check=True)
    return venv


# ----- a model trained by fairseq-train on the copy task ---------------------------------------


@dataclass(frozen=True)
class CopyModel:
    root: Path  # the raw corpus (train/valid/test .es/.en)
    data_bin: Path
    save_dir: Path  # checkpoint_best.pt, checkpoint_last.pt
    train_log: str

    @property
    def checkpoint(self):
        return self.save_dir / "checkpoint_best.pt"


@pytest.fixture(scope="session")
def copy_model(tmp_path_factory):
    root = write_copy_corpus(tmp_path_factory.mktemp("copy_task"))
    data_bin, save_dir = root / "data-bin", root / "checkpoints"
    run_tool("fairseq-preprocess", "--source-lang", "es", "--target-lang", "en", "--trainpref", root / "train",
             "--validpref", root / "valid", "--testpref", root / "test", "--destdir", data_bin, "--workers", "1")
    train = run_tool(
        "fairseq-train", data_bin, "--user-dir", PLUGIN, "--arch", "cs224n_lstm_tiny", "--cpu",
        "--optimizer", "a4_adam", "--lr", "5e-3", "--clip-norm", "5", "--batch-size", "32", "--max-epoch", "8",
        "--criterion", "cross_entropy", "--sentence-avg", "--seed", "0", "--save-dir", save_dir,
        "--no-epoch-checkpoints", "--no-progress-bar", "--log-format", "json", "--log-interval", "1000",
        # --eval-bleu stores numpy values in the checkpoint: loading must still work.
        "--eval-bleu", "--eval-bleu-detok", "space", "--best-checkpoint-metric", "bleu",
        "--maximize-best-checkpoint-metric",
    )
    return CopyModel(root, data_bin, save_dir, train.stderr + train.stdout)


# ----- fairseq's output ----------------------------------------------------------------------


def fairseq_records(log, tag):
    """The json records of one kind (train_inner, valid, train) of a fairseq --log-format json log."""
    return [json.loads(line[line.index("{"):]) for line in log.splitlines() if f"| {tag} |" in line]


def output_lines(fairseq_output, prefix):
    """Sentence id -> the tab-separated fields after the id of fairseq-generate's PREFIX-id lines
    (S, T, H, P, A), in order of appearance for ids with several (--nbest)."""
    found = {}
    for line in fairseq_output.splitlines():
        if line.startswith(f"{prefix}-"):
            number, *fields = line.split("\t")
            found.setdefault(int(number[len(prefix) + 1:]), []).append(fields)
    return found


def hypotheses(fairseq_output):
    """Sentence id -> its hypotheses as (score, text) of its H lines, in fairseq's order (best first)."""
    return {number: [(float(score), text) for score, text in fields]
            for number, fields in output_lines(fairseq_output, "H").items()}


def best_texts(fairseq_output):
    """Sentence id -> the text of its best hypothesis."""
    return {number: found[0][1] for number, found in hypotheses(fairseq_output).items()}


def positional_scores(fairseq_output):
    """Sentence id -> the positional scores (base 2, </s> included) of its best hypothesis's P line."""
    return {number: [float(x) for x in fields[0][0].split()]
            for number, fields in output_lines(fairseq_output, "P").items()}


def sources(fairseq_output):
    """Sentence id -> its source line as fairseq printed it (S lines)."""
    return {number: fields[0][0] for number, fields in output_lines(fairseq_output, "S").items()}
