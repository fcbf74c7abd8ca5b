"""The package version: its one source (pyproject.toml reads it; so do --version and every
results file)."""

__version__ = "0.1.0"
