"""The corpus: article files and their sources, ingesting new ones, and dossier coverage."""
