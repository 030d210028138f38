"""Every name the package exports exists (``from burnish import *`` works)."""

from __future__ import annotations

import burnish


def test_every_exported_name_exists() -> None:
    missing = [name for name in burnish.__all__ if not hasattr(burnish, name)]
    assert missing == []
