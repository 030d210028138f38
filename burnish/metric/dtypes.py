"""Half-precision inputs (float16, bfloat16): where metrics compute in float32 instead.

Decisions (argmax, top-k, thresholds) and ranks are exact in any precision. Sums, exponentials
and normalisations are not: a float16 sum of a few thousand losses is off in its fourth digit.
Metrics that compute those widen half-precision inputs first, so that their results equal the
float32 results for the same values.
"""

from __future__ import annotations

import torch

__all__ = ["widen"]

_HALF = (torch.float16, torch.bfloat16)


def widen(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float32 when it is float16 or bfloat16; unchanged otherwise."""
    return tensor.float() if tensor.dtype in _HALF else tensor
