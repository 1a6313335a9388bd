"""Shared helpers: tiny fairseq dictionaries, model construction, collated batches."""
import argparse
from pathlib import Path

import pytest
import torch
from fairseq.data import Dictionary, LanguagePairDataset

import cs224n_nmt_plugin  # noqa: F401  (registers the model)
from cs224n_nmt_plugin.models import CS224nNMTModel

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def make_dictionary(num_words):
    dictionary = Dictionary()
    for index in range(num_words):
        dictionary.add_symbol(f"w{index}")
    return dictionary


class TinyTask:
    """The two attributes of a fairseq task that build_model reads."""

    def __init__(self, source_dictionary, target_dictionary):
        self.source_dictionary = source_dictionary
        self.target_dictionary = target_dictionary


def build_model(src_dict, tgt_dict, embed_size=6, hidden_size=5, dropout=0.0, **model_args):
    """A cs224n_nmt model; ``model_args`` are further options by name (attention, a4_framing)."""
    args = argparse.Namespace(embed_size=embed_size, hidden_size=hidden_size, dropout=dropout, **model_args)
    return CS224nNMTModel.build_model(args, TinyTask(src_dict, tgt_dict))


def random_sentences(generator, dictionary, lengths):
    """Random word ids (never specials), each sentence ended by </s> like fairseq's data."""
    low = dictionary.nspecial
    return [
        torch.cat([torch.randint(low, len(dictionary), (n,), generator=generator), torch.tensor([dictionary.eos()])])
        for n in lengths
    ]


def collate(src_dict, tgt_dict, sources, targets, left_pad_source=True):
    """A padded batch exactly as fairseq's translation task makes it."""
    dataset = LanguagePairDataset(
        sources, [len(s) for s in sources], src_dict,
        targets, [len(t) for t in targets], tgt_dict,
        left_pad_source=left_pad_source, left_pad_target=False,
    )
    return dataset.collater([dataset[i] for i in range(len(sources))])


@pytest.fixture
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED
