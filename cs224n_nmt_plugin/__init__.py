"""The CS224n a4 NMT model (bidirectional LSTM encoder, input-feeding LSTM decoder,
multiplicative attention) as a fairseq plugin.

``--user-dir cs224n_nmt_plugin`` makes fairseq import this package after fairseq itself:
the model and its architectures are then registered at once (see model.py). The text
tools of the package (prepare, bleu, ...) run without fairseq, so a plain
``import cs224n_nmt_plugin`` does not load it; ``from cs224n_nmt_plugin import
CS224nNMTModel`` (or ``import cs224n_nmt_plugin.model``) registers the model explicitly.
"""
import sys

if "fairseq" in sys.modules:
    from cs224n_nmt_plugin import model  # noqa: F401  (registers cs224n_nmt)


def __getattr__(name):
    if name == "CS224nNMTModel":
        from cs224n_nmt_plugin.model import CS224nNMTModel

        return CS224nNMTModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CS224nNMTModel"]
