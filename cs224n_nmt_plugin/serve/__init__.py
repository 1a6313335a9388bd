"""A local translation server over a trained checkpoint, with the homework's analysis built in:
``cs224n-nmt serve CHECKPOINT_DIR`` (app.py). requests.py reads and checks a request, batching.py
gathers the lines of concurrent requests into one generator call, and the page is
pages/translate.html."""
