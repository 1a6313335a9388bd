"""Reliability of the pipeline scripts and of fairseq's tools with the plugin, on CPU:

* bad input: a one-line error naming the file and the problem, a non-zero exit, and the
  earlier good output left in place (prepare.sh, translate.sh, translate_file.sh);
* long, empty and unterminated lines: defined behaviour (prepare drops over-long pairs with
  a count, translate_file cuts over-long lines, every input line gets its translation);
* a SIGKILL mid-epoch, then the same command again: it resumes from checkpoint_last.pt and
  continues exactly like the uninterrupted run (same per-update losses, same final weights);
* determinism: two runs with the same seed give the same losses and the same translations;
* load: fairseq-interactive streams 10,000 lines in order with flat memory, and
  fairseq-generate translates 2,000 sentences in one batch within a stated memory bound;
* more than one process: fairseq-train under torchrun, 2 ranks with gloo, trains exactly
  like one process with --update-freq 2, and its checkpoint generates.

All on a synthetic copy task (lowercase letters -> the same letters uppercased) that
cs224n_lstm_tiny learns in seconds, so translations can be checked for correctness.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import (
    BIN,
    LETTERS,
    PLUGIN,
    REPO,
    best_texts,
    copy_sentences,
    fairseq_records,
    output_lines,
    run_script,
    run_tool,
    sources,
    write_copy_corpus,
)
from cs224n_nmt_plugin import preflight
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.models import CS224nNMTModel
from cs224n_nmt_plugin.models.nmt_model import DEFAULT_MAX_POSITIONS
from cs224n_nmt_plugin.settings import decoding_options
from cs224n_nmt_plugin.text import prepare

pytestmark = pytest.mark.slow  # the pipeline scripts and fairseq's tools, training included
NAME = "copy"
# Training with train.sh: 2000 pairs, 32 a batch -> 63 updates an epoch; checkpoints every 20.
TRAIN_ARGS = ("--arch", "cs224n_lstm_tiny", "--lr", "2e-2", "--max-epoch", "5",
              "--save-interval-updates", "20", "--log-interval", "1")
KILL_AFTER_SAVE_AT = 80  # mid-epoch 2 (updates 64-126)
GENERATE_PEAK_RSS_BOUND_MB = 1024  # fairseq-generate, 2000 sentences in one batch, beam 5 (measured 468)
INTERACTIVE_RSS_GROWTH_BOUND_MB = 48  # over 10,000 streamed lines after the first buffer (measured 5)


# ----- helpers -----------------------------------------------------------------------------


def one_thread():
    """This process's environment, fairseq's tools on one thread."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def script_env(data_bin_root, outputs_root):
    return {**one_thread(), "DATA_BIN_ROOT": str(data_bin_root), "OUTPUTS_ROOT": str(outputs_root), "RECIPE": "cpu"}


