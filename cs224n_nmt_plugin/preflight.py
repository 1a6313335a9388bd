"""Checks a checkpoint against a data-bin before fairseq is started on them.

    cs224n-nmt preflight check CHECKPOINT DATA_BIN
    cs224n-nmt preflight resume SAVE_DIR DATA_BIN

fairseq answers a missing, truncated or foreign checkpoint, or a data-bin whose
dictionaries are not the ones the model was trained with, with a long traceback (and
dictionaries of the same sizes but other words go unnoticed: the output is garbage).
``check`` answers each of these with one line on stderr that names the file and the
problem, and exit status 1; it reads the file with torch.load(weights_only=True, mmap)
so nothing in it is executed and a large checkpoint is not read into memory. It checks:
the file exists and is a complete torch file; it is a fairseq checkpoint (``model`` and
``cfg``/``args``) of a cs224n_nmt architecture (--arch cs224n_lstm*); its source and
target embeddings have as many rows as DATA_BIN/dict.{es,en}.txt have entries (plus
fairseq's 4 specials). Only the sizes can be compared: a checkpoint stores no words.

``resume`` runs before fairseq-train resumes from SAVE_DIR/checkpoint_last.pt. fairseq
writes the first file of a save atomically (to .tmp, then renamed) but *copies* it to
checkpoint_last.pt (and checkpoint_best.pt) with a plain file copy, so a kill during the
copy leaves a truncated checkpoint_last.pt, on which fairseq-train would fail at every
restart. ``resume`` replaces such a file with the readable checkpoint of SAVE_DIR with
the most updates (the newest checkpoint_EPOCH_UPDATES.pt, or checkpoint_best.pt when it
is the first file of its save), and fails with one line when none is readable or when
checkpoint_last.pt was trained with other dictionaries than DATA_BIN's.
"""
import re
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError, brief
from cs224n_nmt_plugin.settings import FAIRSEQ_SPECIALS, SOURCE_LANG, TARGET_LANG
from cs224n_nmt_plugin.text.files import copy_writer, write_files

ARCH_PREFIX = "cs224n_"
EMBEDDINGS = {SOURCE_LANG: "encoder.embed_tokens.weight", TARGET_LANG: "decoder.embed_tokens.weight"}


class UnreadableCheckpoint(InputError):
    """The file is not a complete torch file (e.g. truncated)."""


def load_checkpoint(path):
    """The checkpoint's top-level dict, loaded without executing anything in it."""
    import torch

    from cs224n_nmt_plugin.safe_loading import allow_fairseq_checkpoints

    allow_fairseq_checkpoints()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    with open(path, "rb") as stream:
        start = stream.read(2)
    if not start:
        raise UnreadableCheckpoint(path, "is empty")
    if start != b"PK" and start[:1] != b"\x80":  # neither torch's zip format nor a (legacy) pickle
        raise UnreadableCheckpoint(path, "is not a torch checkpoint file")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):  # a legacy (non-zip) torch file cannot be mapped
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if unsupported:  # a pickle of other classes (e.g. the starter's model.bin with its vocab.Vocab)
            raise InputError(path, f"is not a fairseq checkpoint: it holds a {unsupported[1].rstrip('.')} object") \
                from error
        raise UnreadableCheckpoint(path, f"is truncated or damaged, torch cannot read it ({brief(error)})") from error
    if not isinstance(state, dict) or "model" not in state or not ({"cfg", "args"} & set(state)):
        keys = ", ".join(map(str, list(state)[:6])) if isinstance(state, dict) else type(state).__name__
        raise InputError(path, f"is not a fairseq checkpoint (no 'model' and 'cfg' entries; it has: {keys})")
    return state


def architecture(state):
    """The --arch a fairseq checkpoint was trained with (from cfg, or legacy args)."""
    cfg = state.get("cfg")
    model_cfg = cfg.get("model") if isinstance(cfg, dict) else None
    if model_cfg is None:
        model_cfg = state.get("args")
    if isinstance(model_cfg, dict):
        return model_cfg.get("arch") or model_cfg.get("_name")
    return getattr(model_cfg, "arch", None) or getattr(model_cfg, "_name", None)


def dictionary_size(data_bin, lang):
    """Entries of DATA_BIN/dict.LANG.txt as fairseq loads it: its 4 specials, then one per line."""
    path = Path(data_bin) / f"dict.{lang}.txt"
    if not path.is_file():
        raise InputError(path, f"missing: {data_bin} is not a fairseq-preprocess folder with {lang} text")
    with open(path, "rb") as stream:
        return len(FAIRSEQ_SPECIALS) + sum(1 for line in stream if line.strip())


def check_state(path, state, data_bin):
    arch = architecture(state)
    if not (arch or "").startswith(ARCH_PREFIX):
        raise InputError(path, f"is a fairseq checkpoint of --arch {arch}, not of this plugin's cs224n_lstm*")
    for lang, name in EMBEDDINGS.items():
        if name not in state["model"]:
            raise InputError(path, f"has no parameter {name}: not a cs224n_nmt model")
        rows, entries = state["model"][name].shape[0], dictionary_size(data_bin, lang)
        if rows != entries:
            raise InputError(
                path, f"was trained with a {rows}-entry {lang} dictionary but {Path(data_bin) / f'dict.{lang}.txt'} "
                      f"has {entries} entries: use the data-bin it was trained with")


def check(checkpoint, data_bin):
    check_state(checkpoint, load_checkpoint(checkpoint), data_bin)


def num_updates(state):
    history = state.get("optimizer_history") or [{}]
    return int(history[-1].get("num_updates", 0))


def resume(save_dir, data_bin):
    """Makes SAVE_DIR/checkpoint_last.pt usable for resuming, if it exists; returns a note or None."""
    last = Path(save_dir) / "checkpoint_last.pt"
    if not last.exists():
        return None
    try:
        check(last, data_bin)
        return None
    except UnreadableCheckpoint as error:
        damage = error
    candidates = []
    for path in sorted(Path(save_dir).glob("checkpoint*.pt")):
        if path == last:
            continue
        try:
            state = load_checkpoint(path)
            check_state(path, state, data_bin)
        except InputError:
            continue
        candidates.append((num_updates(state), path))
    if not candidates:
        raise InputError(last, f"{damage.problem}; no other checkpoint in {save_dir} "
                                   "is readable: remove it to train from the start")
    updates, source = max(candidates)
    write_files({last: copy_writer(source)})
    return f"{last} was damaged (a kill during fairseq's copy?): replaced by {source.name} ({updates} updates)"


def add_arguments(parser):
    commands = parser.add_subparsers(dest="check", required=True, metavar="CHECK")
    check_parser = commands.add_parser("check", help="a checkpoint fits a data-bin")
    check_parser.add_argument("checkpoint", type=Path)
    check_parser.add_argument("data_bin", type=Path)
    resume_parser = commands.add_parser("resume", help="SAVE_DIR/checkpoint_last.pt can be resumed from")
    resume_parser.add_argument("save_dir", type=Path)
    resume_parser.add_argument("data_bin", type=Path)


def run(args):
    if args.check == "check":
        check(args.checkpoint, args.data_bin)
        return
    note = resume(args.save_dir, args.data_bin)
    if note:
        print(note)
