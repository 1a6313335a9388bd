"""What fairseq registers besides the model and the optimizer: a4_cross_entropy, the homework's loss
computed at the target words only (a4_cross_entropy.py)."""
from cs224n_nmt_plugin.criterions.a4_cross_entropy import A4CrossEntropyCriterion  # noqa: F401  (registers it)
