"""A CS224n homework checkpoint (the starter code's model.bin) to a fairseq checkpoint, and back.

    cs224n-nmt import-model-bin MODEL_BIN OUT_DIR [--vocab vocab.json]
    cs224n-nmt export-model-bin CHECKPOINT DICT_DIR MODEL_BIN

``import-model-bin`` writes OUT_DIR/checkpoint.pt (arch cs224n_lstm, task translation es -> en) and
the dictionaries OUT_DIR/dict.es.txt, dict.en.txt, so OUT_DIR is also the data directory:

    fairseq-interactive OUT_DIR --user-dir cs224n_nmt_plugin --path OUT_DIR/checkpoint.pt \\
        --source-lang es --target-lang en --task cs224n_translation --beam 5 --max-len-a 0 --max-len-b 70

Framing: the homework encodes the source without </s> and starts the decoder from <s>;
fairseq appends </s> to the source and starts from </s>. The imported model has
--a4-framing, under which the encoder treats the source's </s> as padding and the decoder
reads its </s> start symbol as <s>, so it scores every sentence pair exactly as the
homework's model does, in training, fairseq-generate, fairseq-interactive and the hub.

Vocabulary: the starter's ids are renumbered to fairseq's (homework/vocab.py: the specials
swap places, the empty word '' becomes EMPTY_TOKEN), and the rows of the embeddings and of
W_vocab are permuted to match. ``--vocab vocab.json`` ({"src_word2id", "tgt_word2id"})
is used instead of the vocabulary pickled in model.bin.

Safety: model.bin is read with torch.load(weights_only=True), the starter's vocab classes
standing in as data-only stubs: nothing in the file is executed.

``export-model-bin`` is the inverse, for a cs224n_nmt checkpoint with multiplicative attention and
--a4-framing (the starter's code computes no other model); DICT_DIR holds its dict.es.txt
and dict.en.txt. The model.bin is in torch's legacy format, which torch 1.0 (the
homework's) reads too, and its vocab unpickles as the starter's vocab.Vocab.

Errors: one line on stderr naming the file, exit status 1. Outputs are written to
temporary names and renamed into place only when all are written.
"""
import io
import json
import warnings
from pathlib import Path

import torch
from fairseq import checkpoint_utils, options
from fairseq.data import Dictionary
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.tasks.translation import TranslationTask
from omegaconf import OmegaConf

from cs224n_nmt_plugin.errors import InputError, brief
from cs224n_nmt_plugin.homework.parameter_names import from_cs224n_state_dict, to_cs224n_state_dict
from cs224n_nmt_plugin.homework.vocab import (
    STARTER_VOCAB_CLASSES,
    Vocab,
    VocabEntry,
    VocabError,
    check_word2id,
    dictionary_text,
    fairseq_order,
    starter_order,
    starter_vocab_module,
)
from cs224n_nmt_plugin.models import CS224nNMTModel
from cs224n_nmt_plugin.settings import SOURCE_LANG, TARGET_LANG
from cs224n_nmt_plugin.text.files import text_writer, write_files

CHECKPOINT_NAME = "checkpoint.pt"
# The starter's parameters with one row per word, and the side of the vocabulary they index.
VOCAB_ROWS = {
    "model_embeddings.source.weight": "src",
    "model_embeddings.target.weight": "tgt",
    "target_vocab_projection.weight": "tgt",
}


def read_model_bin(path):
    """The dict the starter's NMT.save wrote, read as data only."""
    if not path.is_file():
        raise InputError(path, "missing or not a file")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(list(STARTER_VOCAB_CLASSES)):
            warnings.simplefilter("ignore")  # our one-line error replaces torch's pickle warnings
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways on files it cannot read
        raise InputError(path, f"not a CS224n model.bin: torch.load(weights_only=True) fails ({brief(error)})") \
            from error
    if not isinstance(saved, dict) or not {"args", "state_dict"} <= saved.keys():
        raise InputError(path, "not a CS224n model.bin: no dict with 'args', 'vocab' and 'state_dict'")
    args = saved["args"]
    if not (isinstance(args, dict) and type(args.get("embed_size")) is int and type(args.get("hidden_size")) is int
            and type(args.get("dropout_rate")) in (int, float)):
        raise InputError(path, "not a CS224n model.bin: 'args' lacks embed_size, hidden_size or dropout_rate")
    if not isinstance(saved["state_dict"], dict):
        raise InputError(path, "not a CS224n model.bin: 'state_dict' is not a dict")
    return saved


