"""The ``cs224n_nmt`` fairseq model and its architectures."""
import torch
from fairseq.models import FairseqEncoderDecoderModel, register_model, register_model_architecture

from cs224n_nmt_plugin.models import cpu_autocast
from cs224n_nmt_plugin.models.attention import ATTENTIONS
from cs224n_nmt_plugin.models.decoder import CS224nDecoder
from cs224n_nmt_plugin.models.encoder import CS224nEncoder
from cs224n_nmt_plugin.safe_loading import allow_fairseq_checkpoints

allow_fairseq_checkpoints()  # so that fairseq can load this model's checkpoints

DEFAULT_MAX_POSITIONS = 1024


@register_model("cs224n_nmt")
class CS224nNMTModel(FairseqEncoderDecoderModel):
    """CS224n a4: bidirectional LSTM encoder, input-feeding LSTM decoder, multiplicative attention."""

    @staticmethod
    def add_args(parser):
        parser.add_argument("--embed-size", type=int, metavar="N",
                            help="word embedding size e (a4: 256)")
        parser.add_argument("--hidden-size", type=int, metavar="N",
                            help="LSTM hidden size h (a4: 256)")
        parser.add_argument("--dropout", type=float, metavar="D",
                            help="dropout on the combined output o_t, eq (12) (a4: 0.3)")
        parser.add_argument("--uniform-init", type=float, metavar="D",
                            help="initialise every parameter from U(-D, D) (a4: 0.1)")
        parser.add_argument("--attention", choices=list(ATTENTIONS),
                            help="the attention score e_{t,i}, eq (7) or a variant (a4: multiplicative)")
        parser.add_argument("--a4-framing", action="store_true",
                            help="the homework's framing: no </s> on the source, the decoder starts "
                                 "from <s> (imported CS224n checkpoints have it)")
        parser.add_argument("--cpu-autocast", choices=cpu_autocast.CHOICES,
                            help="mixed precision on a CPU: the output layer's product (eq 13) in bfloat16, "
                                 "float32 weights, states, log-softmax and loss; auto: where the CPU has bfloat16 "
                                 "instructions (default: none)")

    @classmethod
    def from_pretrained(cls, model_name_or_path, checkpoint_file="model.pt", data_name_or_path=".",
                        search="homework", **kwargs):
        """fairseq's hub interface over a checkpoint, its generator chosen by ``search`` (homework:
        the starter's beam search, or fairseq) whatever task the checkpoint was trained with."""
        from cs224n_nmt_plugin.tasks import CS224nTranslationTask

        hub = super().from_pretrained(model_name_or_path, checkpoint_file, data_name_or_path, **kwargs)
        hub.task = CS224nTranslationTask.of_translation_task(hub.task, search)
        return hub

    @classmethod
    def build_model(cls, args, task):
        base_architecture(args)
        max_source_positions = getattr(args, "max_source_positions", None) or DEFAULT_MAX_POSITIONS
        max_target_positions = getattr(args, "max_target_positions", None) or DEFAULT_MAX_POSITIONS
        bf16 = cpu_autocast.uses_bf16(args.cpu_autocast)
        encoder = CS224nEncoder(
            task.source_dictionary, args.embed_size, args.hidden_size, max_source_positions,
            a4_framing=args.a4_framing,
        )
        decoder = CS224nDecoder(
            task.target_dictionary, args.embed_size, args.hidden_size, args.dropout, max_target_positions,
            attention=args.attention, a4_framing=args.a4_framing, cpu_bf16=bf16,
        )
        model = cls(encoder, decoder)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.uniform_(-args.uniform_init, args.uniform_init)
        return model


def _fill_defaults(args, size, dropout):
    """Options not given on the command line (or absent from an older checkpoint's args)."""
    args.embed_size = getattr(args, "embed_size", None) or size
    args.hidden_size = getattr(args, "hidden_size", None) or size
    args.dropout = dropout if getattr(args, "dropout", None) is None else args.dropout
    args.uniform_init = 0.1 if getattr(args, "uniform_init", None) is None else args.uniform_init
    # Checkpoints from before --attention and --a4-framing: the handout's attention, fairseq's framing.
    args.attention = getattr(args, "attention", None) or "multiplicative"
    args.a4_framing = getattr(args, "a4_framing", False)
    args.cpu_autocast = getattr(args, "cpu_autocast", None) or "none"


@register_model_architecture("cs224n_nmt", "cs224n_lstm")
def base_architecture(args):
    """The handout's sizes (run.py defaults)."""
    _fill_defaults(args, size=256, dropout=0.3)


@register_model_architecture("cs224n_nmt", "cs224n_lstm_small")
def small_architecture(args):
    """Half-size model for CPU training runs."""
    _fill_defaults(args, size=128, dropout=0.2)


@register_model_architecture("cs224n_nmt", "cs224n_lstm_tiny")
def tiny_architecture(args):
    """A few thousand parameters plus embeddings: for tests and smoke runs."""
    _fill_defaults(args, size=32, dropout=0.1)
