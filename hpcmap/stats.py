"""Summary statistics of repeated timings: mean, median, spread and a 95% confidence interval."""
from __future__ import annotations

import math
import statistics

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042]


def t95(dof: int) -> float:
    return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96


def summarize(times: list[float]) -> dict[str, float | int | None]:
    """`ci95_s` is the half-width of the 95% interval of the mean (None for fewer than 2 times)."""
    n = len(times)
    if n == 0:
        return {"n": 0, "mean_s": None, "median_s": None, "std_s": None, "ci95_s": None, "cv": None,
                "min_s": None, "max_s": None}
    mean = statistics.fmean(times)
    std = statistics.stdev(times) if n > 1 else 0.0
    return {
        "n": n, "mean_s": mean, "median_s": statistics.median(times), "std_s": std,
        "ci95_s": t95(n - 1) * std / math.sqrt(n) if n > 1 else None,
        "cv": std / mean if mean > 0 else None, "min_s": min(times), "max_s": max(times),
    }
