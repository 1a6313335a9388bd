"""The CS224n a4 NMT model (bidirectional LSTM encoder, input-feeding LSTM decoder,
multiplicative attention) as a fairseq plugin.

    models/     what fairseq registers: the cs224n_nmt model and its parts
    optim/      what fairseq registers: a4_adam, the homework's torch.optim.Adam
    criterions/ what fairseq registers: a4_cross_entropy, the homework's loss at the target words only
    tasks/      what fairseq registers: cs224n_translation, decoding with the homework's beam search
    text/       text tools that run without fairseq and torch (prepare, BLEU, scores, report, ...)
    homework/   the CS224n starter code's parameter names, vocabulary and model.bin
    cli.py      the command line, ``cs224n-nmt COMMAND`` or ``python -m cs224n_nmt_plugin COMMAND``

``--user-dir cs224n_nmt_plugin`` makes fairseq import this package after fairseq itself, and the
model, its architectures, the optimizer, the criterion and the task are registered at once. A plain
``import cs224n_nmt_plugin`` (the command line's text tools) does not load fairseq; ``from
cs224n_nmt_plugin import CS224nNMTModel`` registers them explicitly.
"""
import sys


def _register_the_model():
    from cs224n_nmt_plugin import criterions, models, optim, tasks  # noqa: F401  (each registers what it holds)
    from cs224n_nmt_plugin.errors import report_unsupported_options_in_one_line
    from cs224n_nmt_plugin.notices import silence_third_party_notices

    silence_third_party_notices()  # fairseq's Hydra and torch notices (notices.py)
    report_unsupported_options_in_one_line()
    return models


if "fairseq" in sys.modules:  # imported by fairseq (--user-dir)
    _register_the_model()


def __getattr__(name):
    if name == "CS224nNMTModel":
        return _register_the_model().CS224nNMTModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CS224nNMTModel"]
