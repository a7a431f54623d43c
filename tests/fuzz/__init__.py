"""Property-based fuzzing of every entry point: the handlers' ingest and status lookup over
arbitrary events, the gateway's HTTP server over arbitrary byte streams.

``pytest tests/fuzz`` runs each property on a bounded number of examples (the ``ci`` profile);
``python -m tests.fuzz`` runs them far longer and prints cases tried and failures.
"""
