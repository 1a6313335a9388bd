"""scripts/gpu_check.sh --dry-run: the GPU measurement's every step, on the CPU with the tiny
model, so that the one command a lent GPU runs cannot rot."""
import json
import os

import pytest

from conftest import run_script, write_tatoeba_copy

pytestmark = pytest.mark.slow  # gpu_check.sh trains and decodes every contestant


def test_the_dry_run_writes_the_table_and_the_json(tmp_path):
    corpus = write_tatoeba_copy(tmp_path / "spa.txt", 4000)
    env = {**os.environ, "TATOEBA": str(corpus), "DATA_BIN_ROOT": str(tmp_path / "data-bin"),
           "OUTPUTS_ROOT": str(tmp_path / "outputs"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "gpu-check"
    run_script("gpu_check.sh", "--dry-run", out, env=env, timeout=600)
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["versions"]["torch"] and report["versions"]["gpu"] is None
    contestants = report["results"]
    assert set(contestants) == {"fairseq lstm, fairseq adam", "fairseq lstm, a4_adam", "cs224n_lstm, a4_adam",
                                "cs224n_lstm, our recipe"}
    most_updates = max(measured["equal_time"]["updates"] for measured in contestants.values())
    for measured in contestants.values():
        assert measured["rounds"] == 2 and measured["train_target_tokens_per_s"] > 0
        low, high = measured["train_target_tokens_per_s_range"]
        assert low <= measured["train_target_tokens_per_s"] <= high
        assert measured["equal_time"]["training_seconds"] > 20  # fairseq stops once past the budget
        assert measured["equal_updates"]["updates"] == most_updates  # the others trained on to the most
        for point in ("equal_time", "equal_updates"):
            assert measured[point]["generate_beam5_sentences_per_s"] > 0 and measured[point]["best_dev_ppl"] > 1
    names = {name for name, _, _ in report["ratios"]}
    assert names == set(report["throughput_ratios"]) == set(report["significance"]["equal_updates"])
    table = (out / "gpu_check.md").read_text()
    assert table.startswith("`bash scripts/gpu_check.sh --dry-run OUT_DIR` on: python ")
    assert "in 2 rounds of 10.0 s of training" in table
    assert "| (b) pipeline: our recipe / fairseq lstm with fairseq adam | at equal updates |" in table
    assert (out / "dev_ppl.png").read_bytes()[:4] == b"\x89PNG"
