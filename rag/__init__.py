"""leanrag: lean-context retrieval-augmented generation for reasoning models."""
from __future__ import annotations

from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["Pipeline", "Settings"]
__version__ = "0.1.0"
