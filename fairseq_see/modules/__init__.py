"""Token embeddings: SEE (``sememe_entanglement*.py``) and the compressors it is compared with, one per file."""