def snapshot(folder):
    """Every file under ``folder`` (hidden ones too) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])


def train_inner(log):
    """num_updates -> the train_inner record (json strings as fairseq logs them), in log order."""
    return {int(record["num_updates"]): record for record in fairseq_records(log, "train_inner")}


def epoch_ends(log):
    return {int(record["train_num_updates"]) for record in fairseq_records(log, "train")}


def model_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


# ----- fixtures: a prepared copy corpus, an uninterrupted run and a killed-and-resumed one ---


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    raw = write_copy_corpus(root / "raw")
    data_bin_root = root / "data-bin"
    env = script_env(data_bin_root, root / "outputs")
    run_script("prepare.sh", NAME, "folder", raw, env=env)
    run_script("preprocess.sh", NAME, env=env)
    return root, raw, data_bin_root


@pytest.fixture(scope="module")
def uninterrupted(corpus):
    root, _, data_bin_root = corpus
    env = script_env(data_bin_root, root / "out-a")
    run_script("train.sh", NAME, *TRAIN_ARGS, env=env)
    return env, root / "out-a" / NAME


def kill_after_save(command, env, log, updates, timeout=300):
    """Runs ``command`` in its own process group and SIGKILLs the whole group as soon as
    ``log`` reports the checkpoint save at ``updates`` updates."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    saved = re.compile(rf"Saved checkpoint .*@ {updates} updates")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if log.is_file() and saved.search(log.read_text()):
                break
            if process.poll() is not None:
                raise AssertionError(f"training ended (status {process.returncode}) before the save at {updates}")
            time.sleep(0.02)
        else:
            raise AssertionError(f"no checkpoint save at {updates} updates within {timeout}s")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def interrupted(corpus):
    """The same train.sh command as ``uninterrupted``, SIGKILLed mid-epoch 2 (train.sh, its
    progress display and fairseq-train at once), then its checkpoint_last.pt truncated as a kill
    during fairseq's copy would leave it, then the same command again: what the rerun printed, and
    what it added to train.log (fairseq's own lines go there, not to the console)."""
    root, _, data_bin_root = corpus
    env = script_env(data_bin_root, root / "out-b")
    run_dir = root / "out-b" / NAME
    checkpoints = run_dir / "checkpoints"
    kill_after_save(["bash", str(REPO / "scripts" / "train.sh"), NAME, *TRAIN_ARGS], env,
                    run_dir / "train.log", KILL_AFTER_SAVE_AT)
    after_kill = {
        "log": (run_dir / "train.log").read_text(),
        "stamp": (run_dir / ".train.stamp").exists(),
        "readable": {},
    }
    for path in sorted(checkpoints.glob("*.pt")):
        try:
            preflight.check(path, data_bin_root / NAME)
            after_kill["readable"][path.name] = True
        except InputError:
            after_kill["readable"][path.name] = False
    last = checkpoints / "checkpoint_last.pt"
    newest = max(checkpoints.glob("checkpoint_*_*.pt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    after_kill["last_is_copy_of"] = newest.name if last.read_bytes() == newest.read_bytes() else None
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    rerun = run_script("train.sh", NAME, *TRAIN_ARGS, env=env)
    rerun_log = (run_dir / "train.log").read_text()[len(after_kill["log"]):]
    return env, run_dir, after_kill, {"console": rerun.stdout, "log": rerun_log}


# ----- bad input through prepare.sh ----------------------------------------------------------


def missing_data_folder(raw):
    shutil.rmtree(raw)
    return raw.name, "no such file or folder"


def missing_file(raw):
    (raw / "valid.en").unlink()
    return "valid.en", "missing"


def unequal_line_counts(raw):
    lines = (raw / "train.en").read_text().splitlines()
    (raw / "train.en").write_text("".join(f"{line}\n" for line in lines[:-3]))
    return "train.es", f"has {len(lines)} lines but"


def not_utf8(raw):
    (raw / "test.es").write_bytes((raw / "test.es").read_bytes() + b"ni\xf1os\n")
    (raw / "test.en").write_bytes((raw / "test.en").read_bytes() + b"CHILDREN\n")
    return "test.es", "is not UTF-8"


@pytest.mark.parametrize("break_input", [missing_data_folder, missing_file, unequal_line_counts, not_utf8])
def test_prepare_script_rejects_bad_input_and_keeps_the_good_output(tmp_path, break_input):
    good = write_copy_corpus(tmp_path / "good", seed=1)
    raw = tmp_path / "raw"
    shutil.copytree(good, raw)
    env = script_env(tmp_path / "data-bin", tmp_path / "outputs")
    run_script("prepare.sh", "c", "folder", raw, env=env)
    text_dir = tmp_path / "data-bin" / "c" / "text"
    before = snapshot(text_dir)

    file_name, problem = break_input(raw)
    for _ in range(2):  # a failed run is never taken for a finished one: the rerun fails too
        result = run_script("prepare.sh", "c", "folder", raw, env=env, check=False)
        assert_one_line_error(result, file_name, problem)
        assert snapshot(text_dir) == before  # outputs, prepare.json and the step's stamp untouched

    shutil.rmtree(raw, ignore_errors=True)
    shutil.copytree(good, raw, copy_function=shutil.copy)  # fixed (files newer than the stamp)
    rerun = run_script("prepare.sh", "c", "folder", raw, env=env)
    assert "up to date" not in rerun.stdout
    assert snapshot(text_dir) == before


def test_prepare_drops_empty_and_overlong_pairs_with_counts(tmp_path):
    """Over-long: a side of more than MAX_TOKENS tokens, which with fairseq's </s> would
    exceed the model's positions; the limit itself (MAX_TOKENS tokens) is kept."""
    assert prepare.MAX_TOKENS + 1 == DEFAULT_MAX_POSITIONS
    raw = write_copy_corpus(tmp_path / "raw", seed=2)
    longest = " ".join(["a"] * prepare.MAX_TOKENS)
    too_long = " ".join(["b"] * (prepare.MAX_TOKENS + 1))
    extra = {"train": [(longest, longest.upper()), ("", "EMPTY"), ("c d", too_long.upper())],
             "test": [(too_long, "B"), ("e f", "E F")]}
    for split, pairs in extra.items():
        for lang, side in (("es", 0), ("en", 1)):
            with open(raw / f"{split}.{lang}", "a") as stream:
                stream.writelines(pair[side] + "\n" for pair in pairs)
    env = script_env(tmp_path / "data-bin", tmp_path / "outputs")
    result = run_script("prepare.sh", "c", "folder", raw, env=env)
    assert f"dropped pairs with a side over {prepare.MAX_TOKENS} tokens: train 1, valid 0, test 1" in result.stdout
    assert "dropped pairs with an empty side: train 1, valid 0, test 0" in result.stdout
    text_dir = tmp_path / "data-bin" / "c" / "text"
    record = json.loads((text_dir / "prepare.json").read_text())
    assert record["max_tokens"] == prepare.MAX_TOKENS
    assert record["dropped_long_pairs"] == {"train": 1, "valid": 0, "test": 1}
    assert record["sizes"] == {"train": 2001, "valid": 100, "test": 38}
    train_es = (text_dir / "train.es").read_text().splitlines()
    assert train_es[-1] == longest and len(train_es) == 2001
    test_es, test_ref = ((text_dir / name).read_text().splitlines() for name in ("test.es", "ref.test.en"))
    assert len(test_es) == len(test_ref) == 38 and (test_es[-1], test_ref[-1]) == ("e f", "E F")


# ----- translating: empty, long and unterminated lines; bad input; bad checkpoints ----------


def test_translate_file_translates_every_line_in_order(uninterrupted, tmp_path):
    env, _ = uninterrupted
    source = tmp_path / "input.es"
    long_line = " ".join(["a"] * 1500)
    source.write_text(f"a b c\n\n{long_line}\ng h i j")  # an empty line; no newline at the end
    output = tmp_path / "out.txt"
    result = run_script("translate_file.sh", NAME, source, output, env=env)
    assert f"1 line(s) of more than {prepare.MAX_TOKENS} tokens cut to their first {prepare.MAX_TOKENS} (line 3)" \
        in result.stderr
    lines = output.read_text().split("\n")
    assert len(lines) == 5 and lines[4] == ""  # four lines, each ended by \n
    assert lines[0] == "A B C" and lines[3] == "G H I J"
    assert set(lines[2].split()) <= {"A"}  # the long line's translation, stopped at the 70-step limit

    empty = tmp_path / "empty.es"
    empty.write_text("")
    run_script("translate_file.sh", NAME, empty, output, env=env)
    assert output.read_text() == ""


def test_interactive_translates_an_empty_line_and_an_unterminated_last_line(uninterrupted, corpus):
    """fairseq-interactive itself (typed input): an empty line is translated as an empty
    source (just </s>); the last line needs no newline. (An empty stream: see above.)"""
    _, run_dir = uninterrupted
    result = run_tool("fairseq-interactive", corpus[2] / NAME, "--user-dir", PLUGIN,
                      "--path", run_dir / "checkpoints" / "checkpoint_best.pt", "--source-lang", "es",
                      "--target-lang", "en", "--beam", "5", "--cpu", stdin="a b c\n\nd e f", env=one_thread())
    found = best_texts(result.stdout)
    assert sorted(found) == [0, 1, 2] and found[0] == "A B C" and found[2] == "D E F"
    assert "S-1\t\n" in result.stdout


@pytest.mark.parametrize("case", ["missing", "not_utf8"])
def test_translate_file_rejects_bad_input(uninterrupted, tmp_path, case):
    env, _ = uninterrupted
    source = tmp_path / "input.es"
    if case == "not_utf8":
        source.write_bytes(b"a b\nni\xf1os\n")
    output = tmp_path / "out.txt"
    output.write_text("an earlier good translation\n")
    result = run_script("translate_file.sh", NAME, source, output, env=env, check=False)
    assert_one_line_error(result, source, "no such file" if case == "missing" else "is not UTF-8")
    assert output.read_text() == "an earlier good translation\n"


def truncated(checkpoint, tmp):
    checkpoint.write_bytes(checkpoint.read_bytes()[:50_000])
    return checkpoint, "truncated or damaged"


def missing(checkpoint, tmp):
    checkpoint.unlink()
    return checkpoint, "no such checkpoint file"


def other_architecture(checkpoint, tmp):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["cfg"]["model"].arch = state["cfg"]["model"]._name = "transformer"
    torch.save(state, checkpoint)
    return checkpoint, "--arch transformer, not of this plugin's cs224n_lstm"


def not_fairseq(checkpoint, tmp):
    model = model_state(checkpoint)
    torch.save({"args": {"embed_size": 32}, "state_dict": model}, checkpoint)  # like the starter's model.bin
    return checkpoint, "is not a fairseq checkpoint"


def other_dictionaries(checkpoint, tmp):
    """A data-bin whose source dictionary has two more words than the model's."""
    dictionary = Path(tmp["data_bin"]) / "dict.es.txt"
    dictionary.write_text(dictionary.read_text() + "m 5\nn 5\n")
    return checkpoint, f"{dictionary} has"


@pytest.mark.parametrize("spoil", [missing, truncated, other_architecture, not_fairseq, other_dictionaries])
def test_translate_file_checks_the_checkpoint_and_data_bin(uninterrupted, corpus, tmp_path, spoil):
    """Each on a copy of the trained corpus's layout, so the real one stays good."""
    _, run_dir = uninterrupted
    data_bin = tmp_path / "data-bin" / NAME
    shutil.copytree(corpus[2] / NAME, data_bin)
    run_copy = tmp_path / "outputs" / NAME
    (run_copy / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / ".train.stamp", run_copy / ".train.stamp")
    checkpoint = run_copy / "checkpoints" / "checkpoint_best.pt"
    shutil.copy(run_dir / "checkpoints" / "checkpoint_best.pt", checkpoint)
    named, problem = spoil(checkpoint, {"data_bin": data_bin})

    source, output = tmp_path / "input.es", tmp_path / "out.txt"
    source.write_text("a b c\n")
    output.write_text("an earlier good translation\n")
    env = script_env(tmp_path / "data-bin", tmp_path / "outputs")
    result = run_script("translate_file.sh", NAME, source, output, env=env, check=False)
    assert_one_line_error(result, named, problem)
    assert output.read_text() == "an earlier good translation\n"


def test_translate_script_checks_the_checkpoint_and_keeps_earlier_outputs(uninterrupted, corpus, tmp_path):
    _, run_dir = uninterrupted
    run_copy = tmp_path / "outputs" / NAME
    (run_copy / "checkpoints").mkdir(parents=True)
    checkpoint = run_copy / "checkpoints" / "checkpoint_best.pt"
    checkpoint.write_bytes((run_dir / "checkpoints" / "checkpoint_best.pt").read_bytes()[:100_000])
    (run_copy / "test_outputs.txt").write_text("an earlier good translation\n")
    shutil.copy(run_dir / ".train.stamp", run_copy / ".train.stamp")
    env = script_env(corpus[2], tmp_path / "outputs")
    result = run_script("translate.sh", NAME, env=env, check=False)
    assert_one_line_error(result, checkpoint, "truncated or damaged")
    assert (run_copy / "test_outputs.txt").read_text() == "an earlier good translation\n"
    assert not (run_copy / ".translate.stamp").exists()
    assert sorted(p.name for p in run_copy.iterdir()) == [".train.stamp", "checkpoints", "test_outputs.txt"]


def test_forgetting_user_dir_fails_with_the_documented_symptom(uninterrupted, corpus):
    """README: without --user-dir fairseq cannot unpickle the checkpoint's argparse.Namespace
    (the plugin registers it as safe) and, past that, would not know --arch cs224n_lstm*."""
    _, run_dir = uninterrupted
    result = run_tool("fairseq-generate", corpus[2] / NAME, "--path", run_dir / "checkpoints" / "checkpoint_best.pt",
                      "--beam", "2", "--cpu", env=one_thread(), check=False)
    assert result.returncode != 0 and best_texts(result.stdout) == {}
    assert "Unsupported global" in result.stderr and "argparse.Namespace" in result.stderr


# ----- interruption and resumption; determinism ----------------------------------------------


def uninterrupted_log(uninterrupted):
    return (uninterrupted[1] / "train.log").read_text()


def test_a_kill_mid_epoch_leaves_readable_checkpoints_and_no_finished_stamp(interrupted, uninterrupted):
    _, _, after_kill, _ = interrupted
    assert not after_kill["stamp"]
    assert after_kill["readable"] and all(after_kill["readable"].values()), after_kill["readable"]
    assert "checkpoint_last.pt" in after_kill["readable"]
    assert after_kill["last_is_copy_of"] == f"checkpoint_2_{KILL_AFTER_SAVE_AT}.pt"
    # the kill came before the end of epoch 2
    assert max(train_inner(after_kill["log"])) < sorted(epoch_ends(uninterrupted_log(uninterrupted)))[1]


def test_rerun_resumes_mid_epoch_and_continues_exactly_like_the_uninterrupted_run(interrupted, uninterrupted):
    _, run_dir, after_kill, rerun = interrupted
    # checkpoint_last.pt, truncated as by a kill during fairseq's copy, was replaced by an
    # intact checkpoint of the same save (checkpoint_2_80.pt or checkpoint_best.pt)
    assert re.search(rf"checkpoint_last\.pt was damaged .*: replaced by \S+ \({KILL_AFTER_SAVE_AT} updates\)",
                     rerun["console"])
    assert "resuming from" in rerun["console"]
    loaded = re.search(r"Loaded checkpoint \S+checkpoint_last\.pt \(epoch (\d+) @ (\d+) updates\)", rerun["log"])
    assert loaded and (int(loaded[1]), int(loaded[2])) == (2, KILL_AFTER_SAVE_AT)
    reference_log = uninterrupted_log(uninterrupted)
    assert KILL_AFTER_SAVE_AT not in epoch_ends(reference_log)  # mid-epoch

    reference, resumed = train_inner(reference_log), train_inner(rerun["log"])
    assert sorted(resumed) == [u for u in sorted(reference) if u > KILL_AFTER_SAVE_AT]
    for update, record in resumed.items():
        assert {k: record[k] for k in ("epoch", "loss", "gnorm", "lr")} == \
            {k: reference[update][k] for k in ("epoch", "loss", "gnorm", "lr")}, update
    final, reference_final = model_state(run_dir / "checkpoints" / "checkpoint_last.pt"), \
        model_state(uninterrupted[1] / "checkpoints" / "checkpoint_last.pt")
    assert final.keys() == reference_final.keys()
    assert all(torch.equal(final[name], reference_final[name]) for name in final)
    assert (run_dir / ".train.stamp").is_file()


def test_resume_preflight_replaces_only_a_damaged_checkpoint_last(uninterrupted, corpus, tmp_path):
    """train.sh's check before resuming (cs224n_nmt_plugin/preflight.py resume), case by case."""
    _, run_dir = uninterrupted
    data_bin, save_dir = corpus[2] / NAME, tmp_path / "checkpoints"
    save_dir.mkdir()
    assert preflight.resume(save_dir, data_bin) is None  # nothing to resume from: a fresh start
    good = (run_dir / "checkpoints" / "checkpoint_last.pt").read_bytes()
    last = save_dir / "checkpoint_last.pt"
    last.write_bytes(good)
    assert preflight.resume(save_dir, data_bin) is None and last.read_bytes() == good  # intact: kept

    last.write_bytes(good[: len(good) // 3])
    with pytest.raises(InputError, match="truncated or damaged.*no other checkpoint .* remove it"):
        preflight.resume(save_dir, data_bin)
    state = torch.load(run_dir / "checkpoints" / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    for updates in (40, 60):  # two intact checkpoints of different ages, and a truncated one
        state["optimizer_history"][-1]["num_updates"] = updates
        torch.save(state, save_dir / f"checkpoint_1_{updates}.pt")
    (save_dir / "checkpoint_2_80.pt").write_bytes(good[:1000])
    note = preflight.resume(save_dir, data_bin)
    assert "replaced by checkpoint_1_60.pt (60 updates)" in note
    assert last.read_bytes() == (save_dir / "checkpoint_1_60.pt").read_bytes()

    other_bin = tmp_path / "other-bin"  # the corpus preprocessed again with a bigger vocabulary
    shutil.copytree(data_bin, other_bin)
    (other_bin / "dict.en.txt").write_text((other_bin / "dict.en.txt").read_text() + "M 9\n")
    entries = len(LETTERS) + 4  # the words and fairseq's 4 specials
    with pytest.raises(InputError,
                       match=f"{entries}-entry en dictionary but .*dict.en.txt has {entries + 1} entries"):
        preflight.resume(save_dir, other_bin)


def test_same_seed_gives_the_same_losses_and_translations(interrupted, uninterrupted, corpus):
    """Two processes from scratch with the same command: the killed run's updates before the
    kill equal the uninterrupted run's; and both final models translate the test set alike."""
    _, run_dir, after_kill, _ = interrupted
    reference, first = train_inner(uninterrupted_log(uninterrupted)), train_inner(after_kill["log"])
    assert len(first) >= KILL_AFTER_SAVE_AT
    assert all(first[u]["loss"] == reference[u]["loss"] and first[u]["gnorm"] == reference[u]["gnorm"]
               for u in first)

    sources = (corpus[1] / "test.es").read_text().splitlines()
    translations = []
    for directory in (uninterrupted[1], run_dir):
        hub = CS224nNMTModel.from_pretrained(str(directory / "checkpoints"), checkpoint_file="checkpoint_best.pt",
                                             data_name_or_path=str(corpus[2] / NAME))
        translations.append(hub.translate(sources, beam=5))
    assert translations[0] == translations[1]
    correct = sum(t == s.upper() for t, s in zip(translations[0], sources))
    assert correct >= 0.9 * len(sources)  # a trained model: the comparison is of real translations


# ----- load -----------------------------------------------------------------------------------


def rss_mb(pid):
    """The resident memory of process ``pid`` (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def test_interactive_streams_10000_lines_in_order_with_flat_memory(uninterrupted, corpus):
    """translate_file.sh's settings (its decoding, --buffer-size 2048, --batch-size 64) on a stdin
    stream: the first buffer is translated before the rest of the stream is written, and
    memory after the first buffer stays within INTERACTIVE_RSS_GROWTH_BOUND_MB."""
    _, run_dir = uninterrupted
    rng = random.Random(7)
    lines = copy_sentences(rng, 10_000)
    buffer_size = 2048
    command = [str(BIN / "fairseq-interactive"), str(corpus[2] / NAME), "--user-dir", PLUGIN,
               "--path", str(run_dir / "checkpoints" / "checkpoint_best.pt"), "--source-lang", "es",
               "--target-lang", "en", "--cpu", *decoding_options(), "--buffer-size", str(buffer_size),
               "--batch-size", "64"]
    env = {**one_thread(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    output, seen = [], {"hypotheses": 0}
    first_buffer_done = threading.Event()

    def read():
        for line in process.stdout:
            output.append(line)
            if line.startswith("H-"):
                seen["hypotheses"] += 1
                if seen["hypotheses"] == buffer_size:
                    first_buffer_done.set()

    reader = threading.Thread(target=read)
    reader.start()
    samples = []  # (hypotheses so far, RSS MB)
    try:
        process.stdin.write("".join(s + "\n" for s in lines[:buffer_size]))
        process.stdin.flush()
        deadline = time.monotonic() + 300
        while not first_buffer_done.wait(0.25):  # the stream is still open
            assert process.poll() is None, "fairseq-interactive ended early"
            assert time.monotonic() < deadline, "the first buffer was not translated before the stream ended"
            samples.append((seen["hypotheses"], rss_mb(process.pid)))
        writer = threading.Thread(target=lambda: (process.stdin.write("".join(s + "\n" for s in lines[buffer_size:])),
                                                  process.stdin.close()))
        writer.start()
        while process.poll() is None:
            samples.append((seen["hypotheses"], rss_mb(process.pid)))
            time.sleep(0.25)
        writer.join()
    finally:
        if process.poll() is None:
            process.kill()
        reader.join()
    assert process.returncode == 0

    text = "".join(output)
    assert sources(text) == dict(enumerate(lines))
    printed = output_lines(text, "H")  # every line once, printed in input order
    assert list(printed) == list(range(len(lines))) and all(len(h) == 1 for h in printed.values())
    found = best_texts(text)
    assert sum(found[i] == s.upper() for i, s in enumerate(lines)) >= 0.9 * len(lines)

    after_first = [rss for count, rss in samples if count >= buffer_size and rss > 0]
    assert len(after_first) >= 3, samples
    assert max(after_first) - after_first[0] <= INTERACTIVE_RSS_GROWTH_BOUND_MB, samples


def test_generate_translates_2000_sentences_in_one_batch_within_the_memory_bound(uninterrupted, corpus):
    _, run_dir = uninterrupted
    command = [str(BIN / "fairseq-generate"), str(corpus[2] / NAME), "--user-dir", PLUGIN,
               "--path", str(run_dir / "checkpoints" / "checkpoint_best.pt"), "--gen-subset", "train", "--cpu",
               *decoding_options(), "--batch-size", "2000", "--required-batch-size-multiple", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=one_thread())
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    peak_mb = usage.ru_maxrss / 1024
    found = best_texts(stdout)
    lines = (corpus[1] / "train.es").read_text().splitlines()
    assert sorted(found) == list(range(len(lines)))
    assert sum(found[i] == s.upper() for i, s in enumerate(lines)) >= 0.9 * len(lines)
    assert peak_mb <= GENERATE_PEAK_RSS_BOUND_MB, peak_mb


# ----- more than one process: fairseq's distributed data parallel on CPU ----------------------


def test_two_gloo_processes_train_like_one_process_with_update_freq_2(corpus, tmp_path):
    """fairseq-train unchanged, one process per rank under torchrun, gloo, legacy_ddp: rank r
    takes batches r, r+2, ... and the gradients are summed across ranks, which is what one
    process does with --update-freq 2 over consecutive batches. Without dropout (whose masks
    come from each process's own RNG) the two runs are the same computation: the per-update
    losses and gradient norms and the final weights agree; the checkpoint generates."""
    data_bin = corpus[2] / NAME
    train_args = [str(data_bin), "--user-dir", PLUGIN, "--arch", "cs224n_lstm_tiny", "--dropout", "0", "--cpu",
                  "--optimizer", "a4_adam", "--lr", "1e-2", "--clip-norm", "5", "--batch-size", "32",
                  "--criterion", "cross_entropy", "--sentence-avg", "--seed", "0", "--max-update", "12",
                  "--disable-validation", "--no-epoch-checkpoints", "--no-progress-bar", "--log-format", "json",
                  "--log-interval", "1"]
    env = one_thread()
    per_rank = ('exec "$@" --distributed-world-size "$WORLD_SIZE" --distributed-rank "$RANK" '
                "--distributed-init-method env:// --distributed-no-spawn --distributed-backend gloo "
                "--ddp-backend legacy_ddp")
    ddp = subprocess.run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "--no-python",
                          "bash", "-c", per_rank, "bash", str(BIN / "fairseq-train"), *train_args,
                          "--save-dir", str(tmp_path / "ddp")], capture_output=True, text=True, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "distributed init (rank 1)" in ddp.stdout + ddp.stderr
    single = run_tool("fairseq-train", *train_args, "--update-freq", "2", "--save-dir", tmp_path / "single", env=env)

    two, one = train_inner(ddp.stdout + ddp.stderr), train_inner(single.stdout + single.stderr)
    assert sorted(two) == sorted(one) == list(range(1, 13))
    for update in one:
        assert {k: two[update][k] for k in ("loss", "gnorm", "bsz")} == \
            {k: one[update][k] for k in ("loss", "gnorm", "bsz")}, update
        assert one[update]["bsz"] == "64"  # two batches of 32 per update
    a, b = model_state(tmp_path / "ddp" / "checkpoint_last.pt"), model_state(tmp_path / "single" / "checkpoint_last.pt")
    assert max((a[name] - b[name]).abs().max().item() for name in a) <= 1e-6

    generated = run_tool("fairseq-generate", data_bin, "--user-dir", PLUGIN,
                         "--path", tmp_path / "ddp" / "checkpoint_last.pt", "--cpu", "--beam", "5", "--max-len-b", "70",
                         "--batch-size", "64", "--required-batch-size-multiple", "1", env=env)
    assert sorted(best_texts(generated.stdout)) == list(range(37))
