"""The domain: types, settings, errors, loading, cleaning, chunking, embedding, answering.

Importing this package is cheap (no torch, no chromadb); models load on first use.
The entry point for asking lives one layer up, in ``index``: ``from index import open_index``.
"""
