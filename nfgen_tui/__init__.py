"""nfgen: generate neural fields by sampling their weights from a transformer."""
__version__ = "0.1.0"
