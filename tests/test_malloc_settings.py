"""The pipeline's malloc settings reach every pipeline command (scripts/lib.sh), and a value
the user set wins. (Their effect on speed is measured by scripts/bench.py, not tested.)"""
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from malloc_settings import KEEP_FREED_BLOCKS, environment  # a module of scripts/


def test_pipeline_scripts_export_the_settings_and_respect_a_users_own():
    show = 'source scripts/lib.sh; use_environment; echo "$MALLOC_MMAP_THRESHOLD_ $MALLOC_TRIM_THRESHOLD_"'
    env = environment(keep_freed_blocks=False)
    exported = subprocess.run(["bash", "-c", show], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert exported.stdout.split() == [KEEP_FREED_BLOCKS["MALLOC_MMAP_THRESHOLD_"],
                                       KEEP_FREED_BLOCKS["MALLOC_TRIM_THRESHOLD_"]]
    env["MALLOC_TRIM_THRESHOLD_"] = "123"
    kept = subprocess.run(["bash", "-c", show], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert kept.stdout.split()[1] == "123"
