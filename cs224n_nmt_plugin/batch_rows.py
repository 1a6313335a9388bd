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
