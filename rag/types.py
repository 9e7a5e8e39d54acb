"""Plain dataclasses passed between the stages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One loaded document. ``id`` is stable: the BEIR ``_id`` or the source path."""

    id: str
    source: str
    title: str
    text: str
    kind: str = "text"  # text | markdown | html | pdf | beir


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    source: str
    title: str
    text: str
    index: int
    start: int  # character offsets into Document.text
    end: int
    tokens: int  # in embedding-model tokens


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class IngestReport:
    files: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chunks_per_second"] = round(self.chunks_per_second, 2)
        return d
