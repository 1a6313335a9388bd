"""A CS224n homework model.bin, built here as the starter code saves one, imported into fairseq:
the imported model scores sentence pairs exactly as the homework's model does (its framing,
eqs (1)-(13) of test_equations.py's reference), fairseq-interactive translates with it,
export and import invert each other, and bad inputs are refused without writing anything."""
import json
import math
import os
import re
import sys
import types

import pytest
import torch
from fairseq import checkpoint_utils

from conftest import PLUGIN, best_texts, collate, positional_scores, run_tool
from cs224n_nmt_plugin import CS224nNMTModel
from cs224n_nmt_plugin.cli import main
from cs224n_nmt_plugin.settings import TASK
from cs224n_nmt_plugin.text.prepare import EMPTY_TOKEN, encode_a4_line
from test_equations import E, H, random_cs224n_weights, reference_log_probs

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]  # ids 0-3, as the starter numbers them
SRC_WORD2ID = {word: i for i, word in enumerate(SPECIALS + ["el", "", "gato", "hola", "come", "mundo", "pez"])}
TGT_WORD2ID = {word: i for i, word in enumerate(SPECIALS + ["the", "cat", "", "hello", "eats", "world", "fish", "!"])}
# The imported dictionary's order: fairseq's specials, then the starter's other words by id.
A4_ID_OF_FAIRSEQ = [1, 0, 2, 3] + list(range(4, len(TGT_WORD2ID)))
# (Spanish, English) in a4 text: double spaces make '' tokens, "perro" and "dog" are unknown words.
PAIRS = [("hola mundo", "hello world !"), ("el  gato come pez", "the cat  eats fish"),
         ("perro", "dog"), ("el gato  come el pez mundo", "the cat eats the fish")]


class VocabEntry:
    """The starter's vocab.VocabEntry, as far as a model.bin pickles it."""

    def __init__(self, word2id):
        self.word2id = word2id
        self.unk_id = word2id["<unk>"]
        self.id2word = {i: word for word, i in word2id.items()}


class Vocab:
    def __init__(self, src, tgt):
        self.src, self.tgt = src, tgt


@pytest.fixture
def starter_vocab_module(monkeypatch):
    """The starter's module ``vocab``, importable while a test runs (to pickle and unpickle)."""
    module = types.ModuleType("vocab")
    for cls in (Vocab, VocabEntry):
        monkeypatch.setattr(cls, "__module__", "vocab")
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "vocab", module)
    return module


def homework_weights():
    """Random starter-named float32 weights (a saved model's dtype)."""
    weights = random_cs224n_weights(torch.Generator().manual_seed(7), len(SRC_WORD2ID), len(TGT_WORD2ID))
    return {name: tensor.float() for name, tensor in weights.items()}


def save_model_bin(path, weights, with_vocab=True, legacy=False):
    """What the starter's NMT.save writes (run under starter_vocab_module)."""
    saved = {"args": {"embed_size": E, "hidden_size": H, "dropout_rate": 0.3}, "state_dict": weights}
    if with_vocab:
        saved["vocab"] = Vocab(VocabEntry(SRC_WORD2ID), VocabEntry(TGT_WORD2ID))
    torch.save(saved, path, _use_new_zipfile_serialization=not legacy)


@pytest.fixture
def imported(tmp_path, starter_vocab_module):
    weights = homework_weights()
    save_model_bin(tmp_path / "model.bin", weights)
    assert main(["import-model-bin", str(tmp_path / "model.bin"), str(tmp_path / "imported")]) == 0
    return tmp_path / "imported", weights


def homework_log_probs(weights, spanish, target_ids):
    """log P of each target word and </s> under the homework's framing: the source without
    </s>, the decoder fed <s> y_1 .. y_n; in float64 on the saved weights."""
    source = [SRC_WORD2ID.get(word, SRC_WORD2ID["<unk>"]) for word in spanish.split(" ")]
    target = target_ids + [TGT_WORD2ID["</s>"]]
    w = {name: tensor.double() for name, tensor in weights.items()}
    log_probs, _ = reference_log_probs(w, source, [TGT_WORD2ID["<s>"]] + target_ids)
    return log_probs[torch.arange(len(target)), target]


def english_ids(english):
    return [TGT_WORD2ID.get(word, TGT_WORD2ID["<unk>"]) for word in english.split(" ")]


