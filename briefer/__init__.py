"""briefer: a one-page briefing from many articles, every bullet tied to its sources."""

# The one place the version is written: hatchling reads it from here for the package metadata
# ([tool.hatch.version] in pyproject.toml), so importing briefer needs no metadata lookup.
__version__ = "0.1.0"

__all__ = ["__version__"]
