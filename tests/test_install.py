"""Installing where users train: into an environment that already has its torch, from a
wheelhouse with no package index (an offline GPU node), as the README's recipe does it; and the
wheel's metadata admits the Pythons and torches it declares."""
import email
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import REPO, failure, run_script, write_copy_corpus

pytestmark = pytest.mark.slow  # fresh virtual environments, pip, install.sh
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, failure(" ".join(map(str, command[:3])), result)
    return result


def torch_files(venv):
    """The installed torch's metadata files with their modification times: a reinstall changes them."""
    site = next((venv / "lib").glob("python*/site-packages"))
    return {path.name: path.stat().st_mtime_ns for path in site.glob("torch-*.dist-info/*")}


def test_offline_install_from_a_wheelhouse_keeps_the_users_torch(user_environment, tmp_path):
    venv = user_environment
    wheelhouse = tmp_path / "wheelhouse"
    run_script("wheelhouse.sh", wheelhouse, "--python-version", PYTHON_VERSION, "--torch", torch.__version__)
    before = torch_files(venv)
    env = {**os.environ, "PYTHON": str(venv / "bin" / "python")}
    installed = run_script("install.sh", "--wheelhouse", wheelhouse, env=env)
    assert f"torch {torch.__version__} kept" in installed.stdout
    assert torch_files(venv) == before  # not reinstalled
    user_dir = installed.stdout.split("--user-dir ")[1].split()[0]
    assert Path(user_dir).parent == next((venv / "lib").glob("python*/site-packages"))  # the installed copy

    corpus = write_copy_corpus(tmp_path / "corpus", sizes=(("train", 200), ("valid", 20), ("test", 10)))
    bin_dir = venv / "bin"
    run([bin_dir / "fairseq-preprocess", "--source-lang", "es", "--target-lang", "en", "--trainpref", corpus / "train",
         "--validpref", corpus / "valid", "--destdir", tmp_path / "data-bin", "--workers", "1"])
    trained = run([bin_dir / "fairseq-train", tmp_path / "data-bin", "--user-dir", user_dir,
                   "--arch", "cs224n_lstm_tiny", "--cpu", "--optimizer", "a4_adam", "--lr", "5e-3",
                   "--batch-size", "32", "--max-update", "5",
                   "--criterion", "cross_entropy", "--save-dir", tmp_path / "checkpoints", "--no-progress-bar",
                   "--disable-validation"])
    assert "done training" in trained.stdout + trained.stderr
    assert (tmp_path / "checkpoints" / "checkpoint_last.pt").is_file()


def test_install_refuses_an_environment_without_torch(tmp_path):
    venv = tmp_path / "bare"
    run([sys.executable, "-m", "venv", venv])
    result = run_script("install.sh", env={**os.environ, "PYTHON": str(venv / "bin" / "python")}, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"[install] error: no torch in {venv}: install.sh needs Python "
                                                  "3.11 or 3.12 with torch >= 2.5 (PYTHON=...), "
                                                  "or use scripts/setup.sh"]


def test_the_wheels_metadata_declares_ranges_for_python_3_11_and_3_12(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", REPO, "-w", tmp_path])
    wheel = next(tmp_path.glob("cs224n_nmt_fairseq-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(name))
    assert metadata["Requires-Python"] == "<3.13,>=3.11"
    requires = metadata.get_all("Requires-Dist")
    assert "torch>=2.5" in requires  # a user's torch 2.11 (the H200 machine's) qualifies
    assert not any("==" in requirement.split(";")[0] for requirement in requires)  # ranges, not pins
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(next(n for n in archive.namelist() if n.endswith("entry_points.txt"))).decode()
    assert "cs224n-nmt = cs224n_nmt_plugin.cli:main" in entry_points