def test_imported_model_scores_as_the_homework(imported):
    out_dir, weights = imported
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(out_dir / "checkpoint.pt")], arg_overrides={"data": str(out_dir)}
    )
    model = models[0].double().eval()
    src_dict, tgt_dict = task.source_dictionary, task.target_dictionary
    sources = [src_dict.encode_line(encode_a4_line(es), add_if_not_exist=False) for es, _ in PAIRS]
    targets = [tgt_dict.encode_line(encode_a4_line(en), add_if_not_exist=False) for _, en in PAIRS]
    batch = collate(src_dict, tgt_dict, sources, targets)  # fairseq's framing and (left) padding
    with torch.no_grad():
        log_probs = torch.log_softmax(model(**batch["net_input"])[0], dim=-1)
    for row, pair in enumerate(batch["id"].tolist()):  # the collater sorts by source length
        spanish, english = PAIRS[pair]
        target = batch["target"][row, : len(targets[pair])]
        fairseq_scores = log_probs[row, : len(target)].gather(1, target.unsqueeze(1)).squeeze(1)
        expected = homework_log_probs(weights, spanish, english_ids(english))
        torch.testing.assert_close(fairseq_scores, expected, rtol=0, atol=1e-10)


@pytest.mark.slow  # fairseq-interactive
def test_hub_and_fairseq_interactive_translate_with_the_imported_directory(imported):
    """The directory serves as fairseq's data directory; with the homework's beam search every
    hypothesis scores as the homework's model scores it (tokens from the hub: printed text drops
    any <s> the search chose; a hypothesis stopped at the step limit has no </s>)."""
    out_dir, weights = imported
    spanish = ["hola mundo", "el  gato come pez", "perro"]
    beam_options = {"beam": 3, "max_len_a": 0, "max_len_b": 8}
    hub = CS224nNMTModel.from_pretrained(str(out_dir), checkpoint_file="checkpoint.pt")
    hypotheses = hub.generate([hub.encode(encode_a4_line(line)) for line in spanish], **beam_options)
    for source, beam in zip(spanish, hypotheses):
        assert 1 <= len(beam) <= 3
        for hypothesis in beam:
            tokens = hypothesis["tokens"].tolist()
            completed = tokens[-1] == hub.tgt_dict.eos()
            ids = [A4_ID_OF_FAIRSEQ[token] for token in (tokens[:-1] if completed else tokens)]
            expected = homework_log_probs(weights, source, ids)
            expected = expected if completed else expected[:-1]
            torch.testing.assert_close(hypothesis["positional_scores"].double(), expected, rtol=0, atol=1e-5)

    result = run_tool(
        "fairseq-interactive", out_dir, "--user-dir", PLUGIN, "--path", out_dir / "checkpoint.pt",
        "--source-lang", "es", "--target-lang", "en", "--cpu", "--task", TASK,
        *(f"--{name.replace('_', '-')}={value}" for name, value in beam_options.items()),
        stdin="".join(encode_a4_line(line) + "\n" for line in spanish),
    )
    assert best_texts(result.stdout) == {i: hub.decode(beam[0]["tokens"]) for i, beam in enumerate(hypotheses)}
    bits = positional_scores(result.stdout)
    assert sorted(bits) == list(range(len(spanish)))
    for number, beam in enumerate(hypotheses):
        assert bits[number] == pytest.approx((beam[0]["positional_scores"] / math.log(2)).tolist(), abs=1e-4)


