"""Engines: turn chunks into claims (map) and validated claims into a draft briefing (reduce)."""
