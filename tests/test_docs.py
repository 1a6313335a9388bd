"""The README and docs/ say what the code does: every script, command and flag in their code blocks
exists (fairseq's flags checked by fairseq's own parsers with the plugin loaded), every environment
variable the scripts read is in the README's table, and the README's recipes and decoding are
settings.py's, the options the pipeline itself runs."""
import configparser
import re
import shlex
import subprocess
import sys

import pytest

from conftest import PLUGIN, REPO
from cs224n_nmt_plugin import settings
from cs224n_nmt_plugin.cli import COMMANDS, command_parser

README = REPO / "README.md"
PAGES = [README, REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
HISTORY = REPO / "docs" / "history.md"  # the development log: its commands are those of their time
CURRENT_PAGES = [page for page in PAGES if page != HISTORY]
# Variables every shell passes through, not settings of the pipeline.
SHELL_VARIABLES = {"PATH", "PYTHONPATH", "HOME"}


def code_lines(page):
    """The lines of a markdown page's code (fenced blocks, and blocks indented by four spaces after
    a blank line), each command's continuation lines joined."""
    lines, fenced, indented, previous_blank = [], False, False, True
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced or (line.startswith("    ") and (indented or previous_blank)):
            indented = not fenced
            lines.append(line.strip())
            continue
        else:
            indented = False
        previous_blank = not line.strip()
    joined = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line
        else:
            joined.append(line)
    return joined


def commands(pages, program_pattern):
    """(page, program, arguments) of every command in the pages' code that runs a program matching
    ``program_pattern``; environment assignments, comments and pipes around it are left out."""
    found = []
    for page in pages:
        for line in code_lines(page):
            line = line.split(" #", 1)[0]
            for part in re.split(r"\s*(?:\|\||&&|\||;)\s*", line):
                try:
                    words = shlex.split(part)
                except ValueError:
                    continue
                while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                    words = words[1:]
                if len(words) > 1 and re.fullmatch(r"bash|(\S*/)?python3?", words[0]):
                    words = words[1:]
                if words and re.fullmatch(program_pattern, words[0]):
                    found.append((page.name, words[0], words[1:]))
    return found


def test_the_readme_is_short_and_has_no_run_history():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for phrase in ("this round", "the round before", "not been rerun", "not rerun", "<this repository>"):
        assert phrase not in text.lower(), phrase
    assert text.count("bash scripts/run.sh") >= 1 and "bash scripts/test.sh" in text


def test_every_page_the_docs_link_to_exists():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_every_script_and_its_options_exist():
    found = commands(CURRENT_PAGES, r"scripts/[\w.]+\.(?:sh|py)")
    assert {"scripts/run.sh", "scripts/test.sh", "scripts/compare.py"} <= {program for _, program, _ in found}
    for page, program, arguments in found:
        script = REPO / program
        assert script.is_file(), f"{page}: {program}"
        for option in (argument.split("=")[0] for argument in arguments if argument.startswith("--")):
            assert option in script.read_text(encoding="utf-8"), f"{page}: {program} {option}"


def test_every_cs224n_nmt_command_and_its_options_exist():
    found = commands(CURRENT_PAGES, r"cs224n-nmt")
    assert len(found) >= 10
    for page, _, arguments in found:
        assert arguments and arguments[0] in COMMANDS, f"{page}: cs224n-nmt {arguments[:1]}"
        parser, _ = command_parser(arguments[0], COMMANDS[arguments[0]])
        known = set(parser._option_string_actions)
        for option in (argument.split("=")[0] for argument in arguments[1:] if argument.startswith("--")):
            assert option in known, f"{page}: cs224n-nmt {arguments[0]} {option}"


def fairseq_parse(program, arguments):
    """fairseq's own parsing of a command line, as its console script does it (SystemExit on an
    unknown option or value)."""
    from fairseq import options

    arguments = [PLUGIN if argument == "cs224n_nmt_plugin" else argument for argument in arguments]
    if program == "fairseq-preprocess":
        return options.get_preprocessing_parser().parse_args(arguments)
    if program == "fairseq-interactive":
        parser = options.get_interactive_generation_parser()
    elif program == "fairseq-train":
        parser = options.get_training_parser()
    else:
        parser = options.get_generation_parser()
        parser.add_argument("--arch", "-a", default="wav2vec2")  # as fairseq_cli.generate.cli_main adds it
    return options.parse_args_and_arch(parser, input_args=arguments)


def test_every_fairseq_command_parses_with_the_plugin():
    found = [(page, program, arguments) for page, program, arguments in
             commands(CURRENT_PAGES, r"fairseq-(?:train|generate|interactive|preprocess)")
             if "<" not in " ".join(arguments)]  # (placeholders such as <the GPU recipe>)
    assert {"fairseq-train", "fairseq-generate", "fairseq-interactive", "fairseq-preprocess"} <= \
        {program for _, program, _ in found}
    for page, program, arguments in found:
        try:
            fairseq_parse(program, arguments)
        except SystemExit:
            pytest.fail(f"{page}: fairseq does not parse {program} {' '.join(arguments)}")


def option_values(arguments):
    """The options of a command line as a list of (option, value or None), in order."""
    pairs, index = [], 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.startswith("--"):
            has_value = index + 1 < len(arguments) and not arguments[index + 1].startswith("--")
            pairs.append((argument, arguments[index + 1] if has_value else None))
            index += 2 if has_value else 1
        else:
            index += 1
    return pairs


def test_the_readmes_recipes_are_the_ones_train_sh_runs():
    trains = [arguments for _, _, arguments in commands([README], r"fairseq-train")]
    recipes = {"gpu": [a for a in trains if "--amp" in a], "cpu": [a for a in trains if "--cpu" in a]}
    plumbing = {("--user-dir", "cs224n_nmt_plugin"), ("--save-dir", "checkpoints/NAME")}
    for recipe, found in recipes.items():
        assert len(found) == 1, recipe
        expected = option_values(settings.training_options(recipe))
        assert [pair for pair in option_values(found[0]) if pair not in plumbing] == expected, recipe


def test_the_readmes_vocabulary_and_decoding_are_the_pipelines():
    preprocess = [arguments for _, _, arguments in commands([README], r"fairseq-preprocess")]
    assert len(preprocess) == 1
    assert set(option_values(settings.preprocess_options())) <= set(option_values(preprocess[0]))
    homework = [pair for pair in option_values(settings.decoding_options("homework"))
                if pair != ("--search", "homework")]  # (the task's default: the README leaves it out)
    decoders = [arguments for _, _, arguments in commands([README], r"fairseq-(?:generate|interactive)")]
    assert len(decoders) == 2
    for arguments in decoders:
        found = option_values(arguments)
        assert [pair for pair in found if pair in homework] == homework
    one_line = next(line for line in code_lines(REPO / "docs" / "decoding.md") if line.startswith("--task"))
    assert one_line.split() == settings.decoding_options("homework")


def variables_the_scripts_read():
    """Environment variables the shell scripts (and the Python they run) take as settings."""
    names = set()
    for script in (REPO / "scripts").glob("*.sh"):
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?::[-+=?][^}]*)?\}", script.read_text(encoding="utf-8")))
    for module in [*(REPO / "cs224n_nmt_plugin").rglob("*.py"), *(REPO / "scripts").glob("*.py")]:
        names |= set(re.findall(r"environ\.get\(\"([A-Z_][A-Z0-9_]*)\"", module.read_text(encoding="utf-8")))
    return names - SHELL_VARIABLES


def test_every_variable_the_scripts_read_is_in_the_readmes_table():
    table = README.read_text(encoding="utf-8").split("| variable |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`([A-Z_][A-Z0-9_]*)`", table))
    read = variables_the_scripts_read()
    assert {"A4_DATA", "TATOEBA", "RECIPE", "SEARCH", "DATA_BIN_ROOT", "USE_VENV"} <= read
    assert read <= documented, sorted(read - documented)
    glibc = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}  # set by scripts/malloc_settings.py, read by glibc
    assert documented <= read | glibc, sorted(documented - read)


def test_the_license_file_is_the_one_setup_cfg_declares():
    declared = configparser.ConfigParser()
    declared.read(REPO / "setup.cfg")
    assert declared["metadata"]["license"] == "MIT"
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


@pytest.mark.slow
def test_the_readmes_hub_example_runs(copy_model):
    """The README's Python example, run against the copy-task model in place of NAME's."""
    block = README.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    code = block.replace("checkpoints/NAME", str(copy_model.save_dir))
    code = code.replace("data-bin/NAME", str(copy_model.data_bin))
    code = code.replace("¿ dónde está la biblioteca ?", "a b c")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "A B C"