def test_export_then_import_is_exact(imported, tmp_path, starter_vocab_module):
    out_dir, weights = imported
    assert main(["export-model-bin", str(out_dir / "checkpoint.pt"), str(out_dir), str(tmp_path / "exported.bin")]) == 0
    # Read back as the starter's NMT.load does: a plain torch.load with its vocab module importable.
    saved = torch.load(tmp_path / "exported.bin", weights_only=False)
    assert saved["args"] == {"embed_size": E, "hidden_size": H, "dropout_rate": 0.3}
    for entry, word2id in ((saved["vocab"].src, SRC_WORD2ID), (saved["vocab"].tgt, TGT_WORD2ID)):
        assert type(entry) is VocabEntry and entry.word2id == word2id and entry.unk_id == 3
        assert entry.id2word == {i: word for word, i in word2id.items()}
    assert saved["state_dict"].keys() == weights.keys()
    for name, tensor in weights.items():
        assert torch.equal(saved["state_dict"][name], tensor), name

    assert main(["import-model-bin", str(tmp_path / "exported.bin"), str(tmp_path / "again")]) == 0
    for name in ("dict.es.txt", "dict.en.txt"):
        assert (tmp_path / "again" / name).read_text() == (out_dir / name).read_text()
    first, second = (torch.load(d / "checkpoint.pt", weights_only=True)["model"]
                     for d in (out_dir, tmp_path / "again"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_legacy_format_and_vocab_json_import_alike(imported, tmp_path):
    """A model.bin in torch's pre-1.6 format, its vocabulary given as vocab.json instead."""
    out_dir, weights = imported
    save_model_bin(tmp_path / "legacy.bin", weights, with_vocab=False, legacy=True)
    vocab_json = tmp_path / "vocab.json"
    vocab_json.write_text(json.dumps({"src_word2id": SRC_WORD2ID, "tgt_word2id": TGT_WORD2ID}))
    assert main(["import-model-bin", str(tmp_path / "legacy.bin"), str(tmp_path / "legacy"),
                 "--vocab", str(vocab_json)]) == 0
    for name in ("dict.es.txt", "dict.en.txt"):
        assert (tmp_path / "legacy" / name).read_text() == (out_dir / name).read_text()
    first, second = (torch.load(d / "checkpoint.pt", weights_only=True)["model"]
                     for d in (out_dir, tmp_path / "legacy"))
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_dictionaries_hold_the_starter_words_in_fairseq_order(imported):
    out_dir, _ = imported
    words = [line.rsplit(" ", 1)[0] for line in (out_dir / "dict.en.txt").read_text().splitlines()]
    assert words == ["the", "cat", EMPTY_TOKEN, "hello", "eats", "world", "fish", "!"]


class MakeDirectory:
    """Unpickling this would create a directory: a model.bin must never be able to run code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def weights_without(name):
    weights = homework_weights()
    del weights[name]
    return weights


def weights_with_one_more_source_word():
    weights = homework_weights()
    weights["model_embeddings.source.weight"] = torch.zeros(len(SRC_WORD2ID) + 1, E)
    return weights


# name -> (writer of a bad model.bin at a path, the expected error)
BAD_MODEL_BINS = {
    "missing": (lambda path: None, "missing or not a file"),
    "text": (lambda path: path.write_text("not a model\n"), "not a CS224n model.bin"),
    "other torch file": (lambda path: torch.save({"model": {}}, path), "not a CS224n model.bin"),
    "code in the pickle": (lambda path: torch.save({"args": MakeDirectory(path.parent / "made")}, path),
                           r"(?i)unsupported GLOBAL \w+\.mkdir"),
    "no vocab": (lambda path: save_model_bin(path, homework_weights(), with_vocab=False), "pass --vocab"),
    "missing parameter": (lambda path: save_model_bin(path, weights_without("att_projection.weight")),
                          r"'state_dict' is not the a4 model's: .*missing \['att_projection.weight'\]"),
    "rows do not match the vocab": (lambda path: save_model_bin(path, weights_with_one_more_source_word()),
                                    r"model_embeddings.source.weight should have 11 rows \(one per word\)"),
}


@pytest.mark.parametrize("case", BAD_MODEL_BINS)
def test_bad_model_bin_is_refused_and_nothing_written(case, tmp_path, starter_vocab_module, capsys):
    write, expected = BAD_MODEL_BINS[case]
    model_bin = tmp_path / "model.bin"
    write(model_bin)
    assert main(["import-model-bin", str(model_bin), str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith(f"error: {model_bin}: ")
    assert re.search(expected, error), error
    assert not (tmp_path / "out").exists() and not (tmp_path / "made").exists()


@pytest.mark.parametrize("vocab_text, expected", [
    ("{}", "no JSON object with src_word2id and tgt_word2id"),
    (json.dumps({"src_word2id": {**SRC_WORD2ID, "gato": 4}, "tgt_word2id": TGT_WORD2ID}),
     "the source vocabulary's ids are not 0..10, each once"),
    (json.dumps({"src_word2id": SRC_WORD2ID, "tgt_word2id": {**TGT_WORD2ID, EMPTY_TOKEN: len(TGT_WORD2ID)}}),
     f"the target vocabulary has both '' and {EMPTY_TOKEN}"),
], ids=["not a vocab", "ids not a range", "'' and its placeholder"])
def test_bad_vocab_json_is_refused(imported, tmp_path, vocab_text, expected, capsys):
    vocab_json = tmp_path / "vocab.json"
    vocab_json.write_text(vocab_text)
    assert main(["import-model-bin", str(tmp_path / "model.bin"), str(tmp_path / "out"),
                 "--vocab", str(vocab_json)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {vocab_json}: ") and expected in error and "\n" not in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model_args, expected", [
    # A checkpoint from before --attention and --a4-framing loads as the handout's model with
    # fairseq's framing (None: the option is absent).
    ({"attention": None, "a4_framing": None}, "has fairseq's framing"),
    ({"attention": "dot"}, "multiplicative attention only"),
], ids=["older checkpoint", "dot attention"])
def test_export_refuses_models_the_starter_cannot_run(imported, tmp_path, model_args, expected, capsys):
    out_dir, _ = imported
    checkpoint = torch.load(out_dir / "checkpoint.pt", weights_only=True)
    for name, value in model_args.items():
        if value is None:
            delattr(checkpoint["cfg"]["model"], name)
        else:
            setattr(checkpoint["cfg"]["model"], name, value)
    if model_args["attention"] == "dot":
        del checkpoint["model"]["decoder.attention.att_projection.weight"]
    torch.save(checkpoint, tmp_path / "changed.pt")
    assert main(["export-model-bin", str(tmp_path / "changed.pt"), str(out_dir), str(tmp_path / "exported.bin")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {tmp_path / 'changed.pt'}: ") and expected in error and "\n" not in error
    assert not (tmp_path / "exported.bin").exists()
