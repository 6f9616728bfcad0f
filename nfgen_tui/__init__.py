"""nfgen: generate neural fields by sampling them from a trained generator."""
__version__ = "0.1.0"
