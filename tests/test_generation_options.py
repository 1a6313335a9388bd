"""fairseq-generate's options as a fairseq user reaches for them, against the copy-task
cs224n_lstm_tiny of conftest.copy_model; each test asserts a property that a wrong model (or a
wrong incremental state) would break, not just that the command runs.

Also pinned here: --retain-dropout (Monte-Carlo dropout at inference), where cs224n_lstm's
printed alignments are right and fairseq lstm's are not (left-padded sources), and the fairseq
limitations the README documents, so that a fairseq release that fixes one shows up here."""
import contextlib
import functools
import io
import math

import pytest
import torch

from conftest import (
    PLUGIN,
    best_texts,
    hypotheses,
    output_lines,
    positional_scores,
    run_tool,
    sources,
    write_copy_corpus,
)

pytestmark = pytest.mark.slow  # every test decodes with the trained copy_model
BATCH = ("--batch-size", "64", "--required-batch-size-multiple", "1")


def run_generate(model, *options, data_bin=None, path=None, subset="test"):
    """fairseq-generate's output on the copy task (the S, H, P, A lines). It runs fairseq-generate's
    own parser and main in this process, as its console script does, to spare each run the start of
    a new interpreter (the tests of fairseq's tools as processes are in test_fairseq_cli.py); with
    --num-workers 0, since a data-loading worker forked from this process takes seconds to start."""
    from fairseq import options as fairseq_options
    from fairseq_cli import generate as fairseq_generate

    argv = [str(data_bin or model.data_bin), "--user-dir", PLUGIN, "--cpu", "--path", str(path or model.checkpoint),
            "--gen-subset", subset, "--num-workers", "0", *BATCH, *map(str, options)]
    parser = fairseq_options.get_generation_parser()
    parser.add_argument("--arch", "-a", default="wav2vec2")  # as fairseq_cli.generate.cli_main adds it
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        fairseq_generate.main(fairseq_options.parse_args_and_arch(parser, input_args=argv))
    return output.getvalue()


generate = functools.lru_cache(maxsize=None)(run_generate)  # several tests read the same run; a test of
# reproducibility calls run_generate for its second run


def references(model):
    return (model.root / "test.en").read_text().splitlines()


def load_hub(copy_model, checkpoint_file="checkpoint_best.pt", **overrides):
    from cs224n_nmt_plugin import CS224nNMTModel

    return CS224nNMTModel.from_pretrained(str(copy_model.save_dir), checkpoint_file=checkpoint_file,
                                          data_name_or_path=str(copy_model.data_bin), **overrides)


def teacher_forced_bits(hub, source, text, temperature=1.0):
    """log2 P(each token of ``text`` and </s> | the tokens before it, ``source``), the decoder's
    logits divided by ``temperature`` as fairseq's generator divides them."""
    network = hub.models[0]
    source_tokens = hub.encode(source)
    target = hub.tgt_dict.encode_line(text, add_if_not_exist=False).long()
    previous = torch.cat([target[-1:], target[:-1]]).unsqueeze(0)  # </s> first, as fairseq feeds it
    with torch.no_grad():
        logits, extra = network(source_tokens.unsqueeze(0), torch.tensor([len(source_tokens)]), previous)
        log_probs = network.get_normalized_probs((logits / temperature, extra), log_probs=True)
    return (log_probs[0].gather(1, target.unsqueeze(1)).squeeze(1) / math.log(2)).tolist()


def scored_hypotheses(stdout):
    """(sentence id, hypothesis text, its positional scores) of every H line with its P line."""
    found, scores = hypotheses(stdout), output_lines(stdout, "P")
    return [(number, text, [float(x) for x in positions[0].split()])
            for number in found for (_, text), positions in zip(found[number], scores[number])]


# ----- the search: beams, n-best, sampling, lengths, scores ---------------------------------


def test_nbest_lists_distinct_hypotheses_best_first(copy_model):
    found = hypotheses(generate(copy_model, "--beam", "5", "--nbest", "3"))
    assert len(found) == len(references(copy_model))
    for hyps in found.values():
        assert len(hyps) == 3 and len({text for _, text in hyps}) == 3
        assert [score for score, _ in hyps] == sorted((score for score, _ in hyps), reverse=True)


def test_sampling_from_the_top_1_or_a_tiny_nucleus_is_greedy_search(copy_model):
    greedy = best_texts(generate(copy_model, "--beam", "1"))
    assert best_texts(generate(copy_model, "--beam", "1", "--sampling", "--sampling-topk", "1")) == greedy
    assert best_texts(generate(copy_model, "--beam", "1", "--sampling", "--sampling-topp", "1e-6")) == greedy


