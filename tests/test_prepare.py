"""Tests of the data-preparation step (cs224n_nmt_plugin/text/prepare.py)."""
import json

import pytest

from conftest import A4_DATA, loaded_after, run_cli, write_lines
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text import prepare
from cs224n_nmt_plugin.text.prepare import (
    EMPTY_TOKEN,
    decode_a4_line,
    decode_bpe_line,
    encode_a4_line,
    postprocess_hypothesis,
)

OUTPUT_NAMES = [f"{split}.{lang}" for split in ("train", "valid", "test") for lang in ("es", "en")]
needs_shared = pytest.mark.skipif(not A4_DATA.is_dir(), reason=f"shared data not found at {A4_DATA}")


def read_lines(path):
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def write_parallel(folder, stem, pairs):
    folder.mkdir(parents=True, exist_ok=True)
    write_lines(folder / f"{stem}.es", [es for es, _ in pairs])
    write_lines(folder / f"{stem}.en", [en for _, en in pairs])


def numbered_pairs(prefix, count):
    return [(f"{prefix} es {i}", f"{prefix} en {i}") for i in range(count)]


def write_tsv(path, count):
    """``count`` distinct TSV lines, some with an attribution column and accents."""
    lines = [f"English {i}.\tEspañol número {i}." + ("\tCC-BY 2.0 (tatoeba)" if i % 3 else "") for i in range(count)]
    return write_lines(path, lines)


def output_pairs(out, split):
    return list(zip(read_lines(out / f"{split}.es"), read_lines(out / f"{split}.en")))


# ----- imports ---------------------------------------------------------------------------


def test_module_imports_no_subword_library_until_the_bpe_recipe_runs():
    assert loaded_after("import cs224n_nmt_plugin.text.prepare", ["sacremoses", "subword_nmt"]) == []


# ----- the word recipe -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, encoded",
    [
        ("I'm  here", f"I'm {EMPTY_TOKEN} here"),
        ("a   b\n", f"a {EMPTY_TOKEN} {EMPTY_TOKEN} b"),
        ("   [descansa en paz, pap]", "[descansa en paz, pap]"),
        ("end.  ", "end."),
        ("", EMPTY_TOKEN),
        ("Él  está aquí", f"Él {EMPTY_TOKEN} está aquí"),
    ],
)
def test_encode_a4_line_marks_empty_tokens_and_decodes_back(line, encoded):
    assert encode_a4_line(line) == encoded
    assert decode_a4_line(encoded) == line.strip()


@needs_shared
def test_placeholder_round_trip_on_real_a4_test_en():
    with open(A4_DATA / "test.en", encoding="utf-8") as stream:  # read as the a4 starter reads it
        lines = list(stream)
    empty_tokens = 0
    for line in lines:
        a4_tokens = line.strip().split(" ")
        encoded = encode_a4_line(line)
        # fairseq splits on any whitespace run: it must see exactly the a4 tokens
        assert encoded.split() == [token or EMPTY_TOKEN for token in a4_tokens]
        assert decode_a4_line(encoded) == line.strip()
        empty_tokens += a4_tokens.count("")
    assert len(lines) == 8064 and empty_tokens > 1000


@needs_shared
def test_a4_source_writes_encoded_real_data_and_max_lines(tmp_path):
    a4 = tmp_path / "en_es_data"
    a4.mkdir()
    for stem, target in [("train", "sanity/train_sanity_check"), ("dev", "dev"), ("test", "test")]:
        for lang in ("es", "en"):
            (a4 / f"{stem}.{lang}").symlink_to(A4_DATA / f"{target}.{lang}")
    out = tmp_path / "out"
    result = run_cli("prepare", "a4", a4, "--out", out, "--max-lines", 7)
    assert result.returncode == 0, result.stderr
    for split, stem in [("valid", "dev"), ("test", "test")]:
        for lang in ("es", "en"):
            original = (a4 / f"{stem}.{lang}").read_text(encoding="utf-8").splitlines()
            assert read_lines(out / f"{split}.{lang}") == [encode_a4_line(line) for line in original]
    train_en = (a4 / "train.en").read_text(encoding="utf-8").splitlines()
    assert read_lines(out / "train.en") == [encode_a4_line(line) for line in train_en[:7]]
    record = json.loads((out / "prepare.json").read_text())
    assert record["source"] == "a4" and record["recipe"] == "word" and record["max_lines"] == 7
    assert record["sizes"] == {"train": 7, "valid": 851, "test": 8064}
    assert record["dropped_empty_pairs"] == {"train": 0, "valid": 0, "test": 0}


# ----- tatoeba ---------------------------------------------------------------------------


