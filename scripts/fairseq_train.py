"""fairseq-train in this process (the same command line: ``python scripts/fairseq_train.py ARGS``),
then, on a GPU, the peak GPU memory it allocated (torch.cuda.max_memory_allocated) as a last line
``peak_cuda_memory_mb N``: what compare.py reports for a GPU run. It runs fairseq's own
fairseq_cli.train.cli_main, so any environment with fairseq serves, console scripts or not."""
import torch
from fairseq_cli.train import cli_main

if __name__ == "__main__":
    cli_main()
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
        print(f"peak_cuda_memory_mb {torch.cuda.max_memory_allocated() / 2**20:.1f}", flush=True)
