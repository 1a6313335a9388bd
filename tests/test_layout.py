"""The package's plan, pinned as properties: the text tools never import fairseq or torch, a plain
``import cs224n_nmt_plugin`` does not load fairseq, ``--user-dir`` registers exactly the plugin's
model, architectures, optimizer, criterion and task (and so does a Python user's import), fairseq
sees every module of the folders that register them, and every command of ``cli.COMMANDS`` is a
module with its arguments and its run function, listed and documented by the one command line."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, loaded_after, run_cli
from cs224n_nmt_plugin.cli import COMMANDS, command_parser, main
from cs224n_nmt_plugin.settings import TASK

PACKAGE = REPO / "cs224n_nmt_plugin"
TEXT_MODULES = sorted(f"cs224n_nmt_plugin.text.{path.stem}" for path in (PACKAGE / "text").glob("*.py")
                      if path.stem != "__init__")
HEAVY = ("fairseq", "torch")
TEXT_COMMANDS = [name for name, command in COMMANDS.items() if command.module.startswith("text.")]
# The folders whose modules register with fairseq (models/ and tasks/ fairseq imports itself).
REGISTERING = ("models", "optim", "criterions", "tasks")
# What fairseq's registries gain from the plugin: the names a user passes to fairseq's tools.
PLUGIN_REGISTRATIONS = {
    "models": ["cs224n_nmt"],
    "architectures": ["cs224n_lstm", "cs224n_lstm_small", "cs224n_lstm_tiny"],
    "optimizers": ["a4_adam"],
    "criterions": ["a4_cross_entropy"],
    "tasks": [TASK],
}

# Prints, as JSON, what fairseq's registries gained from running IMPORT after fairseq (name ->
# the module of the registered class; architectures -> their model), and the plugin's modules loaded.
REGISTRATIONS = """\
import json, sys
import fairseq.criterions, fairseq.models, fairseq.optim, fairseq.tasks
registries = {"models": fairseq.models.MODEL_REGISTRY, "architectures": fairseq.models.ARCH_MODEL_REGISTRY,
              "optimizers": fairseq.optim.OPTIMIZER_REGISTRY, "criterions": fairseq.criterions.CRITERION_REGISTRY,
              "tasks": fairseq.tasks.TASK_REGISTRY}
before = {kind: set(registry) for kind, registry in registries.items()}
IMPORT
gained = {kind: {name: registry[name].__module__ for name in sorted(set(registry) - before[kind])}
          for kind, registry in registries.items()}
