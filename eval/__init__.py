"""The eval: question sets, metrics, runs and reports behind `rag eval`."""
