"""The index on disk: its folder and manifest, chunk file, vector stores and BM25."""
