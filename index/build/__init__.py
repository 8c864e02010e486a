"""Building an index: chunking (and its cache), embedding shards, the builder, reindexing."""
