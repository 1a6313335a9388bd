"""Let fairseq load its own checkpoints under torch >= 2.6.

torch.load defaults to weights_only=True since torch 2.6, and fairseq's loader
(checkpoint_utils.load_checkpoint_to_cpu) does not pass weights_only=False, so every
checkpoint fails with "Unsupported global: argparse.Namespace". Instead of turning the
safety check off, we allow exactly the extra types a fairseq checkpoint holds:
the argparse.Namespace of legacy args, and the numpy arrays and scalars that
training stores in its extra state (e.g. the best BLEU of --eval-bleu runs).
"""
import argparse
import importlib

import numpy as np
import torch

_NUMERIC_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)


def _multiarray():
    """numpy's multiarray module: numpy._core's under numpy 2; under numpy 1.x numpy.core's
    (1.26 has a numpy._core too, but only as a stub for unpickling)."""
    major = int(np.__version__.split(".")[0])
    return importlib.import_module("numpy._core.multiarray" if major >= 2 else "numpy.core.multiarray")


def _numpy_globals():
    multiarray = _multiarray()
    safe = [np.ndarray, np.dtype]
    safe += [type(np.dtype(name)) for name in _NUMERIC_DTYPES]
    # Checkpoints pickled under numpy 1.x name these numpy.core.multiarray.*,
    # under numpy 2.x numpy._core.multiarray.*: accept both spellings.
    for name in ("_reconstruct", "scalar"):
        fn = getattr(multiarray, name)
        safe.append((fn, f"numpy.core.multiarray.{name}"))
        safe.append((fn, f"numpy._core.multiarray.{name}"))
    return safe


def allow_fairseq_checkpoints():
    """Register the non-tensor types found in fairseq checkpoints as safe to unpickle."""
    if hasattr(torch.serialization, "add_safe_globals"):
        torch.serialization.add_safe_globals([argparse.Namespace] + _numpy_globals())
