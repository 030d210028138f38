"""Colours shared by the panels. NO_COLOR is honoured by rich's Console, which drops them."""

from __future__ import annotations

import functools

from rich.style import Style

from burnish.processor.events import Split

__all__ = ["BORDER", "LABEL", "SPLIT_STYLES", "TITLE", "split_style", "style"]

SPLIT_STYLES = {Split.TRAIN: "bright_red", Split.VALID: "bright_blue", Split.TEST: "bright_green"}
BORDER = "grey50"
TITLE = "bold"
LABEL = "dim"


def split_style(split: Split) -> str:
    return SPLIT_STYLES.get(split, "")


@functools.lru_cache(maxsize=256)
def style(definition: str) -> Style:
    """A parsed style, cached: panels ask for the same few every frame."""
    return Style.parse(definition) if definition else Style()
