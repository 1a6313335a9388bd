"""The translation server (cs224n-nmt serve) against the copy-task model of conftest.copy_model,
laid out as the pipeline lays out a run: its API and every field of an answer, bad input, the
batching queue, a bounded load test (8 clients, 500 requests, each answer equal to what
scripts/translate_file.sh gives for its line, memory flat), and the page in headless Chromium
where Chromium is installed."""
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import torch

from conftest import (
    CHROMIUM,
    LETTERS,
    REPO,
    copy_sentences,
    free_port,
    needs_chromium,
    run_cli,
    run_script,
    write_lines,
)
from cs224n_nmt_plugin.serve.batching import BatchingQueue
from cs224n_nmt_plugin.settings import decoding_arguments
from cs224n_nmt_plugin.text.bleu import sentence_bleu, tokenize

sys.path.insert(0, str(REPO / "scripts"))
import load_test  # a script of scripts/

NAME = "copy"
# Every test but the batching queue's runs the server over the trained copy_model: each is marked slow.
LOAD_RSS_GROWTH_BOUND_MB = 64  # over the 500 requests after the first 50 (measured: see the README)


@pytest.fixture(scope="module")
def run_layout(copy_model, tmp_path_factory):
    """The copy model as scripts/train.sh leaves a run: data-bin/NAME (with text/prepare.json) and
    outputs/NAME/checkpoints."""
    root = tmp_path_factory.mktemp("serve")
    data_bin = root / "data-bin" / NAME
    shutil.copytree(copy_model.data_bin, data_bin)
    (data_bin / "text").mkdir()
    (data_bin / "text" / "prepare.json").write_text(json.dumps({"recipe": "word"}))
    run_dir = root / "outputs" / NAME
    (run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(copy_model.checkpoint, run_dir / "checkpoints" / "checkpoint_best.pt")
    (run_dir / ".train.stamp").write_text("test\n")
    env = {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs"),
           "OMP_NUM_THREADS": "1"}
    return root, run_dir / "checkpoints", env


@pytest.fixture(scope="module")
def server(run_layout):
    _, checkpoints, env = run_layout
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cs224n_nmt_plugin", "serve", str(checkpoints),
                                "--port", str(port), "--max-lines", "8"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd="/")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
    yield url, process
    process.terminate()
    process.wait(timeout=30)


