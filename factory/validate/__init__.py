"""Stage 2 of the pipeline: plain data -> diagnostics (schema first, then meaning)."""
