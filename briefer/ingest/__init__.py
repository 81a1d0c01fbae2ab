"""Ingest: read files, directories and stdin; decode; extract HTML main text; drop furniture."""
