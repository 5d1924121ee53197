"""A compact used/limit bar for GPUs against quota or capacity."""

from __future__ import annotations

from rich.text import Text


def gpu_bar(used: float, limit: float | None, width: int = 8) -> Text:
    """`12/16 ██████░░` coloured by how full it is; no limit shows `12/-`."""
    t = Text(no_wrap=True)
    if limit is None:
        t.append(f"{int(used)}/-", "dim" if not used else "")
        return t
    limit_i = int(limit)
    share = used / limit if limit else (1.0 if used else 0.0)
    style = "green" if share < 0.75 else ("yellow" if share < 1.0 else "bold red")
    t.append(f"{int(used)}/{limit_i}".rjust(7), style)
    if width > 0:
        filled = min(width, round(share * width))
        t.append(" " + "█" * filled, style)
        t.append("░" * (width - filled), "dim")
    return t
