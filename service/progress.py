"""How long-running domain functions report progress without knowing who watches (a terminal bar, a log, nobody).

A function that takes a ``progress`` callback calls it once per step it finishes, with a short label
(``progress("fitting")``). The ``paperboy`` command turns the calls into a tqdm bar on a terminal
(``service.cli_support.progress_bar``); everybody else passes nothing and ``quiet`` is used.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, label: str = "", steps: int = 1) -> None:
        """``steps`` more steps are done; ``label`` (may be empty) is shown beside the bar."""


def quiet(label: str = "", steps: int = 1) -> None:
    """The callback of nobody watching."""