def starter_vocabularies(saved, model_bin, vocab_json):
    """(source word2id, target word2id) from vocab.json if given, else from model.bin."""
    if vocab_json is not None:
        if not vocab_json.is_file():
            raise InputError(vocab_json, "missing or not a file")
        try:
            vocab = json.loads(vocab_json.read_text(encoding="utf-8"))
            src, tgt = vocab["src_word2id"], vocab["tgt_word2id"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise InputError(vocab_json, "not a CS224n vocab.json: "
                                              "no JSON object with src_word2id and tgt_word2id") from error
        origin = vocab_json
    else:
        vocab = saved.get("vocab")
        if not isinstance(vocab, Vocab) or not all(isinstance(getattr(vocab, side, None), VocabEntry)
                                                   for side in ("src", "tgt")):
            raise InputError(model_bin, "holds no starter vocab.Vocab under 'vocab' (pass --vocab vocab.json)")
        src, tgt, origin = getattr(vocab.src, "word2id", None), getattr(vocab.tgt, "word2id", None), model_bin
    try:
        check_word2id(src, "source")
        check_word2id(tgt, "target")
    except VocabError as error:
        raise InputError(origin, str(error)) from error
    return src, tgt


def permute_vocab_rows(state, rows, path):
    """``state`` with each VOCAB_ROWS parameter's rows taken in the order ``rows[side]``."""
    reordered = dict(state)
    for name, side in VOCAB_ROWS.items():
        tensor = state.get(name)
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2 or tensor.size(0) != len(rows[side]):
            found = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else "nothing"
            raise InputError(path, f"{name} should have {len(rows[side])} rows (one per word), found {found}")
        reordered[name] = tensor[torch.tensor(rows[side])]
    return reordered


def fairseq_args(out_dir, starter_args):
    """The imported model's fairseq arguments, parsed as fairseq-train parses its command line."""
    argv = [
        str(out_dir), "--task", "translation", "--source-lang", SOURCE_LANG, "--target-lang", TARGET_LANG,
        "--arch", "cs224n_lstm", "--embed-size", str(starter_args["embed_size"]),
        "--hidden-size", str(starter_args["hidden_size"]), "--dropout", str(float(starter_args["dropout_rate"])),
        "--attention", "multiplicative", "--a4-framing",
    ]
    return options.parse_args_and_arch(options.get_training_parser(), argv)


def import_model_bin(model_bin, out_dir, vocab_json=None):
    """Write OUT_DIR/checkpoint.pt, dict.es.txt and dict.en.txt for a starter model.bin."""
    saved = read_model_bin(model_bin)
    src_word2id, tgt_word2id = starter_vocabularies(saved, model_bin, vocab_json)
    (src_symbols, src_rows), (tgt_symbols, tgt_rows) = fairseq_order(src_word2id), fairseq_order(tgt_word2id)
    state = permute_vocab_rows(saved["state_dict"], {"src": src_rows, "tgt": tgt_rows}, model_bin)

    dict_texts = {SOURCE_LANG: dictionary_text(src_symbols), TARGET_LANG: dictionary_text(tgt_symbols)}
    cfg = convert_namespace_to_omegaconf(fairseq_args(out_dir, saved["args"]))
    # The dictionaries exactly as fairseq will load them from the files written below.
    src_dict, tgt_dict = (Dictionary.load(io.StringIO(dict_texts[lang])) for lang in (SOURCE_LANG, TARGET_LANG))
    model = TranslationTask(cfg.task, src_dict, tgt_dict).build_model(cfg.model)
    try:
        from_cs224n_state_dict(model, state)
    except (KeyError, RuntimeError) as error:
        problem = " ".join(str(error.args[0]).split())
        raise InputError(model_bin, f"'state_dict' is not the a4 model's: {problem}") from error

    checkpoint = {
        "args": None,
        "cfg": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
        "model": model.state_dict(),
        "criterion": None,
        # What fairseq reads when it loads a checkpoint; model.bin holds no optimizer state.
        "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": None,
                               "lr_scheduler_state": {"best": None}, "num_updates": 0}],
        "task_state": {},
        "extra_state": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_files({
        out_dir / CHECKPOINT_NAME: lambda path: torch.save(checkpoint, path),
        **{out_dir / f"dict.{lang}.txt": text_writer(text) for lang, text in dict_texts.items()},
    })


