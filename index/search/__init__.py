"""The query side: hybrid retrieval, answers from passages, the engine, evaluation."""
