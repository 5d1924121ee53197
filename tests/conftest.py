"""Shared test set-up: SVG snapshots live in the top-level snapshots/ folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest_textual_snapshot as pts

TESTS = Path(__file__).resolve().parent
SNAPSHOTS = TESTS.parent / "snapshots"

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


class TopLevelSVG(pts.SVGImageExtension):
    """snapshots/<test path without .py>/<test name>.svg, reviewed like code."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        rel = Path(test_location.filepath).resolve().relative_to(TESTS).with_suffix("")
        return str(SNAPSHOTS / rel)


pts.SVGImageExtension = TopLevelSVG
