"""Stage 1 of the pipeline: files on disk -> plain data with source positions."""
