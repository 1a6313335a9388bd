"""The test split of a binarized corpus decoded as scripts/translate.sh decodes it (fairseq-generate
with the pipeline's decoding options), read back as a4 text in input order, with fairseq's speed."""
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import malloc_settings
from cs224n_nmt_plugin.settings import SOURCE_LANG, TARGET_LANG, decoding_options
from cs224n_nmt_plugin.text.files import read_lines, write_lines
from cs224n_nmt_plugin.text.prepare import postprocess_hypothesis
from cs224n_nmt_plugin.text.translation_io import hypotheses_in_order, recipe_of

PLUGIN = Path(__file__).resolve().parents[1] / "cs224n_nmt_plugin"
GENERATE = [sys.executable, "-m", "fairseq_cli.generate"]  # fairseq-generate, wherever fairseq is installed
BATCHES = ["--batch-size", "64", "--required-batch-size-multiple", "1"]  # (fairseq drops a last partial batch)


@dataclass(frozen=True)
class Decoded:
    hypotheses: list  # a4 text, one per test sentence, in input order
    sentences_per_s: float  # fairseq-generate's own figure: generation alone, without loading
    output: Path  # fairseq-generate's output


class DecodingFailed(Exception):
    pass


def decode_test_split(data_bin, checkpoint, search, folder, cpu=True):
    """Decodes DATA_BIN's test split with ``checkpoint`` and ``search`` into ``folder``
    (generate-test.txt, its log and test_outputs.txt)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "generate-test.txt"
    command = [*GENERATE, str(data_bin), "--user-dir", str(PLUGIN), "--source-lang", SOURCE_LANG,
               "--target-lang", TARGET_LANG, "--gen-subset", "test", "--path", str(checkpoint),
               *decoding_options(search), *BATCHES, *(["--cpu"] if cpu else [])]
    with open(output, "w") as stdout, open(folder / "generate-test.log", "w") as stderr:
        status = subprocess.run(command, stdout=stdout, stderr=stderr, env=malloc_settings.environment()).returncode
    if status != 0:
        raise DecodingFailed(f"fairseq-generate failed (exit {status}); see {folder / 'generate-test.log'}")
    text_dir = Path(data_bin) / "text"
    count = len(read_lines(text_dir / "ref.test.en"))
    recipe = recipe_of(text_dir)
    hypotheses = [postprocess_hypothesis(h, recipe) for h in hypotheses_in_order(read_lines(output), count, output)]
    write_lines(folder / "test_outputs.txt", hypotheses)
    log = (folder / "generate-test.log").read_text()
    speed = re.search(r"Translated [\d,]+ sentences .* \(([\d.]+) sentences/s", log)
    return Decoded(hypotheses, float(speed.group(1)), output)

