"""Shared helpers: tiny fairseq dictionaries, model construction, collated batches, and one
cs224n_lstm_tiny trained with fairseq's own tools on a copy task (for the command-line tests)."""
import argparse
import json
import random
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


def pytest_configure(config):
    """The tests that run fairseq's commands in this process see the notices filtered as every
    fairseq command with the plugin does (pytest restores the warning filters after each test)."""
    silence_third_party_notices()


REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent
PLUGIN = str(REPO / "cs224n_nmt_plugin")
LETTERS = "a b c d e f g h i j k l".split()


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


# ----- a model trained by fairseq-train on a copy task -------------------------------------


def run_tool(tool, *args, stdin=None, check=True):
    """A fairseq command-line tool (or another of the venv's) with its output captured."""
    result = subprocess.run([str(BIN / tool), *map(str, args)], input=stdin, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{tool} failed:\n{result.stderr[-3000:]}"
    return result


def write_copy_corpus(folder, seed=0, sizes=(("train", 2000), ("valid", 100), ("test", 37))):
    """Lowercase letters -> the same letters uppercased: cs224n_lstm_tiny learns it in seconds,
    so tests can demand correct translations, not just files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in sizes:
        sources = [" ".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(size)]
        (folder / f"{split}.es").write_text("".join(s + "\n" for s in sources))
        (folder / f"{split}.en").write_text("".join(s.upper() + "\n" for s in sources))
    return folder


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
