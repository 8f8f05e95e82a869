"""`rag bench`: a synthetic corpus (``bench.synth``) and the measurements on it (``bench.run``)."""
