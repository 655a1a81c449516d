"""One progress bar style for every long-running repoloom command (rich)."""

from __future__ import annotations

from typing import Any


def progress_bar(
    label: str,
    *fields: str,
    enabled: bool = True,
    eta: bool | str = False,
    tail: tuple[str, ...] = (),
    transient: bool = False,
) -> Any:
    """A rich ``Progress``: bold label, bar, done/total, extra ``fields`` columns, elapsed
    [, ETA (after the text ``eta`` when that is a string)], then the ``tail`` columns.

    ``fields`` and ``tail`` are rich format strings over the task (``"{task.fields[mb]:.1f} MB"``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(field) for field in fields]
    columns.append(TimeElapsedColumn())
    if isinstance(eta, str):
        columns.append(TextColumn(eta))
    if eta:
        columns.append(TimeRemainingColumn())
    columns += [TextColumn(field) for field in tail]
    return Progress(*columns, disable=not enabled, transient=transient)
