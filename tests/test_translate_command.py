"""cs224n-nmt translate: raw Spanish lines in, English out, with the trained run of a corpus as
the pipeline names it (or any checkpoint), from the command line, a pipe or a terminal."""
import os
import pty
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from cs224n_nmt_plugin.translator import Translator

pytestmark = pytest.mark.slow  # each command loads a trained model

LINES = ["a b c", "l k j i", "", "f f e", "c a b d e"]


@pytest.fixture(scope="module")
def layout(copy_model, tmp_path_factory):
    """The copy-task model where the pipeline would keep the run of corpus 'copy'."""
    root = tmp_path_factory.mktemp("layout")
    (root / "data-bin").mkdir()
    (root / "data-bin" / "copy").symlink_to(copy_model.data_bin)
    (root / "outputs" / "copy").mkdir(parents=True)
    (root / "outputs" / "copy" / "checkpoints").symlink_to(copy_model.save_dir)
    return {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs")}


@pytest.fixture(scope="module")
def expected(copy_model):
    """What translator.py gives for LINES: the command decodes the same way."""
    return [t.hypotheses[0].text for t in Translator(copy_model.checkpoint, copy_model.data_bin).translate(LINES)]


def translate(*args, env, stdin=None):
    return run_cli("translate", *args, stdin=stdin, env=env, cwd="/")


def test_lines_from_a_pipe_come_out_in_order_batch_after_batch(layout, expected):
    assert expected[0] == "A B C" and expected[3] == "F F E"  # the copy task is learnt
    result = translate("copy", "--batch-lines", "2", env=layout, stdin="".join(f"{line}\n" for line in LINES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
    assert result.stderr == ""


def test_sentences_on_the_command_line_and_another_checkpoint(layout, expected, copy_model):
    result = translate("copy", LINES[0], LINES[1], env=layout)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected[:2]
    # --checkpoint: any checkpoint file, with the data-bin it was trained on
    result = translate("--checkpoint", copy_model.checkpoint, "--data-bin", copy_model.data_bin, LINES[3], env=layout)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [expected[3]]


def test_lines_typed_at_a_terminal_are_answered_one_by_one(layout, expected):
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "cs224n_nmt_plugin", "translate", "copy"], stdin=terminal,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=layout, cwd="/")
    os.close(terminal)
    os.write(controller, f"{LINES[0]}\n".encode())
    first = process.stdout.readline()  # answered before the next line is typed
    os.write(controller, f"{LINES[1]}\n".encode())
    time.sleep(0.5)
    os.write(controller, b"\x04")  # Ctrl-D
    rest, errors = process.communicate(timeout=120)
    os.close(controller)
    assert process.returncode == 0, errors
    assert [first.rstrip("\n"), *rest.splitlines()] == expected[:2]
    assert errors.count("Spanish (Ctrl-D ends)> ") == 3


def test_without_a_trained_run_or_with_empty_input_one_line_each(layout):
    missing = translate("nothing", "hola", env=layout)
    checkpoint = os.path.join(layout["OUTPUTS_ROOT"], "nothing", "checkpoints", "checkpoint_best.pt")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.splitlines() == [f"error: {checkpoint}: no trained run of corpus 'nothing' (train it with "
                                           "bash scripts/run.sh or scripts/train.sh nothing, or pass --checkpoint)"]
    empty = translate("copy", env=layout, stdin="")
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr.splitlines() == ["error: <stdin>: no lines to translate"]
    no_name = translate(env=layout, stdin="hola\n")
    assert no_name.returncode == 2
    assert no_name.stderr.splitlines()[-1].endswith("error: give the corpus NAME of a trained run, or --checkpoint")