def test_sampling_at_a_high_temperature_follows_the_seed_and_the_model(copy_model):
    """Samples from the top 3 words at temperature 3: reproducible with the seed, different from
    greedy search, and every sampled token's score is the model's teacher-forced log-probability at
    that temperature. (The top 3 keep <s> out of the samples: fairseq would print it as nothing.)"""
    options = ("--beam", "1", "--sampling", "--sampling-topk", "3", "--temperature", "3", "--seed")
    first, again = best_texts(generate(copy_model, *options, 1)), best_texts(run_generate(copy_model, *options, 1))
    other = generate(copy_model, *options, 2)
    assert first == again  # reproducible
    assert sum(first[i] != best_texts(other)[i] for i in first) >= len(first) // 2  # and really sampled
    greedy = best_texts(generate(copy_model, "--beam", "1"))
    assert sum(first[i] != greedy[i] for i in first) >= len(first) // 2
    hub, source_of = load_hub(copy_model), sources(other)
    for number, text, positions in scored_hypotheses(other):
        assert positions == pytest.approx(teacher_forced_bits(hub, source_of[number], text, temperature=3), abs=1e-3)


def test_min_len_lengthens_every_hypothesis(copy_model):
    natural = best_texts(generate(copy_model, "--beam", "5"))
    assert min(len(text.split()) for text in natural.values()) < 8  # copies of 3 to 7 letters
    lengthened = best_texts(generate(copy_model, "--beam", "5", "--min-len", "8"))
    assert all(len(text.split()) >= 8 for text in lengthened.values())


def test_match_source_len_gives_every_hypothesis_its_sources_length(copy_model, tmp_path):
    """On sources longer than any the model saw (it tends to stop early or run on), the length is
    still forced to the source's. fairseq counts the source's </s>: a hypothesis gets one word
    more than its source has."""
    long = write_copy_corpus(tmp_path / "long", seed=5, sizes=(("test", 20),), lengths=(9, 14))
    data_bin = binarize_test_split(copy_model, long / "test", tmp_path / "long-bin")
    natural = generate(copy_model, "--beam", "5", data_bin=data_bin)
    matched = generate(copy_model, "--beam", "5", "--match-source-len", data_bin=data_bin)
    lengths = {number: len(source.split()) + 1 for number, source in sources(matched).items()}
    assert any(len(text.split()) != lengths[i] for i, text in best_texts(natural).items())
    assert all(len(text.split()) == lengths[i] for i, text in best_texts(matched).items())


@pytest.mark.parametrize("options, normalizer", [
    (("--unnormalized",), lambda length: 1),  # summed log-probability, as a4 ranks hypotheses
    ((), lambda length: length),  # fairseq's default: divided by the length (--lenpen 1)
    (("--lenpen", "2"), lambda length: length ** 2),
], ids=["unnormalized", "lenpen-1", "lenpen-2"])
def test_hypothesis_scores_are_the_positional_scores_under_the_length_penalty(copy_model, options, normalizer):
    stdout = generate(copy_model, "--beam", "5", *options)
    best, positions = hypotheses(stdout), positional_scores(stdout)
    for number, scores in positions.items():
        expected = sum(scores) / normalizer(len(scores))  # the scores include </s>
        assert best[number][0][0] == pytest.approx(expected, abs=1e-3), number


def test_score_reference_scores_the_references_as_teacher_forcing_does(copy_model):
    """--score-reference: the H line is the reference, its positional scores are the model's
    teacher-forced log-probabilities (base 2), exactly as computed here from the model itself."""
    stdout = generate(copy_model, "--score-reference")
    assert best_texts(stdout) == dict(enumerate(references(copy_model)))
    hub, source_of = load_hub(copy_model), sources(stdout)
    for number, text, positions in scored_hypotheses(stdout):
        assert positions == pytest.approx(teacher_forced_bits(hub, source_of[number], text), abs=1e-4)


def test_every_nbest_hypothesis_scores_as_teacher_forced(copy_model):
    """Beam search reorders and shrinks its batch as hypotheses finish: every one of the n-best
    still carries exactly the scores the model gives it under teacher forcing."""
    stdout = generate(copy_model, "--beam", "5", "--nbest", "5")
    hub, source_of = load_hub(copy_model), sources(stdout)
    checked = scored_hypotheses(stdout)
    assert len(checked) == 5 * len(references(copy_model))
    for number, text, positions in checked:
        assert positions == pytest.approx(teacher_forced_bits(hub, source_of[number], text), abs=1e-4)