def request(url, path, body=None, raw=None):
    """(status, decoded JSON) of GET path, or of POST path with a JSON body (or raw bytes)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}{path}", data=data), timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ----- the API ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_health_and_info(server, copy_model):
    url, _ = server
    assert request(url, "/health") == (200, {"status": "ok"})
    status, info = request(url, "/info")
    assert status == 200
    assert info["model"]["arch"] == "cs224n_lstm_tiny" and info["model"]["hidden_size"] == 32
    assert info["model"]["attention"] == "multiplicative" and info["recipe"] == "word"
    assert info["dictionaries"] == {"es": len(LETTERS) + 4, "en": len(LETTERS) + 4}
    assert info["device"] == "cpu" and info["limits"]["lines_per_request"] == 8
    assert info["decoding"]["search"] == "homework"
    assert info["data_bin"].endswith(f"data-bin/{NAME}")  # found as the pipeline lays it out


@pytest.mark.slow
def test_translate_answers_every_field(server):
    url, _ = server
    status, answer = request(url, "/translate", {"lines": ["a b c d", "k zz l"], "references": ["A B C D", "K L L"],
                                                  "nbest": 3})
    assert status == 200 and answer["warnings"] == []
    first, second = answer["translations"]
    assert first["source"] == "a b c d" and first["translation"] == "A B C D"
    assert first["source_tokens"] == ["a", "b", "c", "d", "</s>"]
    assert first["target_tokens"] == ["A", "B", "C", "D", "</s>"]
    assert first["unknown_source_tokens"] == [] and second["unknown_source_tokens"] == ["zz"]
    for entry in (first, second):
        scores = [h["score"] for h in entry["nbest"]]
        assert len(entry["nbest"]) == 3 and scores == sorted(scores, reverse=True)
        assert len({h["translation"] for h in entry["nbest"]}) == 3
        assert entry["nbest"][0]["translation"] == entry["translation"]
        attention = torch.tensor(entry["attention"])
        assert attention.shape == (len(entry["target_tokens"]), len(entry["source_tokens"]))
        assert torch.allclose(attention.sum(dim=1), torch.ones(attention.size(0)), atol=1e-3)
        expected = sentence_bleu(tokenize(entry["translation"]), [tokenize(["A B C D", "K L L"][entry is second])])
        assert entry["sentence_bleu"]["bleu"] == round(expected.bleu, 4)
        assert entry["sentence_bleu"]["precisions"] == [round(p, 4) for p in expected.precisions]
    assert "sentence_bleu" not in request(url, "/translate", {"lines": ["a b"]})[1]["translations"][0]


@pytest.mark.slow
def test_scores_are_the_summed_log_probabilities_of_the_hypotheses(server, copy_model):
    from cs224n_nmt_plugin import CS224nNMTModel

    url, _ = server
    _, answer = request(url, "/translate", {"lines": ["e f g", "b b a"], "nbest": 2})
    hub = CS224nNMTModel.from_pretrained(str(copy_model.save_dir), checkpoint_file="checkpoint_best.pt",
                                         data_name_or_path=str(copy_model.data_bin))
    results = hub.generate([hub.encode("e f g"), hub.encode("b b a")], **decoding_arguments())
    for entry, hypotheses in zip(answer["translations"], results):
        assert [h["translation"] for h in entry["nbest"]] == [hub.string(h["tokens"]) for h in hypotheses[:2]]
        assert [h["score"] for h in entry["nbest"]] == [pytest.approx(float(h["score"]), abs=1e-4)
                                                        for h in hypotheses[:2]]
        assert float(hypotheses[0]["positional_scores"].sum()) == pytest.approx(entry["nbest"][0]["score"], abs=1e-3)


@pytest.mark.slow
def test_the_page_is_served_and_self_contained(server):
    url, _ = server
    with urllib.request.urlopen(f"{url}/", timeout=30) as response:
        page = response.read().decode("utf-8")
    assert response.headers["content-type"].startswith("text/html")
    assert "<canvas" not in page and 'fetch("translate"' in page  # drawn from the API's answer
    assert "http://" not in page and "https://" not in page and "<link" not in page  # nothing from elsewhere


# ----- bad input ---------------------------------------------------------------------------------

BAD_REQUESTS = {
    "empty line": ({"lines": ["a b", "  "]}, None, 400, "line 2 is empty"),
    "invalid JSON": (None, b'{"lines": ["a b"', 400, "the request body is not JSON"),
    "not an object": (["a b"], None, 400, 'a JSON object with "lines"'),
    "lines not strings": ({"lines": ["a", 3]}, None, 400, '"lines" must be a list of strings'),
    "no lines": ({"lines": []}, None, 400, '"lines" is empty'),
    "unknown field": ({"lines": ["a"], "beam": 2}, None, 400, "unknown field 'beam'"),
    "bad nbest": ({"lines": ["a"], "nbest": 9}, None, 400, '"nbest" must be a whole number from 1 to 5'),
    "references unequal": ({"lines": ["a", "b"], "references": ["A"]}, None, 400, '"references" has 1 entries for 2'),
    "too many lines": ({"lines": ["a"] * 9}, None, 413, "9 lines in one request; at most 8"),
    "not UTF-8": (None, b'{"lines": ["ni\xf1os"]}', 400, "not UTF-8 (byte 0xf1 at offset 14)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_input_is_a_4xx_with_a_one_line_error_and_the_server_keeps_serving(server, case):
    url, _ = server
    body, raw, expected_status, message = BAD_REQUESTS[case]
    status, answer = request(url, "/translate", body, raw=raw)
    assert status == expected_status and set(answer) == {"error"}
    assert message in answer["error"] and "\n" not in answer["error"]
    assert request(url, "/translate", {"lines": ["a b c"]})[1]["translations"][0]["translation"] == "A B C"


@pytest.mark.slow
def test_wrong_routes_and_methods_are_json_errors(server):
    url, _ = server
    assert request(url, "/nowhere") == (404, {"error": "GET /nowhere: Not Found"})
    status, answer = request(url, "/health", {"lines": ["a"]})
    assert status == 405 and "POST /health" in answer["error"]


@pytest.mark.slow
def test_a_line_over_the_models_limit_is_cut_with_a_warning(server):
    url, _ = server
    status, answer = request(url, "/translate", {"lines": ["a b", " ".join(["c"] * 1100)]})
    assert status == 200
    assert answer["warnings"] == ["line 2 has more than 1023 tokens: cut to its first 1023"]
    long = answer["translations"][1]
    assert len(long["source_tokens"]) == 1024 and set(long["translation"].split()) <= {"C"}


@pytest.mark.slow
def test_a_model_that_does_not_load_stops_start_up_with_one_line(run_layout, tmp_path):
    _, checkpoints, env = run_layout
    broken = tmp_path / "checkpoints"
    broken.mkdir()
    (broken / "checkpoint_best.pt").write_bytes((checkpoints / "checkpoint_best.pt").read_bytes()[:5000])
    result = run_cli("serve", broken, "--data-bin", checkpoints.parents[2] / "data-bin" / NAME, "--port", free_port(),
                     env=env, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "checkpoint_best.pt: is truncated or damaged" in lines[0]


# ----- batching ----------------------------------------------------------------------------------


def test_the_queue_batches_concurrent_requests_and_answers_each_its_own_lines():
    calls = []

    def translate(lines, nbest):
        calls.append(len(lines))
        time.sleep(0.05)  # the model's time: requests pile up meanwhile
        return [f"{line}/{nbest}" for line in lines]

    async def clients():
        queue = BatchingQueue(translate, max_lines=16, max_wait=0.02)
        await queue.start()
        requests = [[f"r{i}l{j}" for j in range(1 + i % 3)] for i in range(30)]
        answers = await asyncio.gather(*(queue.submit(lines, nbest=1 + i % 2) for i, lines in enumerate(requests)))
        await queue.stop()
        return requests, answers, queue.batches

    requests, answers, batches = asyncio.run(clients())
    assert [[answer.split("/")[0] for answer in batch] for batch in answers] == requests
    assert batches == len(calls) < len(requests) and max(calls) <= 16 + 2  # a batch closes once it has 16 lines


@pytest.mark.slow
def test_concurrent_requests_get_what_one_at_a_time_gets(server):
    url, _ = server
    rng = random.Random(3)
    lines = copy_sentences(rng, 24)
    alone = [request(url, "/translate", {"lines": [line], "nbest": 2})[1]["translations"][0] for line in lines]
    result = load_test.run_load(url, lines, clients=8, requests=24)
    together = {i: t for answer in result["translations"] for i, t in answer.items()}
    assert [together[i] for i in range(len(lines))] == [entry["translation"] for entry in alone]


# ----- load ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_eight_clients_and_500_requests_get_every_translation_as_translate_file_gives_it(server, run_layout, tmp_path):
    url, process = server
    _, _, env = run_layout
    rng = random.Random(11)
    lines = copy_sentences(rng, 100)
    source = write_lines(tmp_path / "load.es", lines)
    run_script("translate_file.sh", NAME, source, tmp_path / "load.en", env=env, timeout=300)
    expected = (tmp_path / "load.en").read_text(encoding="utf-8").splitlines()

    result = load_test.run_load(url, lines, clients=8, requests=500, pid=process.pid)
    assert len(result["translations"]) == 500 and result["seconds"] < 300
    assert all(translation == expected[i] for answer in result["translations"] for i, translation in answer.items())
    after_warm_up = [mb for done, mb in result["rss_mb"] if done >= 50]
    assert len(after_warm_up) >= 3
    assert max(after_warm_up) - after_warm_up[0] <= LOAD_RSS_GROWTH_BOUND_MB, result["rss_mb"]
    print(load_test.summary(result))


# ----- the page in headless Chromium -----------------------------------------------------------

@needs_chromium
def test_the_page_translates_and_draws_the_heatmap_in_chromium(server, tmp_path):
    """The page's ?text= fills the box and presses Translate, as typing would; after its script
    ran, the translation, the marked unknown word and a drawn heatmap are in the page."""
    url, _ = server
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000"]
    query = "text=a%20b%20zz%0Ad%20e%20f&reference=A%20B%0AD%20E%20F"
    page = subprocess.run([CHROMIUM, *flags, "--dump-dom", f"{url}/?{query}"], capture_output=True, text=True,
                          timeout=120).stdout
    assert 'data-done="true">translated 2 line(s)' in page
    assert '<p class="translation">D E F</p>' in page
    assert ">zz</mark>" in page
    assert "sentence BLEU 0.0 (precisions 1.000 1.000 1.000 0.000" in page  # 3 words: no 4-gram
    assert page.count('data-drawn="true"') == 2 and 'data-rows="4" data-columns="4"' in page