def export_model_bin(checkpoint_path, dict_dir, model_bin):
    """Write a starter model.bin for a cs224n_nmt checkpoint with --a4-framing."""
    if not checkpoint_path.is_file():
        raise InputError(checkpoint_path, "missing or not a file")
    if not dict_dir.is_dir():
        raise InputError(dict_dir, "missing or not a directory")
    try:
        models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(checkpoint_path)], arg_overrides={"data": str(dict_dir)}
        )
    except Exception as error:  # fairseq's loader fails in many ways on other files
        raise InputError(checkpoint_path,
                              f"cannot be loaded with the dictionaries in {dict_dir} ({brief(error)})") from error
    model = models[0]
    if not isinstance(model, CS224nNMTModel):
        raise InputError(checkpoint_path, f"is not a cs224n_nmt model (arch {cfg.model.arch})")
    if not model.encoder.a4_framing:
        raise InputError(checkpoint_path, "has fairseq's framing, not the homework's: the starter's code would "
                                               "feed it other inputs (train with --a4-framing to export)")
    try:
        state = to_cs224n_state_dict(model)
        (src_word2id, src_rows), (tgt_word2id, tgt_rows) = (
            starter_order(task.source_dictionary), starter_order(task.target_dictionary)
        )
    except (ValueError, VocabError) as error:
        raise InputError(checkpoint_path, str(error)) from error

    saved = {
        "args": {"embed_size": cfg.model.embed_size, "hidden_size": cfg.model.hidden_size,
                 "dropout_rate": cfg.model.dropout},
        "vocab": Vocab(VocabEntry(src_word2id), VocabEntry(tgt_word2id)),
        "state_dict": permute_vocab_rows(state, {"src": src_rows, "tgt": tgt_rows}, checkpoint_path),
    }

    def save(path):
        with starter_vocab_module():
            torch.save(saved, path, _use_new_zipfile_serialization=False)  # legacy format: torch 1.0 reads it

    model_bin.parent.mkdir(parents=True, exist_ok=True)
    write_files({model_bin: save})


def add_import_arguments(parser):
    parser.add_argument("model_bin", type=Path, help="the starter code's model.bin")
    parser.add_argument("out_dir", type=Path, help="the checkpoint directory to write (checkpoint.pt, dict.*.txt)")
    parser.add_argument("--vocab", type=Path, help="the homework's vocab.json, instead of model.bin's vocab")


def run_import(args):
    import_model_bin(args.model_bin, args.out_dir, args.vocab)


def add_export_arguments(parser):
    parser.add_argument("checkpoint", type=Path, help="a cs224n_nmt checkpoint trained with --a4-framing")
    parser.add_argument("dict_dir", type=Path, help="the folder with the checkpoint's dict.es.txt, dict.en.txt")
    parser.add_argument("model_bin", type=Path, help="the starter code's model.bin to write")


def run_export(args):
    export_model_bin(args.checkpoint, args.dict_dir, args.model_bin)