def test_prefix_size_forces_the_references_first_token(copy_model, tmp_path):
    """A test set whose references are the reversed copies: the model writes the copy, but with
    --prefix-size 1 every hypothesis starts with its reference's first token."""
    folder = tmp_path / "reversed"
    folder.mkdir()
    lines = (copy_model.root / "test.es").read_text().splitlines()
    (folder / "test.es").write_text("".join(f"{line}\n" for line in lines))
    (folder / "test.en").write_text("".join(" ".join(reversed(line.upper().split())) + "\n" for line in lines))
    data_bin = binarize_test_split(copy_model, folder / "test", tmp_path / "reversed-bin")
    expected_first = [line.upper().split()[-1] for line in lines]
    natural = best_texts(generate(copy_model, "--beam", "5", data_bin=data_bin))
    assert sum(natural[i].split()[0] != expected_first[i] for i in natural) >= len(lines) // 2
    prefixed = best_texts(generate(copy_model, "--beam", "5", "--prefix-size", "1", data_bin=data_bin))
    assert all(prefixed[i].split()[0] == expected_first[i] for i in prefixed)


def test_constraints_appear_in_every_hypothesis(copy_model):
    """fairseq-interactive --constraints: each tab-separated constraint occurs in the output,
    where the model's own copy of the source has none of them."""
    def translate(stdin, *options):
        result = run_tool("fairseq-interactive", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu",
                          "--path", copy_model.checkpoint, "--source-lang", "es", "--target-lang", "en",
                          "--beam", "5", *options, stdin=stdin)
        return {number: text.split() for number, text in best_texts(result.stdout).items()}

    free = translate("a b c\nd e f g\n")
    assert "L" not in free[0] and not {"A", "K"} & set(free[1])
    constrained = translate("a b c\tL\nd e f g\tA\tK\n", "--constraints")
    assert "L" in constrained[0] and {"A", "K"} <= set(constrained[1])


def test_diverse_beam_groups_change_the_nbest_list(copy_model):
    """Diverse beam search (2 groups of 2 beams) ranks other hypotheses than beam search's 4 beams,
    and still finds the copy first. (All sentences in one batch: see the limitation below. The
    groups may end on the same hypothesis: fairseq penalizes only tokens chosen at the same step.)"""
    plain = hypotheses(generate(copy_model, "--beam", "4", "--nbest", "4"))
    diverse = hypotheses(generate(copy_model, "--beam", "4", "--nbest", "4", "--diverse-beam-groups", "2"))
    assert sum(plain[i] != diverse[i] for i in plain) >= len(plain) // 2
    correct = sum(diverse[i][0][1] == ref for i, ref in enumerate(references(copy_model)))
    assert correct >= 0.8 * len(diverse)


def test_diversity_rate_lists_distinct_siblings(copy_model):
    found = hypotheses(generate(copy_model, "--beam", "4", "--nbest", "4", "--diversity-rate", "0.5"))
    assert len(found) == len(references(copy_model))
    assert all(len({text for _, text in hyps}) == 4 for hyps in found.values())
    correct = sum(found[i][0][1] == ref for i, ref in enumerate(references(copy_model)))
    assert correct >= 0.8 * len(found)


# ----- several models, padding, validation ---------------------------------------------------


def test_an_ensemble_of_a_model_with_itself_is_the_model(copy_model):
    alone = generate(copy_model, "--beam", "5")
    twice = generate(copy_model, "--beam", "5", path=f"{copy_model.checkpoint}:{copy_model.checkpoint}")
    assert best_texts(twice) == best_texts(alone)
    for number, hyps in hypotheses(twice).items():
        assert hyps[0][0] == pytest.approx(hypotheses(alone)[number][0][0], abs=1e-5)


def test_an_ensemble_of_two_checkpoints_averages_their_probabilities(copy_model):
    """fairseq's EnsembleModel averages the models' probabilities at every step: each positional
    score of the ensemble of checkpoint_best.pt and checkpoint_last.pt (two different models of one
    run) is log2((p1 + p2) / 2) of the two models' teacher-forced probabilities of that token. The
    n-best lists hold tokens the two models disagree on, where the mean of their log-probabilities
    or either model alone would give another score."""
    last = copy_model.save_dir / "checkpoint_last.pt"
    stdout = generate(copy_model, "--beam", "5", "--nbest", "5", path=f"{copy_model.checkpoint}:{last}")
    found = best_texts(stdout)
    assert sum(found[i] == ref for i, ref in enumerate(references(copy_model))) >= 0.9 * len(found)
    hubs = load_hub(copy_model), load_hub(copy_model, checkpoint_file=last.name)
    source_of, checked = sources(stdout), scored_hypotheses(stdout)
    assert len(checked) == 5 * len(references(copy_model))
    telling = 0  # positions where the mean log-probability and each model alone are all over 0.01 bits away
    for number, text, positions in checked:
        first, second = (torch.tensor(teacher_forced_bits(hub, source_of[number], text), dtype=torch.float64)
                         for hub in hubs)
        averaged = torch.logaddexp2(first, second) - 1  # log2((p1 + p2) / 2)
        assert positions == pytest.approx(averaged.tolist(), abs=1e-4), (number, text)
        alternatives = torch.stack([first, second, (first + second) / 2])
        telling += int(((alternatives - averaged).abs().min(dim=0).values > 0.01).sum())
    assert telling >= 50, telling


