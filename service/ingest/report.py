"""What one ingest run did, in the shape ``paperboy ingest --json`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.ingest.normalise import storable


@dataclass
class IngestReport:
    """Counts of one run. ``unchanged`` (pages already ingested, same bytes) and ``skipped`` (files in a folder
    that are not pages, e.g. a README) are for people, not the JSON; ``transient`` (the failures that trying
    again later may cure: the network, the source contradicting itself) is for the tasks that retry."""

    pages: int = 0
    entries: int = 0
    new_papers: int = 0
    updated_papers: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)

    def fail(self, path: str, error: str, *, transient: bool = False) -> None:
        self.failed.append({"path": storable(path), "error": storable(error)})
        if transient:
            self.transient.append(storable(path))

    def add(self, other: IngestReport) -> IngestReport:
        self.pages += other.pages
        self.entries += other.entries
        self.new_papers += other.new_papers
        self.updated_papers += other.updated_papers
        self.failed.extend(other.failed)
        self.unchanged += other.unchanged
        self.skipped.extend(other.skipped)
        self.transient.extend(other.transient)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "entries": self.entries,
            "new_papers": self.new_papers,
            "updated_papers": self.updated_papers,
            "failed": [dict(f) for f in self.failed],
        }