print(json.dumps({"gained": gained, "loaded": sorted(m for m in sys.modules if m.startswith("cs224n_nmt_plugin."))}))
"""


def registrations_after(import_code):
    """What the registries gained, and the plugin's modules loaded, after ``import_code`` runs
    after fairseq in a fresh interpreter."""
    code = REGISTRATIONS.replace("IMPORT", import_code)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path("/"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def user_dir_import():
    """What fairseq-train/-generate/-interactive do with --user-dir: import the folder as a package
    (after fairseq), then every module of its models/ and tasks/ folders."""
    return registrations_after("import argparse\nfrom fairseq import utils\n"
                               f"utils.import_user_module(argparse.Namespace(user_dir={str(PACKAGE)!r}))")


# ----- what fairseq sees ------------------------------------------------------------------


def test_user_dir_registers_exactly_the_plugins_model_architectures_optimizer_criterion_and_task(user_dir_import):
    gained = user_dir_import["gained"]
    assert {kind: sorted(names) for kind, names in gained.items()} == PLUGIN_REGISTRATIONS
    folders = {"models": "models", "architectures": "models", "optimizers": "optim", "criterions": "criterions",
               "tasks": "tasks"}  # an architecture maps to its model's class
    for kind, names in gained.items():
        assert all(module.startswith(f"cs224n_nmt_plugin.{folders[kind]}.") for module in names.values()), names


def test_fairseq_sees_every_module_of_the_registering_folders(user_dir_import):
    """fairseq imports only the package and its models/ and tasks/: each package's __init__ must
    import the modules that register (a new optimizer or criterion module it missed would never be
    registered); whatever sits in those folders is loaded with the plugin."""
    modules = {f"cs224n_nmt_plugin.{folder}.{path.stem}" for folder in REGISTERING
               for path in (PACKAGE / folder).glob("*.py") if path.stem != "__init__"}
    assert modules - set(user_dir_import["loaded"]) == set()


def test_a_python_users_import_registers_what_user_dir_registers(user_dir_import):
    """``from cs224n_nmt_plugin import CS224nNMTModel`` (the hub, the notebook, translator.py) and
    ``import cs224n_nmt_plugin`` after fairseq register the same as --user-dir does."""
    for code in ("from cs224n_nmt_plugin import CS224nNMTModel", "import cs224n_nmt_plugin"):
        assert registrations_after(code)["gained"] == user_dir_import["gained"], code


# ----- what stays light ---------------------------------------------------------------------


@pytest.mark.parametrize("module", TEXT_MODULES)
def test_a_text_tool_imports_neither_fairseq_nor_torch(module):
    assert loaded_after(f"import {module}", HEAVY) == []


def test_importing_the_package_does_not_load_fairseq():
    assert loaded_after("import cs224n_nmt_plugin, cs224n_nmt_plugin.cli", HEAVY) == []


@pytest.mark.parametrize("name", TEXT_COMMANDS)
def test_a_text_command_builds_its_parser_without_fairseq_or_torch(name):
    code = ("from cs224n_nmt_plugin.cli import COMMANDS, command_parser\n"
            f"command_parser({name!r}, COMMANDS[{name!r}])")
    assert loaded_after(code, HEAVY) == []


def test_a_text_command_runs_without_fairseq(tmp_path):
    hypotheses = tmp_path / "hyp.txt"
    hypotheses.write_text("the cat sat on the mat\n", encoding="utf-8")
    code = (f"from cs224n_nmt_plugin.cli import main\n"
            f"assert main(['bleu', {str(hypotheses)!r}, {str(hypotheses)!r}, '--corpus']) == 0")
    assert loaded_after(code, HEAVY) == []


# ----- the command line ---------------------------------------------------------------------


def top_level_names(path):
    """The functions a module defines or imports by name."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def command_functions():
    """(module, part) of every add[_PART]_arguments function of the package's modules that has
    its run[_PART]: the commands the modules define ('' for a module's one command)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        names = top_level_names(path)
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for name in names:
            if name.startswith("add") and name.endswith("_arguments"):
                part = name[len("add_"):-len("_arguments")]
                if ("run_" + part if part else "run") in names:
                    found.add((module, part))
    return found


def test_every_command_a_module_defines_is_in_commands():
    assert command_functions() == {(command.module, command.part) for command in COMMANDS.values()}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_loads_its_functions_and_answers_help(name, capsys):
    add_arguments, run, doc = COMMANDS[name].load()
    assert callable(add_arguments) and callable(run) and doc.strip()
    parser, parser_run = command_parser(name, COMMANDS[name])
    assert parser_run is run and parser.prog == f"cs224n-nmt {name}"
    with pytest.raises(SystemExit) as stopped:
        main([name, "--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: cs224n-nmt {name}")
    assert COMMANDS[name].summary in shown and doc.strip().splitlines()[0] in shown


def test_the_console_script_lists_every_command():
    script = Path(sys.executable).parent / "cs224n-nmt"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)


def test_python_m_answers_like_the_console_script():
    result = run_cli("bleu", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: cs224n-nmt bleu")


def test_an_unknown_command_is_a_usage_error():
    result = run_cli("translate-everything")
    assert result.returncode == 2
    assert result.stderr.startswith("cs224n-nmt: unknown command 'translate-everything'")
