"""Speed microbenchmark: cs224n_lstm against fairseq's lstm (its closest match), in one process.

    .venv/bin/python scripts/bench.py [--steps 20] [--json bench.json]

For each target-vocabulary size (Tatoeba-sized and a4-sized), the models are built at the
homework sizes and run alternately on identical batches of 32 random sentence pairs. Five
contestants train: cs224n_lstm and fairseq lstm with a4_adam (the homework's torch.optim.Adam,
cs224n_nmt_plugin/optim/a4_adam.py) and fairseq's cross_entropy, in float32; cs224n_lstm as
scripts/train.sh's CPU recipe trains it (a4_adam, a4_cross_entropy, float32), and the same under
--cpu-autocast bf16 (only where the CPU has bfloat16 instructions: elsewhere torch emulates them,
20 times slower, and the contestant is left out); and fairseq lstm with fairseq's --optimizer adam,
so that these ratios can be
read: (a) the model alone, cs224n_lstm / fairseq lstm with the same training; (b) the pipeline a
user gets, our recipe / fairseq lstm as a fairseq user trains it (fairseq's adam); (c) our recipe
/ cs224n_lstm of (a); and bfloat16 / float32 for our recipe.

It measures the median train step (what fairseq's trainer does in an update: the criterion's
loss, backward, multiply_grads by 1/sentences, clip 5, the optimizer's step) in target tokens/s,
on batches of mixed lengths (about half of the target positions are padding) and on batches of
one source length (targets within one word of it: about 5% padding, as in fairseq's length-sorted
batches), generation in sentences/s at beam 5 and greedy (fixed output length, so every model
does the same number of steps; each model prepared as fairseq-generate prepares it), the
homework's beam search against fairseq's on cs224n_lstm at beam 5 and greedy (the pipeline's
decoding options for each, on the same batches, each search stopping as it does), and peak
memory (RSS of a child process that only trains that contestant). It also prints the
floating-point work per target token (torch's FlopCounterMode), the GFLOP/s this reaches against
the machine's measured matmul rate, and the time of one optimizer step on the a4-sized
cs224n_lstm's parameters for fairseq's adam and torch's fused, foreach and for-loop Adam.

It runs with the pipeline's malloc settings (scripts/malloc_settings.py) for every model, or with
glibc's defaults given --glibc-malloc-defaults.
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
from fairseq.criterions import CRITERION_REGISTRY
from fairseq.data import Dictionary, LanguagePairDataset
from fairseq.optim import OPTIMIZER_DATACLASS_REGISTRY, OPTIMIZER_REGISTRY
from fairseq.sequence_generator import SequenceGenerator
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

import malloc_settings
from cs224n_nmt_plugin import CS224nNMTModel
from cs224n_nmt_plugin.homework.beam_search import HomeworkBeamSearch
from cs224n_nmt_plugin.models.cpu_autocast import cpu_has_bf16_instructions
from cs224n_nmt_plugin.settings import decoding_arguments
from fairseq_lstm_baseline import build_fairseq_lstm

VOCABULARIES = {"tatoeba-sized": (22_484, 15_098), "a4-sized": (50_004, 50_002)}  # (source, target) words
BATCH, SOURCE_LENGTHS, OUTPUT_STEPS = 32, (5, 35), 30
# contestant -> (model, fairseq optimizer, fairseq criterion, --cpu-autocast)
CONTESTANTS = {
    "cs224n_lstm": ("cs224n_lstm", "a4_adam", "cross_entropy", "none"),
    "cs224n_lstm, our recipe": ("cs224n_lstm", "a4_adam", "a4_cross_entropy", "none"),  # scripts/train.sh's CPU recipe
    "cs224n_lstm, our recipe, cpu-autocast bf16": ("cs224n_lstm", "a4_adam", "a4_cross_entropy", "bf16"),
    "fairseq_lstm": ("fairseq_lstm", "a4_adam", "cross_entropy", "none"),
    "fairseq_lstm fairseq adam": ("fairseq_lstm", "adam", "cross_entropy", "none"),  # a fairseq user's pipeline
}
GENERATING = ("cs224n_lstm", "fairseq_lstm")  # the others generate with the same models (eval mode is float32)
RATIOS = {
    "(a) model alone: cs224n_lstm / fairseq lstm, both a4_adam": ("cs224n_lstm", "fairseq_lstm"),
    "(b) pipeline: our recipe / fairseq lstm with fairseq adam":
        ("cs224n_lstm, our recipe", "fairseq_lstm fairseq adam"),
    "(c) our recipe / cs224n_lstm of (a)": ("cs224n_lstm, our recipe", "cs224n_lstm"),
    "cpu-autocast bf16 / float32 (our recipe)":
        ("cs224n_lstm, our recipe, cpu-autocast bf16", "cs224n_lstm, our recipe"),
}


class Task:
    def __init__(self, source_words, target_words):
        self.source_dictionary = dictionary(source_words)
        self.target_dictionary = dictionary(target_words)


def dictionary(words):
    d = Dictionary()
    for i in range(words):
        d.add_symbol(f"w{i}")
    return d


def build(contestant, task):
    """The contestant's model (homework sizes), fairseq criterion (--sentence-avg) and fairseq optimizer."""
    model_name, optimizer_name, criterion_name, cpu_autocast = CONTESTANTS[contestant]
    torch.manual_seed(0)
    if model_name == "cs224n_lstm":
        args = argparse.Namespace(embed_size=256, hidden_size=256, dropout=0.3, cpu_autocast=cpu_autocast)
        model = CS224nNMTModel.build_model(args, task)
    else:
        model = build_fairseq_lstm(task)
    criterion = CRITERION_REGISTRY[criterion_name](task, sentence_avg=True)
    return model, criterion, build_optimizer(optimizer_name, list(model.parameters()))


