"""The CS224n a4 NMT model (bidirectional LSTM encoder, input-feeding LSTM decoder,
multiplicative attention) as a fairseq plugin.

fairseq imports this package when given ``--user-dir cs224n_nmt_plugin``; importing it
registers the ``cs224n_nmt`` model and its architectures and lets fairseq's checkpoint
loader work under torch >= 2.6 (see torch_load_compat).
"""
from cs224n_nmt_plugin.torch_load_compat import allow_fairseq_checkpoints

allow_fairseq_checkpoints()

from cs224n_nmt_plugin.model import CS224nNMTModel  # noqa: E402  (registers the model)

__all__ = ["CS224nNMTModel"]