def test_tatoeba_split_is_deterministic_per_seed_and_sized(tmp_path):
    tsv = write_tsv(tmp_path / "spa.txt", 40)
    sizes = ["--valid-size", 6, "--test-size", 5]
    runs = {name: tmp_path / name for name in ("seed1", "seed1_again", "seed2")}
    for name, out in runs.items():
        seed = 2 if name == "seed2" else 1
        result = run_cli("prepare", "tatoeba", tsv, "--out", out, "--seed", seed, *sizes)
        assert result.returncode == 0, result.stderr
        assert "train 29, valid 6, test 5" in result.stdout

    def contents(out):
        return [(out / name).read_bytes() for name in OUTPUT_NAMES]

    assert contents(runs["seed1"]) == contents(runs["seed1_again"])
    assert contents(runs["seed1"]) != contents(runs["seed2"])
    out = runs["seed1"]
    split_pairs = {split: output_pairs(out, split) for split in ("train", "valid", "test")}
    assert [len(pairs) for pairs in split_pairs.values()] == [29, 6, 5]
    # every input pair lands, aligned and unchanged (accents kept), in exactly one split
    expected = sorted((f"Español número {i}.", f"English {i}.") for i in range(40))
    assert sorted(sum(split_pairs.values(), [])) == expected
    record = json.loads((out / "prepare.json").read_text())
    assert record["source"] == "tatoeba" and record["seed"] == 1
    assert record["sizes"] == {"train": 29, "valid": 6, "test": 5}


