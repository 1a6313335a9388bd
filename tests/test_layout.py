"""The package's plan, pinned: the text tools never import fairseq or torch when imported, a plain
``import cs224n_nmt_plugin`` does not load fairseq, ``--user-dir`` registers the model, and the one
command line answers for every command."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from cs224n_nmt_plugin.cli import COMMANDS

PACKAGE = REPO / "cs224n_nmt_plugin"
TEXT_MODULES = sorted(f"cs224n_nmt_plugin.text.{path.stem}" for path in (PACKAGE / "text").glob("*.py")
                      if path.stem != "__init__")
HEAVY = ("fairseq", "torch")


def imported_after(code):
    """The HEAVY modules in sys.modules after running ``code`` in a fresh interpreter."""
    check = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()[-1]


def test_the_text_package_has_the_expected_tools():
    names = {module.rsplit(".", 1)[1] for module in TEXT_MODULES}
    assert {"prepare", "translation_io", "bleu", "scores", "learning_curve", "report", "files"} <= names


@pytest.mark.parametrize("module", TEXT_MODULES)
def test_a_text_tool_imports_neither_fairseq_nor_torch(module):
    assert imported_after(f"import {module}") == "[]"


def test_importing_the_package_does_not_load_fairseq():
    assert imported_after("import cs224n_nmt_plugin, cs224n_nmt_plugin.cli") == "[]"


def test_a_text_command_runs_without_fairseq(tmp_path):
    hypotheses = tmp_path / "hyp.txt"
    hypotheses.write_text("the cat sat on the mat\n", encoding="utf-8")
    code = (f"from cs224n_nmt_plugin.cli import main\n"
            f"assert main(['bleu', {str(hypotheses)!r}, {str(hypotheses)!r}, '--corpus']) == 0")
    assert imported_after(code) == "[]"


def test_user_dir_registers_the_model_and_its_architectures():
    """What fairseq-train/-generate/-interactive do with --user-dir: import the folder as a package
    (after fairseq) and every module of its models/ folder."""
    code = (
        "import argparse\n"
        "from fairseq import utils\n"
        f"utils.import_user_module(argparse.Namespace(user_dir={str(PACKAGE)!r}))\n"
        "from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY\n"
        "print(sorted(a for a in ARCH_MODEL_REGISTRY if a.startswith('cs224n')), 'cs224n_nmt' in MODEL_REGISTRY)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path("/"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "['cs224n_lstm', 'cs224n_lstm_small', 'cs224n_lstm_tiny'] True"


def run_cli(*args, executable=None):
    command = [executable] if executable else [sys.executable, "-m", "cs224n_nmt_plugin"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_the_console_script_lists_every_command():
    script = Path(sys.executable).parent / "cs224n-nmt"
    result = run_cli("--help", executable=str(script))
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"usage: cs224n-nmt {name}")
    assert COMMANDS[name].summary in result.stdout


def test_an_unknown_command_is_a_usage_error():
    result = run_cli("translate-everything")
    assert result.returncode == 2
    assert result.stderr.startswith("cs224n-nmt: unknown command 'translate-everything'")
