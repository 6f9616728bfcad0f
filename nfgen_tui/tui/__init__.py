"""The Textual app: the only package that imports textual (core modules stay importable without it)."""
