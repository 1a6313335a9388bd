"""The CS224n starter code's formats and its decoding: its parameter names, its vocabulary, its
model.bin and its beam search."""
