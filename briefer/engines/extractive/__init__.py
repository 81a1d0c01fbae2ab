"""The offline extractive engine: no model, the same pipeline, a real cited briefing."""
