"""Which sentence each batch row belongs to, so that beam search copies only what it must.

Beam search keeps beam_size rows per source sentence and reorders them at every step, but
most reorders only move hypotheses between the rows of the same sentence. Tensors that
depend on the sentence alone (encoder states, attention keys and values) are then already
right in every row, so they are kept instead of copied. ``source_rows`` records, for every
row, the batch row of the sentence it belongs to; rows with equal entries hold identical copies.
"""
from typing import NamedTuple

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


class BeamCopies(NamedTuple):
    """Rows that are copies of one another: ``representatives`` (one row of each sentence) and,
    for every row, ``of_row``, the index of its sentence's representative among them."""

    representatives: torch.Tensor
    of_row: torch.Tensor


def first_step_copies(rows, prev_output_tokens):
    """The BeamCopies of a first decoding step, or None when no two rows share both a sentence
    and their tokens (greedy search). Rows of one sentence share the encoder's outputs, so a first
    step over the same tokens gives them the same results."""
    sentences, of_row = torch.unique(rows, return_inverse=True)
    if sentences.numel() == rows.numel():
        return None
    representatives = torch.empty_like(sentences).scatter_(0, of_row, torch.arange(of_row.numel(), device=of_row.device))
    if not torch.equal(prev_output_tokens[representatives][of_row], prev_output_tokens):
        return None
    return BeamCopies(representatives, of_row)
