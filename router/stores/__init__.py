"""The two routing stores: memory (the embedded default) and Redis (many processes)."""
