"""Progress bars for the lab's long runs (tqdm), shown on a terminal only: never in logs, pipes or --json."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:  # noqa: ANN401 - tqdm's own options
    """``iterable`` wrapped in a tqdm bar when stderr is a terminal, else passed through untouched."""
    return tqdm(iterable, disable=not sys.stderr.isatty(), leave=False, **kwargs)
