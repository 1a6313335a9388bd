"""Reordering batch-first state for beam search without copying what beams share.

Beam search keeps beam_size rows per source sentence and reorders them at every step, but
most reorders only move hypotheses between the rows of the same sentence. Tensors that
depend on the sentence alone (encoder states, attention keys) are then already right in
every row, so they are kept instead of copied. ``source_rows`` records, for every row, the
batch row of the sentence it belongs to; rows with equal entries hold identical copies.
"""
import torch

SOURCE_ROWS = "source_rows"


def source_rows(batch_size, device):
    return torch.arange(batch_size, device=device)


def reorder_rows(tensors, new_order, per_sentence):
    """``tensors`` (a dict with SOURCE_ROWS, all batch-first) in the row order ``new_order``.

    Tensors named in ``per_sentence`` are returned as they are when every new row belongs
    to the same sentence as the old row at its position.
    """
    rows = tensors[SOURCE_ROWS].index_select(0, new_order)
    rows_keep_sentence = torch.equal(rows, tensors[SOURCE_ROWS])
    return {
        key: value if rows_keep_sentence and (key in per_sentence or key == SOURCE_ROWS)
        else value.index_select(0, new_order)
        for key, value in tensors.items()
    }


def first_step_rows(rows_source, prev_output_tokens):
    """Rows that start alike: returns (one row of each sentence, for every row the index of its
    sentence's row among those), or None when no two rows share a sentence and the tokens.
    Rows of one sentence share the encoder's outputs, so a first decoder step over the same
    tokens gives them the same results."""
    sentences, copies = torch.unique(rows_source, return_inverse=True)
    if sentences.numel() == rows_source.numel():
        return None
    representatives = torch.empty_like(sentences).scatter_(0, copies, torch.arange(copies.numel(), device=copies.device))
    if not torch.equal(prev_output_tokens[representatives][copies], prev_output_tokens):
        return None
    return representatives, copies
