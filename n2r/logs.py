"""Logging and progress for the library and the pipelines.

Modules log to their own loggers (``logging.getLogger(__name__)``, under ``n2r`` and
``pipelines``); the library installs no handler, so an application decides what is shown (Python's
default shows warnings only). The ``n2r`` command calls :func:`configure` with its ``-v``/``-q``:
INFO by default, DEBUG with ``-v``, warnings only with ``-q``, on stderr — the command's own
output (JSON, tables) stays alone on stdout. :func:`progress` wraps a long loop in a tqdm bar on
stderr when stderr is a terminal and INFO is shown; elsewhere (pipes, CI, ``-q``) it returns the
loop unchanged.
"""
from __future__ import annotations

import logging
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")
LOGGERS = ("n2r", "pipelines")


def configure(verbosity: int = 0, stream=None) -> None:
    """Show the project's log records on ``stream`` (stderr): ``verbosity`` < 0 warnings only,
    0 INFO, > 0 DEBUG. Calling it again replaces the earlier set-up."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if level > logging.DEBUG
                                           else "%(asctime)s %(name)s %(levelname)s: %(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def bars_enabled() -> bool:
    """Progress bars are drawn when stderr is a terminal and the ``n2r`` logger shows INFO."""
    return sys.stderr.isatty() and logging.getLogger("n2r").isEnabledFor(logging.INFO)


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool | None = None) -> Iterable[T]:
    """``iterable`` with a progress bar on stderr (``enabled``; ``None``: :func:`bars_enabled`)."""
    if not (bars_enabled() if enabled is None else enabled):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, *, desc: str = "", unit: str = "it", enabled: bool | None = None):
    """A bar advanced by hand (``update``, ``set_postfix_str``, ``close``) — for loops that run
    elsewhere, such as the epochs of :func:`n2r.engine.fit`; a no-op object when disabled."""
    if not (bars_enabled() if enabled is None else enabled):
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