def build_optimizer(name, params):
    """fairseq's optimizer NAME (a4_adam or adam) with its defaults and lr 1e-3, as fairseq-train builds it."""
    options = {"lr": [1e-3], **({"tpu": False} if name == "adam" else {})}
    return OPTIMIZER_REGISTRY[name](OmegaConf.structured(OPTIMIZER_DATACLASS_REGISTRY[name](**options)), params)


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


def train_step(model, criterion, optimizer, batch):
    """One a4 update as fairseq's trainer makes it: summed NLL (the criterion), backward,
    gradients / sentences, clip 5, the optimizer's step."""
    optimizer.zero_grad()
    loss, sample_size, _ = criterion(model, batch)
    optimizer.backward(loss)
    optimizer.multiply_grads(1.0 / sample_size)
    optimizer.clip_grad_norm(5.0)
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


def search(name, model, task, batch, beam):
    """The pipeline's decoding with search ``name`` (settings.decoding_arguments), at most
    OUTPUT_STEPS steps."""
    arguments = {**decoding_arguments(name), "beam": beam, "max_len_b": OUTPUT_STEPS}
    if name == "homework":
        generator = HomeworkBeamSearch([model], task.target_dictionary, beam_size=beam, max_len_a=0,
                                       max_len_b=OUTPUT_STEPS)
    else:
        generator = SequenceGenerator([model], task.target_dictionary, beam_size=beam, max_len_a=0,
                                      max_len_b=OUTPUT_STEPS, min_len=arguments["min_len"],
                                      normalize_scores=not arguments["unnormalized"])
    with torch.no_grad():
        generator.generate([model], batch)


def bench_searches(model, task, batches):
    """Sentences/s of the homework's search and fairseq's, alternating on the same batches."""
    times = {(name, beam): [] for name in ("homework", "fairseq") for beam in (5, 1)}
    for batch in batches:
        for (name, beam), found in times.items():
            found.append(timed(search, name, model, task, batch, beam) / BATCH)
    return {f"{name} search, {'beam 5' if beam == 5 else 'greedy'}": 1 / statistics.median(found)
            for (name, beam), found in times.items()}


