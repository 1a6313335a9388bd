"""A tiny real run through fairseq's own command-line tools with --user-dir: the copy task of
conftest.copy_model, trained by fairseq-train (with --eval-bleu), then fairseq-generate,
fairseq-interactive and the hub interface translate with it."""
import pytest

from conftest import PLUGIN, best_texts, fairseq_records, output_lines, run_tool

pytestmark = pytest.mark.slow  # fairseq-train and fairseq's tools


def test_training_lowers_the_loss(copy_model):
    train = fairseq_records(copy_model.train_log, "train")
    valid = fairseq_records(copy_model.train_log, "valid")
    assert len(train) == 8 and len(valid) == 8
    assert float(train[-1]["train_loss"]) < 0.2 * float(train[0]["train_loss"])
    assert min(float(v["valid_loss"]) for v in valid) < 0.2 * float(valid[0]["valid_loss"])


def test_generate_translates_every_test_sentence(copy_model):
    result = run_tool("fairseq-generate", copy_model.data_bin, "--user-dir", PLUGIN, "--path", copy_model.checkpoint,
                      "--beam", "5", "--batch-size", "8", "--required-batch-size-multiple", "1", "--print-alignment")
    hypotheses = best_texts(result.stdout)
    references = (copy_model.root / "test.en").read_text().splitlines()
    assert sorted(hypotheses) == list(range(len(references)))  # 37: not a multiple of the batch size
    correct = sum(hypotheses[i] == ref for i, ref in enumerate(references))
    assert correct >= 0.9 * len(references)
    # --print-alignment reads the decoder's attention: one source position per target word
    assert len(output_lines(result.stdout, "A")) == len(references)


def test_interactive_translates_stdin(copy_model):
    result = run_tool("fairseq-interactive", copy_model.data_bin, "--user-dir", PLUGIN, "--path", copy_model.checkpoint,
                      "--source-lang", "es", "--target-lang", "en", "--beam", "5", stdin="a b c d\nl k j\n")
    assert list(best_texts(result.stdout).values()) == ["A B C D", "L K J"]


def test_hub_interface_loads_and_translates(copy_model):
    from cs224n_nmt_plugin import CS224nNMTModel

    hub = CS224nNMTModel.from_pretrained(str(copy_model.save_dir), checkpoint_file="checkpoint_best.pt",
                                         data_name_or_path=str(copy_model.data_bin))
    assert hub.translate(["e f g h", "b b a"], beam=5) == ["E F G H", "B B A"]
