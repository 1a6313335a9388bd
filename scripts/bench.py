"""Speed microbenchmark: cs224n_lstm against fairseq's lstm (its closest match), in one process.

    .venv/bin/python scripts/bench.py [--steps 20] [--json bench.json]

For each target-vocabulary size (Tatoeba-sized and a4-sized), both models are built at the
homework sizes and run alternately on identical batches of 32 random sentence pairs:
the median train step (forward + backward + clip + Adam) in target tokens/s, on batches of
mixed lengths (about half of the target positions are padding) and on batches of one source
length (targets within one word of it: about 5% padding, as in fairseq's length-sorted batches,
where a smaller share of the work is the recurrence), generation in
sentences/s at beam 5 and greedy (fixed output length, so both do the same number of steps;
each model prepared as fairseq-generate prepares it), and peak memory (RSS of a child process
that only trains that model). It also prints the floating-point work per target token (counted
by torch's FlopCounterMode) and the GFLOP/s this reaches against the machine's measured matmul
rate.

It runs with the pipeline's malloc settings (scripts/malloc_settings.py) for
both models, or with glibc's defaults given --glibc-malloc-defaults.
"""
import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from fairseq.data import Dictionary, LanguagePairDataset
from fairseq.sequence_generator import SequenceGenerator
from torch.utils.flop_counter import FlopCounterMode

import malloc_settings
from cs224n_nmt_plugin import CS224nNMTModel
from fairseq_lstm_baseline import build_fairseq_lstm

VOCABULARIES = {"tatoeba-sized": (22_484, 15_098), "a4-sized": (50_004, 50_002)}  # (source, target) words
BATCH, SOURCE_LENGTHS, OUTPUT_STEPS = 32, (5, 35), 30


class Task:
    def __init__(self, source_words, target_words):
        self.source_dictionary = dictionary(source_words)
        self.target_dictionary = dictionary(target_words)


def dictionary(words):
    d = Dictionary()
    for i in range(words):
        d.add_symbol(f"w{i}")
    return d


def build(name, task):
    if name == "cs224n_lstm":
        args = argparse.Namespace(embed_size=256, hidden_size=256, dropout=0.3)
        return CS224nNMTModel.build_model(args, task)
    return build_fairseq_lstm(task)


def random_batch(task, generator, one_length=False):
    """32 random pairs: source lengths drawn from SOURCE_LENGTHS each (or one drawn for the whole
    batch), each target's within 3 words of its source's (within 1 with one_length)."""
    def sentence(d, n):
        return torch.cat([torch.randint(d.nspecial, len(d), (n,), generator=generator), torch.tensor([d.eos()])])

    if one_length:
        lengths, spread = torch.randint(*SOURCE_LENGTHS, (1,), generator=generator).tolist() * BATCH, 1
    else:
        lengths, spread = torch.randint(*SOURCE_LENGTHS, (BATCH,), generator=generator).tolist(), 3
    sources = [sentence(task.source_dictionary, n) for n in lengths]
    targets = [sentence(task.target_dictionary,
                        max(1, n + int(torch.randint(-spread, spread + 1, (1,), generator=generator))))
               for n in lengths]
    dataset = LanguagePairDataset(sources, [len(s) for s in sources], task.source_dictionary,
                                  targets, [len(t) for t in targets], task.target_dictionary)
    return dataset.collater([dataset[i] for i in range(BATCH)])


def train_step(model, optimizer, batch):
    """One a4 training step: summed NLL / sentences, clip 5, Adam."""
    logits, _ = model(**batch["net_input"])
    log_probs = torch.log_softmax(logits, dim=-1)
    loss = torch.nn.functional.nll_loss(log_probs.view(-1, log_probs.size(-1)), batch["target"].view(-1),
                                        ignore_index=1, reduction="sum") / BATCH
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def prepared_for_generation(model):
    """A frozen copy prepared as fairseq-generate prepares models (prepare_for_inference_ without
    --print-alignment)."""
    inference_model = copy.deepcopy(model)
    inference_model.make_generation_fast_(beamable_mm_beam_size=5, need_attn=False)
    return inference_model


def generate(model, task, batch, beam):
    generator = SequenceGenerator([model], task.target_dictionary, beam_size=beam,
                                  max_len_a=0, max_len_b=OUTPUT_STEPS, min_len=OUTPUT_STEPS)
    with torch.no_grad():
        generator.generate([model], batch)


def flops_per_target_token(model, optimizer, batch):
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, batch)
    return counter.get_total_flops() / batch["ntokens"]


def matmul_gflops(size=1024, repeats=20):
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    seconds = statistics.median(timed(torch.mm, a, b) for _ in range(repeats))
    return 2 * size**3 / seconds / 1e9


