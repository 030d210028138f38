"""Stopping training from another thread (a key press, a signal): Burn's ``Interrupter``."""

from __future__ import annotations

import threading

__all__ = ["Interrupter"]


class Interrupter:
    """A thread-safe request to stop after the current batch."""

    def __init__(self) -> None:
        self._requested = threading.Event()

    def stop(self) -> None:
        """Ask the learner to stop gracefully: finish the batch, save a checkpoint, end."""
        self._requested.set()

    def should_stop(self) -> bool:
        return self._requested.is_set()

    def reset(self) -> None:
        self._requested.clear()
