"""settings.py is the one source of the pipeline's settings: the shell scripts read the same
values the Python tools import."""
import os
import subprocess

from fairseq.data import Dictionary

from conftest import REPO
from cs224n_nmt_plugin import settings


def shell(command, **env):
    """``command`` run by bash after sourcing scripts/lib.sh, with ``env`` added."""
    return subprocess.run(["bash", "-c", f"source scripts/lib.sh; {command}"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env})


def test_fairseqs_specials_are_those_its_dictionary_starts_with():
    assert settings.FAIRSEQ_SPECIALS == tuple(Dictionary().symbols)


def test_the_scripts_lay_a_corpus_out_where_the_python_tools_look(tmp_path, monkeypatch):
    roots = {"DATA_BIN_ROOT": str(tmp_path / "bins"), "OUTPUTS_ROOT": str(tmp_path / "runs")}
    result = shell('corpus_paths my.corpus-1; printf "%s\\n" "$BIN_DIR" "$TEXT_DIR" "$RUN_DIR" "$CHECKPOINT_DIR"',
                   **roots)
    for name, value in roots.items():
        monkeypatch.setenv(name, value)
    layout = (settings.data_bin_dir, settings.text_dir, settings.run_dir, settings.checkpoint_dir)
    assert result.stdout.splitlines() == [str(place("my.corpus-1")) for place in layout]
    assert settings.data_bin_dir("my.corpus-1") == tmp_path / "bins" / "my.corpus-1"
    assert settings.checkpoint_dir("my.corpus-1") == tmp_path / "runs" / "my.corpus-1" / "checkpoints"


def test_without_the_variables_the_corpus_lives_in_the_checkout(monkeypatch):
    monkeypatch.delenv("DATA_BIN_ROOT", raising=False)
    monkeypatch.delenv("OUTPUTS_ROOT", raising=False)
    assert settings.data_bin_dir("x") == REPO / "data-bin" / "x" and settings.run_dir("x") == REPO / "outputs" / "x"


def test_a_bad_corpus_name_is_one_line_from_the_scripts():
    result = shell("corpus_paths '../x'; echo reached")
    assert result.returncode == 1 and "reached" not in result.stdout
    assert result.stderr == "[bash] error: corpus name '../x' may only hold letters, digits, '.', '_' and '-'\n"


def test_the_scripts_read_the_decoding_and_the_vocabulary_rule():
    assert shell("settings decoding --search fairseq").stdout.split() == settings.decoding_options("fairseq")
    assert shell("settings decoding").stdout.split() == settings.decoding_options("homework")
    preprocess = shell("settings preprocess").stdout.split()
    assert preprocess == settings.preprocess_options()
    assert preprocess[preprocess.index("--nwordstgt") + 1] == str(50_000 + 4)
    assert preprocess[preprocess.index("--thresholdsrc") + 1] == "2"
