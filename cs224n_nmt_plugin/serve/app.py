"""Translate and inspect in the browser: a local HTTP server over a trained checkpoint.

    cs224n-nmt serve CHECKPOINT_DIR [--data-bin DIR] [--port 8000] [--host 127.0.0.1]

It loads CHECKPOINT_DIR/checkpoint_best.pt (--checkpoint-file) with the data-bin it was trained
on: --data-bin, or CHECKPOINT_DIR itself when it holds the dictionaries (an imported homework
model), or data-bin/NAME for outputs/NAME/checkpoints as the pipeline writes it. It listens on
127.0.0.1 only, unless --host says otherwise. Translations are those of scripts/translate_file.sh:
the homework's beam search (beam 5, at most 70 steps), the corpus's own pre- and post-processing.

    POST /translate  {"lines": [...], "references": [...], "nbest": 1} -> for each line the
                     translation, the n-best list with summed log-probabilities (natural log), the
                     source and target tokens, the attention matrix (a row per target token), the
                     source tokens the model reads as <unk> and, with a reference, the handout's
                     sentence BLEU (serve/requests.py). A bad request: a 4xx with {"error": "..."}.
    GET /health      {"status": "ok"}
    GET /info        the model, its sizes, dictionaries, device and the server's limits
    GET /            the page: type Spanish, see the translation, the n-best list, the attention
                     as a heatmap, unknown words marked, and sentence BLEU against a reference

The stack is Starlette (ASGI routing, requests and responses) on uvicorn (the ASGI server), both
small, pure-Python and maintained by the Encode project; the lines of concurrent requests are
translated together (serve/batching.py).
"""
import contextlib
from pathlib import Path

from cs224n_nmt_plugin.cli import positive_int
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.serve import requests
from cs224n_nmt_plugin.serve.batching import BatchingQueue
from cs224n_nmt_plugin.settings import BEAM, CORPUS_NAME, MAX_STEPS, data_bin_dir
from cs224n_nmt_plugin.text.tokens import MAX_TOKENS

DEFAULT_MAX_LINES = 64


def find_data_bin(checkpoint_dir):
    """The data-bin of a checkpoint directory: the directory itself when it holds the dictionaries
    (an imported homework model), else the pipeline's data-bin/NAME of outputs/NAME/checkpoints
    (settings.data_bin_dir)."""
    checkpoint_dir = Path(checkpoint_dir).resolve()
    candidates = [checkpoint_dir]
    if checkpoint_dir.name == "checkpoints" and CORPUS_NAME.match(checkpoint_dir.parent.name):
        candidates.append(data_bin_dir(checkpoint_dir.parent.name))
    for candidate in candidates:
        if (candidate / "dict.es.txt").is_file():
            return candidate
    raise InputError(checkpoint_dir, "no data-bin found for it (a folder with dict.es.txt): pass --data-bin")


def model_info(translator, checkpoint, queue, max_lines):
    network = translator.hub.models[0]
    cfg = translator.hub.cfg.model
    parameter = next(network.parameters())
    return {
        "checkpoint": str(checkpoint), "data_bin": str(translator.data_bin), "recipe": translator.recipe,
        "model": {"arch": getattr(cfg, "arch", None) or getattr(cfg, "_name", None),
                  "embed_size": network.encoder.embed_tokens.embedding_dim,
                  "hidden_size": network.decoder.hidden_size, "attention": network.decoder.attention.name,
                  "a4_framing": network.encoder.a4_framing,
                  "parameters": sum(p.numel() for p in network.parameters())},
        "dictionaries": {"es": len(translator.hub.src_dict), "en": len(translator.hub.tgt_dict)},
        "device": str(parameter.device), "dtype": str(parameter.dtype).replace("torch.", ""),
        "decoding": {"search": "homework", "beam": BEAM, "max_steps": MAX_STEPS, "ranking": "summed log-probability"},
        "limits": {"lines_per_request": max_lines, "tokens_per_line": MAX_TOKENS, "body_bytes": requests.MAX_BODY_BYTES,
                   "batch_lines": queue.max_lines, "batch_wait_ms": queue.max_wait * 1000},
        "batches_translated": queue.batches,
    }


def build_app(translator, checkpoint, max_lines=DEFAULT_MAX_LINES, batch_lines=64, batch_wait=0.01):
    """The Starlette application over a loaded Translator."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from cs224n_nmt_plugin.pages import render

    queue = BatchingQueue(translator.translate, max_lines=batch_lines, max_wait=batch_wait)
    page = render("translate.html", max_lines=max_lines, beam=BEAM, max_tokens=MAX_TOKENS)

    async def translate(request):
        try:
            parsed = requests.parse(await request.body(), max_lines)
        except requests.RequestError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        translations = await queue.submit(parsed.lines, parsed.nbest)
        return JSONResponse(requests.answer(parsed, translations))

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def info(request):
        return JSONResponse(model_info(translator, checkpoint, queue, max_lines))

    async def index(request):
        return HTMLResponse(page)

    async def http_error(request, error):
        return JSONResponse({"error": f"{request.method} {request.url.path}: {error.detail}"},
                            status_code=error.status_code)

    async def server_error(request, error):
        return JSONResponse({"error": f"the translator failed: {type(error).__name__}: {error}"}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await queue.start()
        yield
        await queue.stop()

    return Starlette(
        routes=[Route("/translate", translate, methods=["POST"]), Route("/health", health), Route("/info", info),
                Route("/", index)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )


def add_arguments(parser):
    parser.add_argument("checkpoint_dir", type=Path, help="the checkpoints folder of a run (outputs/NAME/checkpoints)")
    parser.add_argument("--checkpoint-file", default="checkpoint_best.pt", help="default: checkpoint_best.pt")
    parser.add_argument("--data-bin", type=Path,
                        help="the fairseq-preprocess folder it was trained on (default: found)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.add_argument("--max-lines", type=positive_int, default=DEFAULT_MAX_LINES,
                        help=f"the most lines one request may hold (default {DEFAULT_MAX_LINES})")
    parser.add_argument("--batch-lines", type=positive_int, default=64,
                        help="the most lines translated in one generator call (default 64)")
    parser.add_argument("--batch-wait-ms", type=float, default=10.0,
                        help="how long a batch waits for more requests after its first (default 10 ms)")
    parser.add_argument("--cpu", action="store_true", help="translate on the CPU even where there is a GPU")


def run(args):
    import torch
    import uvicorn

    from cs224n_nmt_plugin import preflight
    from cs224n_nmt_plugin.translator import Translator

    data_bin = args.data_bin or find_data_bin(args.checkpoint_dir)
    checkpoint = args.checkpoint_dir / args.checkpoint_file
    preflight.check(checkpoint, data_bin)
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    translator = Translator(checkpoint, data_bin, device=device)
    app = build_app(translator, checkpoint, args.max_lines, args.batch_lines, args.batch_wait_ms / 1000)
    print(f"serving {checkpoint} on http://{args.host}:{args.port}/ ({device}); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")

