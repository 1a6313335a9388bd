"""What POST /translate accepts and answers, apart from HTTP.

Request: a JSON object, UTF-8, ``{"lines": ["una frase", ...], "references": ["a sentence", ...],
"nbest": 1}``; ``references`` (one per line) and ``nbest`` (1 to 5, the beam) are optional. Every
line must have text; a line of more than MAX_TOKENS tokens (after the corpus's encoding) is cut
to its first MAX_TOKENS with a warning, as scripts/translate_file.sh does. A bad request is a
RequestError: its HTTP status and a one-line message.

Answer: ``{"translations": [...], "warnings": [...]}``, one entry per line (see answer()).
"""
import json
from dataclasses import dataclass

from cs224n_nmt_plugin.settings import BEAM
from cs224n_nmt_plugin.text.bleu import sentence_bleu, tokenize
from cs224n_nmt_plugin.text.tokens import MAX_TOKENS

MAX_BODY_BYTES = 1 << 20


class RequestError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TranslationRequest:
    lines: list
    references: list  # or None
    nbest: int


def parse(body, max_lines):
    """The TranslationRequest in ``body`` (bytes), or a RequestError saying what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"the request body has {len(body)} bytes; at most {MAX_BODY_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(400, f"the request body is not UTF-8 (byte 0x{body[error.start]:02x} at offset "
                                f"{error.start})") from None
    try:
        request = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"the request body is not JSON ({error.msg} at line {error.lineno} column "
                                f"{error.colno})") from None
    if not isinstance(request, dict) or "lines" not in request:
        raise RequestError(400, 'the request must be a JSON object with "lines": a list of Spanish sentences')
    unknown = sorted(set(request) - {"lines", "references", "nbest"})
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r}: the fields are lines, references and nbest")
    lines = strings(request["lines"], "lines")
    if not lines:
        raise RequestError(400, '"lines" is empty: send at least one sentence')
    if len(lines) > max_lines:
        raise RequestError(413, f"{len(lines)} lines in one request; at most {max_lines}")
    empty = next((number for number, line in enumerate(lines, start=1) if not line.strip()), None)
    if empty is not None:
        raise RequestError(400, f"line {empty} is empty: there is nothing to translate")
    references = request.get("references")
    if references is not None:
        references = strings(references, "references")
        if len(references) != len(lines):
            raise RequestError(400, f'"references" has {len(references)} entries for {len(lines)} lines')
    nbest = request.get("nbest", 1)
    if type(nbest) is not int or not 1 <= nbest <= BEAM:
        raise RequestError(400, f'"nbest" must be a whole number from 1 to {BEAM} (the beam)')
    return TranslationRequest(lines, references, nbest)


def strings(value, name):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequestError(400, f'"{name}" must be a list of strings')
    return value


def answer(request, translations):
    """The JSON answer to ``request`` for its Translations (translator.py)."""
    entries, warnings = [], []
    for number, (line, translation) in enumerate(zip(request.lines, translations), start=1):
        best = translation.hypotheses[0]
        entry = {
            "source": line,
            "translation": best.text,
            "nbest": [{"translation": h.text, "score": round(h.score, 4)}
                      for h in translation.hypotheses[:request.nbest]],
            "source_tokens": translation.source_tokens,
            "target_tokens": best.tokens,
            "attention": [[round(float(weight), 4) for weight in row] for row in best.attention],
            "unknown_source_tokens": [token for token, unknown in zip(translation.source_tokens, translation.unknown)
                                      if unknown],
        }
        if request.references is not None:
            score = sentence_bleu(tokenize(best.text), [tokenize(request.references[number - 1])])
            entry["sentence_bleu"] = {"bleu": round(score.bleu, 4),
                                      "precisions": [round(p, 4) for p in score.precisions],
                                      "brevity_penalty": round(score.brevity_penalty, 4), "hyp_len": score.hyp_len,
                                      "ref_len": score.ref_len}
        if translation.cut:
            warnings.append(f"line {number} has more than {MAX_TOKENS} tokens: cut to its first {MAX_TOKENS}")
        entries.append(entry)
    return {"translations": entries, "warnings": warnings}