def test_right_padded_sources_translate_exactly_like_left_padded_ones(copy_model):
    """fairseq 0.12's --left-pad-source is a switch that turns left padding off."""
    left = generate(copy_model, "--beam", "5", "--print-alignment")
    right = generate(copy_model, "--beam", "5", "--print-alignment", "--left-pad-source")
    assert hypotheses(right) == hypotheses(left)
    assert output_lines(right, "A") == output_lines(left, "A")


def test_fairseq_validate_computes_the_loss_that_score_reference_sums(copy_model):
    """fairseq-validate's loss (the criterion's: summed NLL in bits per sentence, --sentence-avg)
    equals minus the summed positional scores of --score-reference over the valid split."""
    result = run_tool("fairseq-validate", copy_model.data_bin, "--task", "translation", "--user-dir", PLUGIN, "--cpu",
                      "--path", copy_model.checkpoint, "--valid-subset", "valid", *BATCH)
    loss = float((result.stdout + result.stderr).split("| loss ")[1].split()[0])
    scored = positional_scores(generate(copy_model, "--score-reference", subset="valid"))
    assert len(scored) == 100
    assert loss == pytest.approx(-sum(map(sum, scored.values())) / len(scored), abs=2e-3)


# ----- alignments: ours follow src_tokens; fairseq lstm's do not for left-padded sources -------


def soft_alignment_row_sums(stdout):
    """For each sentence, the sums of its --print-alignment soft rows (one row per target token)."""
    return {number: [sum(map(float, row.split(","))) for row in fields[0][0].split()]
            for number, fields in output_lines(stdout, "A").items()}


def test_hard_alignments_of_the_copy_task_are_the_diagonal(copy_model):
    stdout = generate(copy_model, "--beam", "5", "--print-alignment", "hard")
    texts, alignments = best_texts(stdout), output_lines(stdout, "A")
    diagonal = [number for number, fields in alignments.items()
                if fields[0][0].split() == [f"{i}-{i}" for i in range(len(texts[number].split()))]]
    assert len(diagonal) >= 0.9 * len(texts)


def test_soft_alignment_rows_are_distributions_over_the_source(copy_model):
    sums = soft_alignment_row_sums(generate(copy_model, "--beam", "5", "--print-alignment", "soft"))
    assert len(sums) == len(references(copy_model))
    assert all(row == pytest.approx(1.0, abs=1e-4) for rows in sums.values() for row in rows)


@pytest.fixture(scope="module")
def fairseq_lstm_checkpoint(copy_model, tmp_path_factory):
    """fairseq's own lstm, trained for a few updates on the same data (enough for its attention)."""
    save_dir = tmp_path_factory.mktemp("fairseq_lstm")
    run_tool("fairseq-train", copy_model.data_bin, "--user-dir", PLUGIN, "--arch", "lstm", "--cpu",
             "--encoder-embed-dim", "32", "--encoder-hidden-size", "32", "--encoder-bidirectional",
             "--decoder-embed-dim", "32", "--decoder-hidden-size", "32", "--decoder-out-embed-dim", "32",
             "--optimizer", "adam", "--lr", "5e-3", "--batch-size", "32", "--max-update", "20",
             "--criterion", "cross_entropy", "--save-dir", save_dir, "--no-epoch-checkpoints", "--no-progress-bar",
             "--disable-validation")
    return save_dir / "checkpoint_last.pt"


def test_fairseq_lstms_soft_alignments_are_misplaced_for_left_padded_sources(copy_model, fairseq_lstm_checkpoint):
    """fairseq's LSTMEncoder moves left-padded sources to the right and returns its attention in
    that layout; fairseq's generator reads it in the src_tokens layout, so for every sentence shorter
    than its batch's longest the printed rows miss weight (ours: the previous test)."""
    stdout = generate(copy_model, "--beam", "2", "--print-alignment", "soft", path=fairseq_lstm_checkpoint)
    lengths = {number: len(source.split()) for number, source in sources(stdout).items()}
    longest = max(lengths.values())
    for number, rows in soft_alignment_row_sums(stdout).items():
        misplaced = any(abs(row - 1) > 1e-3 for row in rows)
        assert misplaced == (lengths[number] < longest), number


