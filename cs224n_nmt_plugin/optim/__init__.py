"""What fairseq registers besides the model: the homework's optimizer (a4_adam.py)."""
from cs224n_nmt_plugin.optim.a4_adam import A4Adam  # noqa: F401  (registers a4_adam)