def peak_rss_mb(model_name, vocabulary, steps=5):
    """Peak RSS of a child process that builds and trains only ``model_name`` (with this process's
    malloc settings)."""
    malloc = [] if malloc_settings.in_effect() else ["--glibc-malloc-defaults"]
    result = subprocess.run([sys.executable, __file__, "--peak-memory-of", model_name, "--vocabulary", vocabulary,
                             "--steps", str(steps), *malloc], capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def measure_peak_memory(model_name, vocabulary, steps):
    task = Task(*VOCABULARIES[vocabulary])
    model = build(model_name, task)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = random_batch(task, torch.Generator().manual_seed(0))
    for _ in range(steps):
        train_step(model, optimizer, batch)
    print(peak_resident_mb())


def peak_resident_mb():
    """This process image's peak resident memory: Linux's VmHWM, which starts afresh at exec.
    (ru_maxrss would also count what the child shared with the benchmark when it was forked.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_vocabulary(vocabulary, steps, matmul_rate):
    task = Task(*VOCABULARIES[vocabulary])
    torch.manual_seed(0)
    models = {name: build(name, task) for name in ("cs224n_lstm", "fairseq_lstm")}
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    generator = torch.Generator().manual_seed(0)
    batches = [random_batch(task, generator) for _ in range(steps)]
    sorted_batches = [random_batch(task, generator, one_length=True) for _ in range(steps)]
    train_times = {(name, kind): [] for name in models for kind in ("mixed", "sorted")}
    gen_times = {(name, beam): [] for name in models for beam in (5, 1)}
    for kind, kind_batches in (("mixed", batches), ("sorted", sorted_batches)):
        for batch in kind_batches:  # alternate the models on the same batch
            for name, model in models.items():
                model.train()
                train_times[name, kind].append(timed(train_step, model, optimizers[name], batch) / batch["ntokens"])
    inference_models = {name: prepared_for_generation(model) for name, model in models.items()}
    for batch in batches[: max(3, steps // 4)]:
        for name, model in inference_models.items():
            for beam in (5, 1):
                gen_times[name, beam].append(timed(generate, model, task, batch, beam) / BATCH)
    results = {}
    for name, model in models.items():
        model.train()
        flops = flops_per_target_token(model, optimizers[name], batches[0])
        tokens_per_s = 1 / statistics.median(train_times[name, "mixed"])
        results[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_target_tokens_per_s": tokens_per_s,
            "train_target_tokens_per_s_length_sorted": 1 / statistics.median(train_times[name, "sorted"]),
            "beam5_sentences_per_s": 1 / statistics.median(gen_times[name, 5]),
            "greedy_sentences_per_s": 1 / statistics.median(gen_times[name, 1]),
            "peak_rss_mb": peak_rss_mb(name, vocabulary),
            "train_mflop_per_target_token": flops / 1e6,
            "train_gflop_per_s": flops * tokens_per_s / 1e9,
            "fraction_of_matmul_rate": flops * tokens_per_s / 1e9 / matmul_rate,
        }
    return results


def print_table(vocabulary, results):
    ours, theirs = results["cs224n_lstm"], results["fairseq_lstm"]
    print(f"\n### {vocabulary} vocabularies {VOCABULARIES[vocabulary]}, batch {BATCH}, homework sizes\n")
    print("| metric | cs224n_lstm | fairseq lstm | ours/theirs |")
    print("|---|---:|---:|---:|")
    for key in ours:
        print(f"| {key} | {ours[key]:,.4g} | {theirs[key]:,.4g} | {ours[key] / theirs[key]:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="train steps per model and vocabulary (default 20)")
    parser.add_argument("--vocabulary", choices=sorted(VOCABULARIES), action="append",
                        help="vocabulary sizes to run (default: all)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--peak-memory-of", choices=("cs224n_lstm", "fairseq_lstm"), help=argparse.SUPPRESS)
    parser.add_argument("--glibc-malloc-defaults", action="store_true",
                        help="measure with glibc's default malloc settings, not the pipeline's (malloc_settings.py)")
    args = parser.parse_args()
    keep_freed_blocks = not args.glibc_malloc_defaults
    if malloc_settings.in_effect() != keep_freed_blocks:  # glibc reads them at start: run again with them
        os.execve(sys.executable, [sys.executable, *sys.argv], malloc_settings.environment(keep_freed_blocks))
    vocabularies = args.vocabulary or list(VOCABULARIES)
    if args.peak_memory_of:
        return measure_peak_memory(args.peak_memory_of, vocabularies[0], args.steps)
    matmul_rate = matmul_gflops()
    malloc = "the pipeline's (malloc_settings.py)" if keep_freed_blocks else "glibc defaults"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; measured matmul rate "
          f"{matmul_rate:.1f} GFLOP/s (1024x1024 fp32); malloc settings: {malloc}")
    report = {"matmul_gflop_per_s": matmul_rate, "keep_freed_blocks": keep_freed_blocks}
    for vocabulary in vocabularies:
        report[vocabulary] = bench_vocabulary(vocabulary, args.steps, matmul_rate)
        print_table(vocabulary, report[vocabulary])
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(report, stream, indent=2)


if __name__ == "__main__":
    main()
