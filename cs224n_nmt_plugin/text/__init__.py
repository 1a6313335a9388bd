"""Text tools that run without fairseq and torch: corpus preparation, translation text in and out
of fairseq's tools, BLEU, scores, learning curves and the error report. None of these modules
imports fairseq or torch when it is imported (tests/test_layout.py checks it); a command that
needs a model (the report's --checkpoint) loads it when it runs."""
