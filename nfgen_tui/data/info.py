"""What a dataset listing says about one dataset (2D images or 3D shapes) and its skipped files, in one place the
2D loaders (datasets.py) and the 3D ones (shapeset.py, meshes.py) share without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

SKIPPED_SHOWN = 5  # skipped files named one by one; the rest are counted


@dataclass
class DatasetInfo:
    name: str
    description: str
    available: bool
    size: int | None = None
    class_counts: list[int] | None = None
    classes: list[str] | None = None
    hint: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "2D"  # "2D" images or "3D" shapes

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description, "available": self.available,
                "size": self.size, "class_counts": self.class_counts, "classes": self.classes, "hint": self.hint,
                "skipped": len(self.skipped),
                "skipped_files": [{"path": f, "why": why} for f, why in self.skipped[:SKIPPED_SHOWN]]}


def skipped_text(skipped: list[tuple[str, str]], shown: int = SKIPPED_SHOWN) -> str:
    """'skipped 3 files: a/x.png (unreadable: image file is truncated), …, and 1 more'; '' when none was skipped."""
    if not skipped:
        return ""
    names = [f"{path} ({why})" for path, why in skipped[:shown]]
    more = f", and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: " + ", ".join(names) + more
