"""CDR files: format presets, ingest into the Parquet lake, and the lake itself."""
