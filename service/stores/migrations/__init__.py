"""Alembic migrations of the metadata store (run to head by `open_metadata_store`)."""