# ----- Monte-Carlo dropout: --retain-dropout ---------------------------------------------------


def reference_scores(copy_model, *options, run=generate):
    return [hyps[0][0] for _, hyps in sorted(hypotheses(run(copy_model, "--score-reference", *options)).items())]


def test_retain_dropout_applies_eq_12s_dropout_at_inference(copy_model):
    deterministic = reference_scores(copy_model, "--seed", "1")
    assert reference_scores(copy_model, "--seed", "2") == deterministic  # without the flag: no dropout
    first = reference_scores(copy_model, "--retain-dropout", "--seed", "1")
    second = reference_scores(copy_model, "--retain-dropout", "--seed", "2")
    assert reference_scores(copy_model, "--retain-dropout", "--seed", "1", run=run_generate) == first  # the seed
    # decides the masks
    assert sum(a != b for a, b in zip(first, deterministic)) >= 0.9 * len(first)
    assert sum(a != b for a, b in zip(first, second)) >= 0.9 * len(first)


def test_retain_dropout_modules_names_the_decoders_dropout(copy_model):
    deterministic = reference_scores(copy_model)
    named = reference_scores(copy_model, "--retain-dropout", "--retain-dropout-modules", "CS224nDecoder")
    other = reference_scores(copy_model, "--retain-dropout", "--retain-dropout-modules", "TransformerDecoderLayer")
    assert other == deterministic and sum(a != b for a, b in zip(named, deterministic)) >= 0.9 * len(named)


def test_retain_dropout_in_beam_search_and_the_hub(copy_model):
    """The incremental path draws a fresh mask at every step: beam search's scores move too."""
    beam = [hyps[0][0] for _, hyps in sorted(hypotheses(generate(copy_model, "--beam", "5")).items())]
    sampled = [hyps[0][0] for _, hyps in sorted(hypotheses(generate(copy_model, "--beam", "5", "--retain-dropout"))
                                                 .items())]
    assert sum(a != b for a, b in zip(beam, sampled)) >= 0.9 * len(beam)

    def hub_scores(**overrides):
        hub = load_hub(copy_model, **overrides)
        scores = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            scores.append(float(hub.generate([hub.encode("a b c d e")], beam=5)[0][0]["score"]))
        return scores

    fixed, varying = hub_scores(), hub_scores(retain_dropout=True)
    assert fixed[0] == fixed[1] and varying[0] != varying[1]


# ----- fairseq's limitations, pinned (the README's fairseq section documents them) -------------


def test_limitation_the_last_partial_batch_is_dropped_without_required_batch_size_multiple_1(copy_model):
    result = run_tool("fairseq-generate", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu",
                      "--path", copy_model.checkpoint, "--batch-size", "8")
    assert len(hypotheses(result.stdout)) == 32  # of 37: the batch of 5 is gone, silently
    assert result.returncode == 0


def test_limitation_no_repeat_ngram_size_blocks_nothing_on_cpu(copy_model):
    """fairseq's CPU n-gram blocker is handed the padded token buffer: a copy with a repeated
    letter keeps its repeat although --no-repeat-ngram-size 1 forbids any."""
    stdout = generate(copy_model, "--beam", "5", "--no-repeat-ngram-size", "1")
    repeats = [text for text in best_texts(stdout).values() if len(set(text.split())) < len(text.split())]
    assert repeats


def test_limitation_diverse_beam_groups_fail_after_the_first_batch(copy_model):
    result = run_tool("fairseq-generate", copy_model.data_bin, "--user-dir", PLUGIN, "--cpu",
                      "--path", copy_model.checkpoint, "--beam", "4", "--diverse-beam-groups", "2",
                      "--batch-size", "8", "--required-batch-size-multiple", "1", check=False)
    assert result.returncode != 0 and "IndexError" in result.stderr


def binarize_test_split(copy_model, prefix, destdir):
    """A test split of other sentences in the copy model's dictionaries."""
    run_tool("fairseq-preprocess", "--source-lang", "es", "--target-lang", "en", "--testpref", prefix,
             "--srcdict", copy_model.data_bin / "dict.es.txt", "--tgtdict", copy_model.data_bin / "dict.en.txt",
             "--destdir", destdir, "--workers", "1")
    return destdir
