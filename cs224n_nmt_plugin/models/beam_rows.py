"""Which sentence each batch row belongs to, so that beam search copies only what it must.

Beam search keeps beam_size rows per source sentence and reorders them at every step, but
most reorders only move hypotheses between the rows of the same sentence. Tensors that
depend on the sentence alone (encoder states, attention keys and values) are then already
right in every row, so they are kept instead of copied. ``source_rows`` records, for every
row, the batch row of the sentence it belongs to; rows with equal entries hold identical copies.
"""
import torch

SOURCE_ROWS = "source_rows"


def source_rows(batch_size, device):
    """(B,) each row its own sentence: the encoder's output before any reorder."""
    return torch.arange(batch_size, device=device)


def select_rows(tensors, order):
    """Every tensor of ``tensors`` (a dict or a NamedTuple of batch-first tensors) at the rows ``order``."""
    if isinstance(tensors, dict):
        return {key: value.index_select(0, order) for key, value in tensors.items()}
    return type(tensors)(*(value.index_select(0, order) for value in tensors))


def reorder(rows, new_order):
    """The source rows after reordering the batch by ``new_order``, and whether every new row
    belongs to the same sentence as the old row at its position (then per-sentence tensors stay)."""
    new_rows = rows.index_select(0, new_order)
    return new_rows, torch.equal(new_rows, rows)
