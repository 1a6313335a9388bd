"""What fairseq registers: the ``cs224n_nmt`` model (nmt_model.py) and the parts it is built of.

fairseq's ``--user-dir`` imports every module of this folder; ``import cs224n_nmt_plugin.models``
does the same for Python users."""
from cs224n_nmt_plugin.models.nmt_model import CS224nNMTModel  # noqa: F401  (registers cs224n_nmt)
