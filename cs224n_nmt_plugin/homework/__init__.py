"""The CS224n starter code's formats: its parameter names, its vocabulary and its model.bin."""
