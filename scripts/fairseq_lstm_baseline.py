"""fairseq's built-in ``lstm`` configured as the closest match to cs224n_lstm.

Same sizes (embed e, bidirectional encoder of h per direction, decoder hidden h, input
feeding, one layer each), dropout only on the attention output o_t, U(-0.1, 0.1) init
(fairseq lstm's own). Differences that remain, by fairseq's design: biases on the h0/c0
projections and on the output layer; the attention projects the query (once per step)
instead of the keys (once per sentence); fairseq's LSTM cells and encoder are the same
torch modules, so nothing else differs in the equations.
"""


def fairseq_lstm_config(embed_size=256, hidden_size=256, dropout=0.3):
    """The lstm architecture's arguments, by fairseq argument name."""
    return {
        "encoder_embed_dim": embed_size, "encoder_hidden_size": hidden_size, "encoder_layers": 1,
        "encoder_bidirectional": True,
        "decoder_embed_dim": embed_size, "decoder_hidden_size": hidden_size,
        "decoder_out_embed_dim": hidden_size, "decoder_layers": 1, "decoder_attention": "1",
        "encoder_dropout_in": 0.0, "encoder_dropout_out": 0.0,
        "decoder_dropout_in": 0.0, "decoder_dropout_out": dropout,
    }


def fairseq_lstm_options(**sizes):
    """The configuration as fairseq-train options (``--arch lstm ...``)."""
    options = ["--arch", "lstm"]
    for name, value in fairseq_lstm_config(**sizes).items():
        flag = "--" + name.replace("_", "-")
        options += [flag] if value is True else [flag, str(value)]
    return options


def build_fairseq_lstm(task, **sizes):
    """The configured LSTMModel for ``task`` (which supplies the dictionaries)."""
    import argparse

    from fairseq.models.lstm import LSTMModel

    args = argparse.Namespace(criterion="cross_entropy", **fairseq_lstm_config(**sizes))
    return LSTMModel.build_model(args, task)
