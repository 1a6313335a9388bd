"""What fairseq registers besides the model, the optimizer and the criterion: cs224n_translation,
fairseq's translation task decoding with the homework's beam search (cs224n_translation.py)."""
from cs224n_nmt_plugin.tasks.cs224n_translation import CS224nTranslationTask  # noqa: F401  (registers it)
