"""run.sh's choice of environment. Where there is no .venv/ and the python3 at hand has a torch of
the supported range (Colab, Kaggle, a lab GPU box), the plugin goes into that environment beside
its torch, which stays as it was; USE_VENV=1 makes it the project's own .venv/ all the same."""
import os
import shutil

import pytest
import torch

from conftest import REPO, run_script
from test_install import run, torch_files

pytestmark = pytest.mark.slow  # a fresh environment, and pip installing the plugin into it


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A clone of the working tree as it is (committed or not), without .venv/ and the other ignored paths."""
    clone = tmp_path_factory.mktemp("clone")
    listed = run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    return clone


def run_sh(checkout, venv, **variables):
    """run.sh --environment-only with the environment's python3 first on the PATH, as in a notebook runtime."""
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHON", "VIRTUAL_ENV", "USE_VENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", **variables)
    return run_script("run.sh", "--environment-only", checkout=checkout, env=env, cwd=checkout, check=False)


def test_use_venv_chooses_the_projects_own_venv_over_an_environment_with_torch(user_environment, checkout):
    # PYTHON names no interpreter, so setup.sh stops at once instead of building a .venv/
    result = run_sh(checkout, user_environment, USE_VENV="1", PYTHON="/nonexistent/python3.11")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "[run] environment: the project's .venv/ (USE_VENV=1)"
    assert "setup: no python3.11 or python3.12 found" in result.stderr
    assert not list((user_environment / "lib").glob("python*/site-packages/fairseq"))


def test_run_sh_installs_the_plugin_beside_the_environments_torch_and_keeps_it(user_environment, checkout):
    before = torch_files(user_environment)
    result = run_sh(checkout, user_environment)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == (
        f"[run] environment: installing the plugin into {user_environment} (python3), keeping its torch "
        f"{torch.__version__}; USE_VENV=1 makes a .venv/ instead")
    assert f"[install] done: torch {torch.__version__} kept" in result.stdout
    assert torch_files(user_environment) == before  # not reinstalled
    assert not (checkout / ".venv").exists()
    imported = run([user_environment / "bin" / "python", "-c", "import fairseq, cs224n_nmt_plugin; "
                    "print(cs224n_nmt_plugin.__file__)"], cwd="/")
    assert imported.stdout.strip() == str(checkout / "cs224n_nmt_plugin" / "__init__.py")  # the checkout, editable
    assert (user_environment / "bin" / "cs224n-nmt").is_file()

    again = run_sh(checkout, user_environment)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines() == [
        f"[run] environment: {user_environment} (python3), where the plugin is installed"]
