"""The CS224n starter's vocabulary beside fairseq's Dictionary (A4_SPEC.md).

The starter numbers its specials <pad>=0 <s>=1 </s>=2 <unk>=3, fairseq <s>=0 <pad>=1
</s>=2 <unk>=3; the other words keep their order (the starter's ids are by frequency).
The a4 vocabulary holds the empty word '' (a double space in the text makes one); a
fairseq dictionary cannot (its files and tokenizer split on whitespace), so '' is the
pipeline's placeholder token EMPTY_TOKEN there, as in the prepared corpora (text/tokens.py).

``Vocab`` and ``VocabEntry`` stand in for the starter's classes of the same names in its
module ``vocab``: a model.bin pickles the starter's objects, and these let us read them
(as data only, with torch.load(weights_only=True)) and write objects the starter's code
unpickles, without that code.
"""
import contextlib
import sys
import types

from cs224n_nmt_plugin.settings import FAIRSEQ_SPECIALS
from cs224n_nmt_plugin.text.tokens import EMPTY_TOKEN

A4_SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")  # ids 0, 1, 2, 3 in the starter's vocabulary


class VocabError(ValueError):
    """A vocabulary fairseq cannot represent; the message is one line."""


class VocabEntry:
    """The starter's vocab.VocabEntry: ``word2id`` (and ``unk_id``, ``id2word`` derived from it)."""

    def __init__(self, word2id):
        self.word2id = word2id
        self.unk_id = word2id["<unk>"]
        self.id2word = {index: word for word, index in word2id.items()}


class Vocab:
    """The starter's vocab.Vocab: the source and target VocabEntry."""

    def __init__(self, src, tgt):
        self.src = src
        self.tgt = tgt


VocabEntry.__module__ = Vocab.__module__ = "vocab"  # pickled (and read back) as the starter's
STARTER_VOCAB_CLASSES = (Vocab, VocabEntry)


@contextlib.contextmanager
def starter_vocab_module():
    """While active, ``vocab`` is a module holding our Vocab and VocabEntry, so pickle
    writes them under the starter's names (it checks that the names resolve to the classes)."""
    module = types.ModuleType("vocab")
    module.Vocab, module.VocabEntry = Vocab, VocabEntry
    previous = sys.modules.get("vocab")
    sys.modules["vocab"] = module
    try:
        yield
    finally:
        if previous is None:
            del sys.modules["vocab"]
        else:
            sys.modules["vocab"] = previous


def check_word2id(word2id, side):
    """A starter word2id: str words with the ids 0..n-1, the four specials among them."""
    if not isinstance(word2id, dict) or not all(isinstance(w, str) and type(i) is int for w, i in word2id.items()):
        raise VocabError(f"the {side} vocabulary is not a word -> id mapping")
    if sorted(word2id.values()) != list(range(len(word2id))):
        raise VocabError(f"the {side} vocabulary's ids are not 0..{len(word2id) - 1}, each once")
    missing = [word for word in A4_SPECIALS if word not in word2id]
    if missing:
        raise VocabError(f"the {side} vocabulary lacks the special words {missing}")
    if "" in word2id and EMPTY_TOKEN in word2id:
        raise VocabError(f"the {side} vocabulary has both '' and {EMPTY_TOKEN}, which stands for ''")
    unwritable = [word for word in word2id if "\n" in word or "\r" in word]
    if unwritable:
        raise VocabError(f"the {side} vocabulary has words with line breaks, e.g. {unwritable[0]!r}")


def fairseq_order(word2id):
    """The starter's vocabulary in fairseq's order: returns the Dictionary's symbols and,
    for each, its starter id (the row of the starter's embedding or output matrix)."""
    words = list(FAIRSEQ_SPECIALS) + sorted(set(word2id) - set(FAIRSEQ_SPECIALS), key=word2id.get)
    return [word or EMPTY_TOKEN for word in words], [word2id[word] for word in words]


def starter_order(dictionary):
    """The inverse of fairseq_order: a fairseq Dictionary as the starter's word2id and, for
    each starter id, the Dictionary index it comes from."""
    if tuple(dictionary.symbols[: dictionary.nspecial]) != FAIRSEQ_SPECIALS:
        raise VocabError(f"the dictionary's special words are not fairseq's default {list(FAIRSEQ_SPECIALS)}")
    indices = [dictionary.index(word) for word in A4_SPECIALS] + list(range(dictionary.nspecial, len(dictionary)))
    words = ["" if dictionary[i] == EMPTY_TOKEN else dictionary[i] for i in indices]
    return {word: a4_id for a4_id, word in enumerate(words)}, indices


def dictionary_text(symbols):
    """A fairseq dict.txt for ``symbols`` (specials first, as fairseq_order gives them).
    The starter keeps no counts: every word gets count 1, which fairseq only stores."""
    return "".join(f"{symbol} 1\n" for symbol in symbols[len(FAIRSEQ_SPECIALS):])
