"""The Colab notebook, executed headless on the CPU by nbclient (Colab and Kaggle cannot be reached
from here): a cell after the parameters cell switches it to a small CPU run (the tiny model, a few
hundred updates, a small Tatoeba-format corpus given as a file, no Drive), every cell runs, and
the files and outputs the cells promise are checked. Bad input runs the cells concerned alone."""
import json
import re
import socket

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import LETTERS, REPO, free_port, write_tatoeba_copy
from test_progress import render

NOTEBOOK = REPO / "notebooks" / "cs224n_a4_nmt.ipynb"


def read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def parameters_index(notebook):
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, tagged
    return tagged[0]


def code_cell_index(notebook, fragment):
    """The index of the one code cell whose source holds ``fragment``."""
    found = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and fragment in cell.source]
    assert len(found) == 1, (fragment, found)
    return found[0]


def execute(notebook, parameters, workdir, cells=None, setup=""):
    """Runs ``notebook`` with ``parameters`` assigned (then ``setup`` run) right after its parameters
    cell, papermill's way; only the code cells at indices ``cells`` where given. Returns the
    executed cells and the error that stopped them, or None."""
    start = parameters_index(notebook)
    assignments = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    injected = nbformat.v4.new_code_cell(assignments + ("\n" + setup if setup else ""))
    chosen = [cell for i, cell in enumerate(notebook.cells) if cells is None or i in cells or i == start]
    position = next(i for i, cell in enumerate(chosen) if cell is notebook.cells[start]) + 1
    run = nbformat.v4.new_notebook(cells=chosen[:position] + [injected] + chosen[position:],
                                   metadata=notebook.metadata)
    client = NotebookClient(run, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return run.cells, error
    return run.cells, None


def text_of(cell):
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


def error_of(cell):
    """What the notebook shows for the error that stopped ``cell``: the lines of its traceback."""
    return next(output.traceback for output in cell.outputs if output.output_type == "error")


def screen_of(cell):
    """The cell's text lines as a notebook shows them: redrawn lines as last drawn, blank ones left out."""
    return [line for line in render(text_of(cell)) if line]


def images_of(cell):
    return [output for output in cell.outputs if "image/png" in output.get("data", {})]


def test_the_notebook_is_stored_without_outputs_and_validates():
    notebook = read_notebook()
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":  # each under one line of prose saying what it does
            prose = notebook.cells[index - 1]
            assert prose.cell_type == "markdown" and len(prose.source.strip().splitlines()) == 1, cell.source[:80]
    for cell in code:
        if "from google.colab" in cell.source:
            assert 'PLATFORM == "colab"' in cell.source, cell.source[:200]  # guarded: skipped elsewhere
    parameters_index(notebook)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook")
    port = free_port()
    parameters = {
        "REPO_DIR": str(REPO), "USE_DRIVE": False, "TATOEBA": str(write_tatoeba_copy(root / "spa.txt", 2070)),
        "PREPARE_OPTIONS": "--valid-size 50 --test-size 20", "RECIPE": "cpu", "CPU_UPDATES": 200,
        "TRAIN_OPTIONS": "--arch cs224n_lstm_tiny --validate-interval-updates 100 --log-interval 20",
        "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs"), "SENTENCE": "a b c",
        "SERVE": True, "SERVE_PORT": port,
    }
    notebook = read_notebook()
    cells, error = execute(notebook, parameters, root)
    assert error is None, str(error)[-3000:]
    return notebook, cells, parameters, root / "outputs" / "tatoeba", port


@pytest.mark.slow
def test_every_cell_runs_on_the_cpu_and_leaves_what_it_promises(cpu_run):
    notebook, cells, parameters, run_dir, _ = cpu_run
    cell = {fragment: cells[code_cell_index(notebook, fragment) + 1]  # + 1: the injected parameters cell
            for fragment in ("torch.cuda.is_available():", "run.sh --environment-only", "scripts/train.sh",
                             "scripts/score.sh", "heatmap_png", "cs224n-nmt report", "cs224n-nmt translate",
                             "export-model-bin", "cs224n-nmt\", \"serve\"")}
    if not torch.cuda.is_available():
        assert text_of(cell["torch.cuda.is_available():"]).startswith("No GPU in this runtime.")
    installed = text_of(cell["run.sh --environment-only"])
    assert "[run] environment: " in installed and f"torch {torch.__version__}, fairseq 0.12.3" in installed

    training = text_of(cell["scripts/train.sh"])
    assert re.search(r"\[train\] \[[#.]+\] +\d+% ", training)  # the bar
    assert "[train] finished: 200/200 updates in " in training and "| train_inner |" not in training

    scores = json.loads((run_dir / "scores.json").read_text())["tatoeba test"]
    assert scores["sentences"] == 20 and 0 <= scores["a4_bleu"] <= 100 and 0 <= scores["sacrebleu"] <= 100
    assert f"a4 BLEU {scores['a4_bleu']:.2f} on the tatoeba test set; the homework's target: above 21 on the a4 " \
           "test set" in text_of(cell["scripts/score.sh"])

    assert (run_dir / "checkpoints" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert len(images_of(cell["heatmap_png"])) == 4  # the curve and three sentences' attention
    assert text_of(cell["heatmap_png"]) == ""  # loading the model there logs nothing
    assert "<html" in (run_dir / "report" / "report.html").read_text()

    translated = screen_of(cell["cs224n-nmt translate"])
    assert len(translated) == 1 and set(translated[0].split()) <= {letter.upper() for letter in LETTERS}

    assert (run_dir / "model.bin").is_file()
    assert (run_dir / "model.bin.imported" / "checkpoint.pt").is_file()
    served = text_of(cell["cs224n-nmt\", \"serve\""])
    assert f"the server translates 'a b c' as {translated[0]!r}" in served  # the same decoding


@pytest.mark.slow
def test_the_server_stops_with_the_kernel(cpu_run):
    *_, port = cpu_run
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_a_second_training_with_other_settings_is_refused_in_one_line(cpu_run, tmp_path):
    notebook, _, parameters, _, _ = cpu_run
    cells = {code_cell_index(notebook, "def sh("), code_cell_index(notebook, "scripts/train.sh")}
    other = {**parameters, "NAME": "tatoeba", "TRAIN_OPTIONS": parameters["TRAIN_OPTIONS"] + " --dropout 0.2"}
    # what the cells between them leave: the checkout as the working folder, the layout in the environment
    setup = (f"import os\nos.chdir({str(REPO)!r})\nos.environ.update(DATA_BIN_ROOT=DATA_BIN_ROOT, "
             "OUTPUTS_ROOT=OUTPUTS_ROOT)")
    executed, error = execute(notebook, other, tmp_path, cells=cells, setup=setup)
    assert error is not None
    output = text_of(executed[-1])
    assert "holds a finished run with other settings" in output, output
    assert error_of(executed[-1]) == [
        f"stopped: bash scripts/train.sh tatoeba --a4-framing {other['TRAIN_OPTIONS']} (exit status 1)"]


@pytest.mark.slow
def test_an_a4_folder_without_training_files_is_named_in_one_line(tmp_path):
    notebook = read_notebook()
    folder = tmp_path / "en_es_data"
    folder.mkdir()
    (folder / "train.es").write_text("hola\n")
    cells, error = execute(notebook, {"A4_DATA": str(folder), "DATA_BIN_ROOT": str(tmp_path / "data-bin")}, tmp_path,
                           cells={code_cell_index(notebook, "def sh("), code_cell_index(notebook, "missing = [")})
    assert error is not None
    assert error_of(cells[-1]) == [
        f"stopped: {folder} has no train.en: put the a4 en_es_data/ files there (train, dev and test .es/.en)"]
