"""The homework's search as fairseq's tools run it (--task cs224n_translation): fairseq-generate's
usual lines, fairseq-interactive, the hub, and the one-line refusal of what it does not define,
on the copy-task model of conftest.copy_model."""
import math

import pytest

from conftest import PLUGIN, hypotheses, output_lines, run_tool, sources
from cs224n_nmt_plugin.homework.beam_search import HomeworkBeamSearch
from cs224n_nmt_plugin.settings import BEAM, decoding_options
from test_generation_options import generate, load_hub, references, scored_hypotheses, teacher_forced_bits

pytestmark = pytest.mark.slow
HOMEWORK = decoding_options("homework")


def test_fairseq_generate_prints_every_completed_hypothesis_with_its_scores_and_alignment(copy_model):
    stdout = generate(copy_model, *HOMEWORK, "--nbest", str(BEAM), "--print-alignment", "hard")
    found, alignments = hypotheses(stdout), output_lines(stdout, "A")
    assert len(found) == len(references(copy_model))
    for number, hyps in found.items():
        assert 1 <= len(hyps) <= BEAM and len({text for _, text in hyps}) == len(hyps)
        assert [score for score, _ in hyps] == sorted((score for score, _ in hyps), reverse=True)
        assert len(alignments[number]) == len(hyps)
    assert sum(found[i][0][1] == ref for i, ref in enumerate(references(copy_model))) >= 0.9 * len(found)
    hub, source_of = load_hub(copy_model), sources(stdout)
    for number, text, positions in scored_hypotheses(stdout):
        score = next(score for score, hyp in found[number] if hyp == text)
        assert score == pytest.approx(sum(positions), abs=1e-3)  # summed log-probability (base 2), </s> included
        assert positions == pytest.approx(teacher_forced_bits(hub, source_of[number], text), abs=1e-4)


def test_fairseq_interactive_and_the_hub_decode_as_fairseq_generate(copy_model):
    best = {number: hyps[0] for number, hyps in hypotheses(generate(copy_model, *HOMEWORK)).items()}
    lines = [source for _, source in sorted(sources(generate(copy_model, *HOMEWORK)).items())]
    result = run_tool("fairseq-interactive", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu", "--path",
                      copy_model.checkpoint, "--source-lang", "es", "--target-lang", "en", *HOMEWORK,
                      stdin="".join(f"{line}\n" for line in lines))
    interactive = {number: found[0] for number, found in hypotheses(result.stdout).items()}
    assert [text for _, text in interactive.values()] == [best[i][1] for i in range(len(lines))]

    hub = load_hub(copy_model)
    assert isinstance(hub.task.build_generator(hub.models, hub.cfg.generation), HomeworkBeamSearch)
    translated = hub.generate([hub.encode(line) for line in lines], beam=BEAM, max_len_a=0, max_len_b=70)
    for number, hyps in enumerate(translated):
        assert hub.string(hyps[0]["tokens"]) == best[number][1]
        assert float(hyps[0]["score"]) / math.log(2) == pytest.approx(best[number][0], abs=1e-4)


def test_the_hub_takes_fairseqs_generator_with_search_fairseq(copy_model):
    from fairseq.sequence_generator import SequenceGenerator

    hub = load_hub(copy_model, search="fairseq")
    assert isinstance(hub.task.build_generator(hub.models, hub.cfg.generation), SequenceGenerator)


@pytest.mark.parametrize("options", [
    ("--sampling", "--beam", "1"), ("--lenpen", "2"), ("--prefix-size", "1"), ("--nbest", "6"),
    ("--diverse-beam-groups", "5"), ("--min-len", "3"), ("--temperature", "0.5"), ("--match-source-len"),
], ids=lambda options: options[0] if isinstance(options, tuple) else options)
def test_what_the_homeworks_search_does_not_define_is_refused_in_one_line(copy_model, options):
    options = (options,) if isinstance(options, str) else options
    result = run_tool("fairseq-generate", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu", "--path",
                      copy_model.checkpoint, *HOMEWORK, *options, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {options[0]}") and "homework" in last


def test_fairseq_interactive_refuses_constraints_in_one_line(copy_model):
    result = run_tool("fairseq-interactive", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu", "--path",
                      copy_model.checkpoint, "--source-lang", "es", "--target-lang", "en", *HOMEWORK,
                      "--constraints", stdin="a b c\tA\n", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --constraints")


def test_score_reference_scores_references_whatever_the_search(copy_model):
    fairseq_scores = hypotheses(generate(copy_model, "--score-reference"))
    homework_task = hypotheses(generate(copy_model, *HOMEWORK, "--score-reference"))
    assert homework_task == fairseq_scores
