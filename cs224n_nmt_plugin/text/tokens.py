"""The text conventions the tools share: how an a4 '' token is written for fairseq, and how many
tokens a sentence may have."""

# fairseq's tokenizer collapses whitespace, so the word recipe writes each '' token of the a4 text
# (a double space) as this placeholder and reads it back as '' (text/prepare.py).
EMPTY_TOKEN = "<empty>"
# The most tokens a side may have: the model's 1024 source/target positions
# (model.DEFAULT_MAX_POSITIONS, fairseq's --max-source/target-positions) less the </s> fairseq appends.
MAX_TOKENS = 1023