def flops_per_target_token(model, criterion, optimizer, batch):
    with FlopCounterMode(display=False) as counter:
        train_step(model, criterion, optimizer, batch)
    return counter.get_total_flops() / batch["ntokens"]


def matmul_gflops(size=1024, repeats=20):
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    seconds = statistics.median(timed(torch.mm, a, b) for _ in range(repeats))
    return 2 * size**3 / seconds / 1e9


def peak_rss_mb(contestant, vocabulary, steps=5):
    """Peak RSS of a child process that builds and trains only ``contestant`` (with this process's
    malloc settings)."""
    malloc = [] if malloc_settings.in_effect() else ["--glibc-malloc-defaults"]
    result = subprocess.run([sys.executable, __file__, "--peak-memory-of", contestant, "--vocabulary", vocabulary,
                             "--steps", str(steps), *malloc], capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def measure_peak_memory(contestant, vocabulary, steps):
    task = Task(*VOCABULARIES[vocabulary])
    model, criterion, optimizer = build(contestant, task)
    batch = random_batch(task, torch.Generator().manual_seed(0))
    for _ in range(steps):
        train_step(model, criterion, optimizer, batch)
    print(peak_resident_mb())


def peak_resident_mb():
    """This process image's peak resident memory: Linux's VmHWM, which starts afresh at exec.
    (ru_maxrss would also count what the child shared with the benchmark when it was forked.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def contestants_here():
    """CONTESTANTS without the bfloat16 one on a CPU that would emulate bfloat16."""
    bf16 = cpu_has_bf16_instructions()
    return [name for name, (*_, cpu_autocast) in CONTESTANTS.items() if bf16 or cpu_autocast == "none"]


def bench_vocabulary(vocabulary, steps, matmul_rate):
    task = Task(*VOCABULARIES[vocabulary])
    built = {name: build(name, task) for name in contestants_here()}
    generator = torch.Generator().manual_seed(0)
    batches = [random_batch(task, generator) for _ in range(steps)]
    sorted_batches = [random_batch(task, generator, one_length=True) for _ in range(steps)]
    train_times = {(name, kind): [] for name in built for kind in ("mixed", "sorted")}
    for kind, kind_batches in (("mixed", batches), ("sorted", sorted_batches)):
        for batch in kind_batches:  # alternate the contestants on the same batch
            for name, (model, criterion, optimizer) in built.items():
                model.train()
                train_times[name, kind].append(timed(train_step, model, criterion, optimizer, batch) / batch["ntokens"])
    inference_models = {name: prepared_for_generation(built[name][0]) for name in GENERATING}
    gen_times = {(name, beam): [] for name in GENERATING for beam in (5, 1)}
    for batch in batches[: max(3, steps // 4)]:
        for name, model in inference_models.items():
            for beam in (5, 1):
                gen_times[name, beam].append(timed(generate, model, task, batch, beam) / BATCH)
    searches = bench_searches(inference_models["cs224n_lstm"], task, batches[: max(3, steps // 4)])
    results = {}
    for name, (model, criterion, optimizer) in built.items():
        model.train()
        flops = flops_per_target_token(model, criterion, optimizer, batches[0])
        tokens_per_s = 1 / statistics.median(train_times[name, "mixed"])
        results[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_target_tokens_per_s": tokens_per_s,
            "train_target_tokens_per_s_length_sorted": 1 / statistics.median(train_times[name, "sorted"]),
            "beam5_sentences_per_s": 1 / statistics.median(gen_times[name, 5]) if name in GENERATING else None,
            "greedy_sentences_per_s": 1 / statistics.median(gen_times[name, 1]) if name in GENERATING else None,
            "peak_rss_mb": peak_rss_mb(name, vocabulary),
            "train_mflop_per_target_token": flops / 1e6,
            "train_gflop_per_s": flops * tokens_per_s / 1e9,
            "fraction_of_matmul_rate": flops * tokens_per_s / 1e9 / matmul_rate,
        }
    return results, searches


def bench_optimizer_steps(repeats=10):
    """Milliseconds of one optimizer step (median of ``repeats``, implementations alternating) on the
    a4-sized cs224n_lstm's parameters with gradients of 0.01 scale."""
    task = Task(*VOCABULARIES["a4-sized"])
    model, _, _ = build("cs224n_lstm", task)
    generator = torch.Generator().manual_seed(0)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=generator) * 0.01
    steps = {
        "fairseq adam": build_optimizer("adam", list(model.parameters())),
        "torch Adam fused (a4_adam's choice)": torch.optim.Adam(model.parameters(), lr=1e-3, fused=True),
        "torch Adam foreach": torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True),
        "torch Adam for-loop": torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False),
    }
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, optimizer in steps.items():
            times[name].append(timed(optimizer.step) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def print_table(vocabulary, results):
    names = list(results)
    print(f"\n### {vocabulary} vocabularies {VOCABULARIES[vocabulary]}, batch {BATCH}, homework sizes\n")
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for key in results[names[0]]:
        cells = ["" if results[name][key] is None else f"{results[name][key]:,.4g}" for name in names]
        print(f"| {key} | " + " | ".join(cells) + " |")
    print("\n| ratio | train tokens/s, mixed | train tokens/s, one length | beam 5 | greedy | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for ratio, (numerator, denominator) in RATIOS.items():
        if numerator not in results or denominator not in results:
            continue
        cells = []
        for key in ("train_target_tokens_per_s", "train_target_tokens_per_s_length_sorted", "beam5_sentences_per_s",
                    "greedy_sentences_per_s", "peak_rss_mb"):
            top, bottom = results[numerator][key], results[denominator][key]
            cells.append("" if top is None or bottom is None else f"{top / bottom:.2f}")
        print(f"| {ratio} | " + " | ".join(cells) + " |")


def print_searches(searches):
    print("\ncs224n_lstm decoding, sentences/s (each search's pipeline options, at most "
          f"{OUTPUT_STEPS} steps; random weights rarely end a hypothesis early):")
    for name, sentences_per_s in searches.items():
        print(f"  {name:<24} {sentences_per_s:7.2f}")
    for kind in ("beam 5", "greedy"):
        ratio = searches[f"homework search, {kind}"] / searches[f"fairseq search, {kind}"]
        print(f"  homework / fairseq, {kind}: {ratio:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="train steps per model and vocabulary (default 20)")
    parser.add_argument("--vocabulary", choices=sorted(VOCABULARIES), action="append",
                        help="vocabulary sizes to run (default: all)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--peak-memory-of", choices=list(CONTESTANTS), help=argparse.SUPPRESS)
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
    if not cpu_has_bf16_instructions():
        print("this CPU has no bfloat16 instructions: the cpu-autocast bf16 contestant is left out")
    report = {"matmul_gflop_per_s": matmul_rate, "keep_freed_blocks": keep_freed_blocks}
    report["optimizer_step_ms"] = bench_optimizer_steps()
    print("\noptimizer step on the a4-sized cs224n_lstm's parameters, ms (median of 10):")
    for name, milliseconds in report["optimizer_step_ms"].items():
        print(f"  {name:<38} {milliseconds:7.1f}")
    for vocabulary in vocabularies:
        report[vocabulary], searches = bench_vocabulary(vocabulary, args.steps, matmul_rate)
        report[f"{vocabulary} searches"] = searches
        print_table(vocabulary, report[vocabulary])
        print_searches(searches)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(report, stream, indent=2)


if __name__ == "__main__":
    main()
