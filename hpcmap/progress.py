"""A progress bar on stderr for studies that run a known list: one line per finished record."""
from __future__ import annotations


class RecordProgress:
    """A rich progress bar under LABEL, printing each finished record's outcome and its STATISTIC
    (`mean` or `median`, from the record's stats) with the first line of its message."""

    def __init__(self, label: str, total: int, statistic: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, highlight=False)
        self.statistic = statistic
        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), console=self.console)
        self.task = self.progress.add_task("", total=total)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def phase(self, status, total: int) -> None:
        return None

    def record(self, record: dict, status) -> None:
        value = (record.get("stats") or {}).get(f"{self.statistic}_s")
        color = "green" if record["outcome"] == "ok" else "red"
        message = (record.get("message") or "").strip()
        self.progress.console.print(f"  {record['name']}: [{color}]{record['outcome']}[/]"
                                    + (f" {self.statistic} {value:.6f} s" if value is not None else "")
                                    + (f"  {message.splitlines()[0][:100]}" if message else ""))
        self.progress.update(self.task, advance=1, description=record["name"])
