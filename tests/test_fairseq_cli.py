"""A tiny real run through fairseq's own command-line tools with --user-dir.

The task is a synthetic copy task (lowercase source letters -> the same letters
uppercased), which the tiny architecture learns in seconds, so the checks can demand
correct translations, not just files.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent
PLUGIN = str(REPO / "cs224n_nmt_plugin")
LETTERS = "a b c d e f g h i j k l".split()


def run(tool, *args, stdin=None):
    result = subprocess.run([str(BIN / tool), *map(str, args)], input=stdin, capture_output=True, text=True)
    assert result.returncode == 0, f"{tool} failed:\n{result.stderr[-3000:]}"
    return result


def write_copy_corpus(folder, seed=0):
    rng = random.Random(seed)
    for split, size in (("train", 2000), ("valid", 100), ("test", 37)):
        sources = [" ".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(size)]
        (folder / f"{split}.es").write_text("".join(s + "\n" for s in sources))
        (folder / f"{split}.en").write_text("".join(s.upper() + "\n" for s in sources))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("copy_task")
    write_copy_corpus(root)
    data_bin, save_dir = root / "data-bin", root / "checkpoints"
    run("fairseq-preprocess", "--source-lang", "es", "--target-lang", "en", "--trainpref", root / "train",
        "--validpref", root / "valid", "--testpref", root / "test", "--destdir", data_bin, "--workers", "1")
    train = run(
        "fairseq-train", data_bin, "--user-dir", PLUGIN, "--arch", "cs224n_lstm_tiny", "--cpu",
        "--optimizer", "adam", "--lr", "5e-3", "--clip-norm", "5", "--batch-size", "32", "--max-epoch", "8",
        "--criterion", "cross_entropy", "--sentence-avg", "--seed", "0", "--save-dir", save_dir,
        "--no-epoch-checkpoints", "--no-progress-bar", "--log-format", "json", "--log-interval", "1000",
        # --eval-bleu stores numpy values in the checkpoint: loading must still work.
        "--eval-bleu", "--eval-bleu-detok", "space", "--best-checkpoint-metric", "bleu",
        "--maximize-best-checkpoint-metric",
    )
    return root, data_bin, save_dir, train.stderr + train.stdout


def epoch_stats(log, prefix):
    stats = []
    for line in log.splitlines():
        if f'"{prefix}_loss"' in line:
            stats.append(json.loads(line[line.index("{"):]))
    return stats


def test_training_lowers_the_loss(trained):
    *_, log = trained
    train = epoch_stats(log, "train")
    valid = epoch_stats(log, "valid")
    assert len(train) == 8 and len(valid) == 8
    assert float(train[-1]["train_loss"]) < 0.2 * float(train[0]["train_loss"])
    assert min(float(v["valid_loss"]) for v in valid) < 0.2 * float(valid[0]["valid_loss"])


def test_generate_translates_every_test_sentence(trained):
    root, data_bin, save_dir, _ = trained
    result = run("fairseq-generate", data_bin, "--user-dir", PLUGIN, "--path", save_dir / "checkpoint_best.pt",
                 "--beam", "5", "--batch-size", "8", "--required-batch-size-multiple", "1", "--print-alignment")
    hypotheses = {}
    for line in result.stdout.splitlines():
        if line.startswith("H-"):
            index, _, text = line.split("\t")
            hypotheses[int(index[2:])] = text
    references = (root / "test.en").read_text().splitlines()
    assert sorted(hypotheses) == list(range(len(references)))  # 37: not a multiple of the batch size
    correct = sum(hypotheses[i] == ref for i, ref in enumerate(references))
    assert correct >= 0.9 * len(references)
    # --print-alignment reads the decoder's attention: one source position per target word
    alignments = [line for line in result.stdout.splitlines() if line.startswith("A-")]
    assert len(alignments) == len(references)


def test_interactive_translates_stdin(trained):
    _, data_bin, save_dir, _ = trained
    result = run("fairseq-interactive", data_bin, "--user-dir", PLUGIN, "--path", save_dir / "checkpoint_best.pt",
                 "--source-lang", "es", "--target-lang", "en", "--beam", "5",
                 stdin="a b c d\nl k j\n")
    hypotheses = [line.split("\t")[2] for line in result.stdout.splitlines() if line.startswith("H-")]
    assert hypotheses == ["A B C D", "L K J"]


def test_hub_interface_loads_and_translates(trained):
    _, data_bin, save_dir, _ = trained
    from cs224n_nmt_plugin import CS224nNMTModel

    hub = CS224nNMTModel.from_pretrained(str(save_dir), checkpoint_file="checkpoint_best.pt",
                                         data_name_or_path=str(data_bin))
    assert hub.translate(["e f g h", "b b a"], beam=5) == ["E F G H", "B B A"]
