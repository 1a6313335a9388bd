"""The pipeline scripts end to end on a small slice of the real a4 files:
prepare -> preprocess -> train -> translate -> score, then every step skipped on a rerun."""
import json
import os
import shutil
from collections import Counter

import pytest

from conftest import A4_DATA, best_texts, run_script
from cs224n_nmt_plugin.settings import decoding_summary
from cs224n_nmt_plugin.text.bleu import a4_corpus_bleu

pytestmark = pytest.mark.slow  # every step of the pipeline, training included


def script(name, *args, env):
    """What a pipeline step printed (stdout, then stderr)."""
    result = run_script(name, *args, env=env)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    if not A4_DATA.is_dir():
        pytest.skip(f"shared data not found at {A4_DATA}")
    root = tmp_path_factory.mktemp("pipeline")
    corpus = root / "en_es_data"
    corpus.mkdir()
    for split, source in (("train", "sanity/train_sanity_check"), ("dev", "sanity/dev_sanity_check"),
                          ("test", "sanity/test_sanity_check")):
        for lang in ("es", "en"):
            shutil.copy(A4_DATA / f"{source}.{lang}", corpus / f"{split}.{lang}")
    env = {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs"),
           "RECIPE": "cpu"}
    train_args = ("--arch", "cs224n_lstm_tiny", "--max-update", "20", "--validate-interval-updates", "10",
                  "--log-interval", "5")
    logs = [script("prepare.sh", "a4s", "a4", corpus, env=env), script("preprocess.sh", "a4s", env=env),
            script("train.sh", "a4s", *train_args, env=env), script("translate.sh", "a4s", env=env),
            script("score.sh", "a4s", env=env)]
    rerun = [script("prepare.sh", "a4s", "a4", corpus, env=env), script("preprocess.sh", "a4s", env=env),
             script("train.sh", "a4s", *train_args, env=env), script("translate.sh", "a4s", env=env)]
    return root, corpus, logs, rerun


def test_every_step_writes_its_output(pipeline):
    root, corpus, _, _ = pipeline
    bin_dir, run_dir = root / "data-bin" / "a4s", root / "outputs" / "a4s"
    for name in ("dict.es.txt", "dict.en.txt", "train.es-en.es.bin", "test.es-en.en.idx", "text/prepare.json"):
        assert (bin_dir / name).is_file(), name
    for name in ("checkpoints/checkpoint_best.pt", "checkpoints/learning_curve.png", "train.log",
                 "test_outputs.txt", "scores.json"):
        assert (run_dir / name).is_file(), name


def test_translations_cover_the_test_set_in_order_and_are_scored(pipeline):
    root, corpus, logs, _ = pipeline
    run_dir = root / "outputs" / "a4s"
    outputs = (run_dir / "test_outputs.txt").read_text().splitlines()
    references = (corpus / "test.en").read_text().splitlines()
    assert len(outputs) == len(references)
    generated = best_texts((run_dir / "generate-test.txt").read_text())
    assert [generated[i].replace("<empty>", "") for i in range(len(outputs))] == outputs
    scores = json.loads((run_dir / "scores.json").read_text())["a4s test"]
    assert scores["sentences"] == len(references)
    assert scores["a4_bleu"] == round(a4_corpus_bleu(outputs, references), 2)
    assert "a4 BLEU" in logs[-1] and "a4s test" in logs[-1]


def test_the_vocabulary_follows_the_a4_rule(pipeline):
    root, corpus, _, _ = pipeline
    counts = Counter(token or "<empty>" for line in (corpus / "train.en").read_text().splitlines()
                     for token in line.strip().split(" "))
    expected = sorted(word for word, count in counts.items() if count >= 2)
    dictionary = (root / "data-bin" / "a4s" / "dict.en.txt").read_text().splitlines()
    assert sorted(line.split(" ")[0] for line in dictionary) == expected


def test_the_console_shows_no_third_party_notices_and_the_logs_keep_fairseqs_own(pipeline):
    """Hydra's deprecation notices and DEBUG lines and torch's FutureWarnings are silenced at their
    source (cs224n_nmt_plugin/notices.py); fairseq's logging goes to the step's log file."""
    root, _, logs, _ = pipeline
    console = "".join(logs)
    for notice in ("Warning", "DEBUG", "hydra", "deprecat"):
        assert notice not in console, [line for line in console.splitlines() if notice in line][:3]
    assert "| train_inner |" not in console and "[train] finished: 20/20 updates" in console  # the progress display
    assert "[translate] Translated " in console
    run_dir, bin_dir = root / "outputs" / "a4s", root / "data-bin" / "a4s"
    train_log = (run_dir / "train.log").read_text()
    assert "num. shared model params" in train_log and "| train_inner |" in train_log and "| valid |" in train_log
    assert "loading model(s) from" in (run_dir / "generate-test.log").read_text()
    assert "Wrote preprocessed data" in (bin_dir / "preprocess.log").read_text()


def test_a_rerun_skips_every_step(pipeline):
    *_, rerun = pipeline
    for log in rerun:
        assert "up to date" in log, log


def test_translate_says_which_search_decoded(pipeline):
    _, _, logs, _ = pipeline
    assert f"[translate] decoding: {decoding_summary('homework')}" in logs[3]


def test_the_searches_compared_on_the_trained_run(pipeline):
    """compare_searches.py decodes the run's test split with both searches: the homework's gives
    translate.sh's translations, and the table scores both."""
    root, _, _, _ = pipeline
    env = {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs")}
    run_script("compare_searches.py", "a4s", "--repeats", "2", env=env)
    run_dir = root / "outputs" / "a4s"
    searches = run_dir / "searches"
    assert (searches / "homework" / "test_outputs.txt").read_text() == (run_dir / "test_outputs.txt").read_text()
    table = (searches / "comparison.md").read_text()
    for search in ("homework", "fairseq"):
        assert f"| {decoding_summary(search)} |" in table
        assert len((searches / search / "test_outputs.txt").read_text().splitlines()) == 5
    assert "test sentences translated differently" in table and "2 alternating runs each" in table


def test_translate_refuses_an_unknown_search_in_one_line(pipeline):
    root, _, _, _ = pipeline
    env = {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs"),
           "SEARCH": "greedy"}
    result = run_script("translate.sh", "a4s", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "[translate] error: SEARCH must be homework or fairseq, not 'greedy'"