def test_default_tatoeba_sizes(tmp_path):
    tsv = write_tsv(tmp_path / "spa.txt", 4003)
    out = tmp_path / "out"
    result = run_cli("prepare", "tatoeba", tsv, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "train 3, valid 2000, test 2000" in result.stdout
    assert json.loads((out / "prepare.json").read_text())["seed"] == 1


# ----- input errors ----------------------------------------------------------------------


def a4_missing_train_en(tmp):
    for stem in ("train", "dev", "test"):
        write_parallel(tmp / "a4", stem, numbered_pairs(stem, 3))
    (tmp / "a4" / "train.en").unlink()
    return ["a4", tmp / "a4"], "train.en", "missing"


def folder_unequal_lengths(tmp):
    for stem in ("train", "valid", "test"):
        write_parallel(tmp / "data", stem, numbered_pairs(stem, 3))
    write_lines(tmp / "data" / "valid.en", ["one", "two"])
    return ["folder", tmp / "data"], "valid.es", "3 lines but"


def folder_not_utf8(tmp):
    for stem in ("train", "valid", "test"):
        write_parallel(tmp / "data", stem, numbered_pairs(stem, 3))
    (tmp / "data" / "test.en").write_bytes(b"fine\nalso fine\nni\xf1os\n")
    return ["folder", tmp / "data"], "test.en", "line 3 is not UTF-8"


def tatoeba_line_without_tab(tmp):
    write_lines(tmp / "spa.txt", ["Go.\tVe.", "no tab here", "Hi.\tHola."])
    return ["tatoeba", tmp / "spa.txt"], "spa.txt", "line 2 has no tab"


def tatoeba_missing_file(tmp):
    return ["tatoeba", tmp / "spa.txt"], "spa.txt", "missing"


def a4_missing_folder(tmp):
    return ["a4", tmp / "en_es_data"], "en_es_data", "no such folder"


def folder_with_valid_and_dev(tmp):
    for stem in ("train", "valid", "dev", "test"):
        write_parallel(tmp / "data", stem, numbered_pairs(stem, 3))
    return ["folder", tmp / "data"], "data", "both valid.es and dev.es"


def tatoeba_too_small_for_split(tmp):
    write_tsv(tmp / "spa.txt", 10)
    return ["tatoeba", tmp / "spa.txt", "--valid-size", 5, "--test-size", 5], "spa.txt", "need more than"


@pytest.mark.parametrize(
    "make_case",
    [
        a4_missing_train_en,
        folder_unequal_lengths,
        folder_not_utf8,
        tatoeba_line_without_tab,
        tatoeba_missing_file,
        a4_missing_folder,
        folder_with_valid_and_dev,
        tatoeba_too_small_for_split,
    ],
)
def test_input_error_is_one_line_naming_the_file_and_writes_nothing(tmp_path, make_case):
    args, file_name, problem = make_case(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("from an earlier run\n")
    result = run_cli("prepare", *args, "--out", out)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert file_name in result.stderr and problem in result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["kept.txt"]


def test_failed_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    def failing_replace(source, target):
        raise OSError(28, "No space left on device")

    from cs224n_nmt_plugin.text import files

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(InputError, match=r"train\.es: cannot write \(No space left on device\)"):
        files.write_files({tmp_path / "train.es": files.text_writer("uno\n"),
                           tmp_path / "train.en": files.text_writer("one\n")})
    assert list(tmp_path.iterdir()) == []


def test_output_folder_may_not_be_the_input_folder(tmp_path):
    for stem in ("train", "dev", "test"):
        write_parallel(tmp_path / "a4", stem, numbered_pairs(stem, 3))
    before = (tmp_path / "a4" / "train.es").read_bytes()
    result = run_cli("prepare", "a4", tmp_path / "a4", "--out", tmp_path / "a4")
    assert result.returncode == 1 and "is the input folder" in result.stderr
    assert (tmp_path / "a4" / "train.es").read_bytes() == before


# ----- empty lines -----------------------------------------------------------------------


def test_pairs_with_an_empty_side_are_dropped_from_both_sides(tmp_path):
    data = tmp_path / "data"
    train = [("uno", "one"), ("   ", "two"), ("tres", "three"), ("cuatro", ""), ("cinco  dos", "five  two")]
    write_parallel(data, "train", train)
    write_parallel(data, "dev", [("", "\t"), ("seis", "six")])
    write_parallel(data, "test", [("siete", "seven")])
    out = tmp_path / "out"
    result = run_cli("prepare", "folder", data, "--out", out)
    assert result.returncode == 0, result.stderr
    assert output_pairs(out, "train") == [("uno", "one"), ("tres", "three"),
                                          (f"cinco {EMPTY_TOKEN} dos", f"five {EMPTY_TOKEN} two")]
    assert output_pairs(out, "valid") == [("seis", "six")]
    assert "train 2, valid 1, test 0" in result.stdout
    record = json.loads((out / "prepare.json").read_text())
    assert record["dropped_empty_pairs"] == {"train": 2, "valid": 1, "test": 0}
    assert record["sizes"] == {"train": 3, "valid": 1, "test": 1}
    assert record["input_files"][2:4] == [str(data / "dev.es"), str(data / "dev.en")]


# ----- the bpe recipe --------------------------------------------------------------------

BPE_TRAIN = [
    ("El gato come pescado.", "The cat eats fish."),
    ("¿Dónde está el gato?", "Where is the cat?"),
    ("Los gatos comen, y los perros también.", "The cats eat, and the dogs too."),
    ("Ella habla con su hermana.", "She talks with her sister."),
    ("Nosotros hablamos español.", "We speak Spanish."),
    ("El perro no come pescado.", "The dog doesn't eat fish."),
] * 2
BPE_VALID = [("Los perros comen.", "The dogs eat.")]
BPE_TEST = [("¡El xilófono habla!", "The xylophone talks!")]


def test_bpe_recipe_learns_on_train_only_and_decodes_back(tmp_path):
    data = tmp_path / "data"
    for stem, pairs in [("train", BPE_TRAIN), ("valid", BPE_VALID), ("test", BPE_TEST)]:
        write_parallel(data, stem, pairs)
    out = tmp_path / "out"
    result = run_cli("prepare", "folder", data, "--out", out, "--recipe", "bpe", "--bpe-merges", 40)
    assert result.returncode == 0, result.stderr

    for lang, index in (("es", 0), ("en", 1)):
        tokenized = {split: [prepare.moses_tokenize(pair[index], lang) for pair in pairs]
                     for split, pairs in [("train", BPE_TRAIN), ("valid", BPE_VALID), ("test", BPE_TEST)]}
        codes = (out / f"bpe.codes.{lang}").read_text(encoding="utf-8")
        assert codes == prepare.learn_bpe_codes(tokenized["train"], 40)
        assert codes != prepare.learn_bpe_codes(sum(tokenized.values(), []), 40)
        for split in ("valid", "test"):
            assert read_lines(out / f"{split}.{lang}") == prepare.apply_bpe_codes(codes, tokenized[split])
    # a word never seen in train is cut into pieces; all lines decode to the original text
    assert "x@@ " in (out / "test.en").read_text(encoding="utf-8")
    for split, pairs in [("train", BPE_TRAIN), ("valid", BPE_VALID), ("test", BPE_TEST)]:
        for (es, en), (out_es, out_en) in zip(pairs, output_pairs(out, split), strict=True):
            assert decode_bpe_line(out_es, "es") == es
            assert decode_bpe_line(out_en, "en") == en
    record = json.loads((out / "prepare.json").read_text())
    assert record["recipe"] == "bpe" and record["recipe_options"]["bpe_merges"] == 40


# ----- hypotheses ------------------------------------------------------------------------


def test_postprocess_hypothesis_per_recipe():
    assert postprocess_hypothesis(f"so , {EMPTY_TOKEN} <unk> here", "word") == "so ,  <unk> here"
    assert postprocess_hypothesis("The xy@@ lo@@ phone doesn 't talk !", "bpe") == "The xylophone doesn't talk!"
    assert postprocess_hypothesis("¿ Dón@@ de está ?", "bpe", lang="es") == "¿Dónde está?"
    with pytest.raises(ValueError):
        postprocess_hypothesis("a b", "char")
