"""Draws the benchmark chart for the docs: docs/benchmarks.json -> docs/img/bench.png.

The JSON holds ``title``, ``measured`` (when, how, on what) and ``groups``: each group has a
``name``, a ``unit``, ``lower_is_better`` and ``bars`` (``label``, ``value``). One horizontal
bar panel is drawn per group; bars whose label starts with ``fastphx`` are highlighted.
The PNG is committed, so building the docs needs no matplotlib; rerun this after editing
the JSON: ``.venv/bin/python scripts/plot_bench.py`` (needs ``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "docs" / "benchmarks.json"
DEFAULT_OUT = ROOT / "docs" / "img" / "bench.png"
HIGHLIGHT, OTHER = "#5e35b1", "#9e9e9e"


@dataclass(frozen=True)
class Group:
    """One panel of the chart: labelled values in one unit."""

    name: str
    unit: str
    lower_is_better: bool
    bars: list[tuple[str, float]]


@dataclass(frozen=True)
class BenchData:
    """The whole chart: a title, a provenance line and the panels."""

    title: str
    measured: str
    groups: list[Group]


def parse(data: Any) -> BenchData:
    """Validates the JSON document and returns it typed; raises ``ValueError`` on bad input."""
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise ValueError("benchmarks JSON needs an object with a 'groups' list")
    if not data["groups"]:
        raise ValueError("benchmarks JSON has no groups")
    groups = [parse_group(g) for g in data["groups"]]
    return BenchData(str(data.get("title", "")), str(data.get("measured", "")), groups)


def parse_group(group: Any) -> Group:
    """Validates one group; values must be finite and positive."""
    try:
        bars = [(str(b["label"]), float(b["value"])) for b in group["bars"]]
        name, unit = str(group["name"]), str(group["unit"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed benchmark group: {group!r}") from exc
    if not bars or any(not math.isfinite(v) or v <= 0 for _, v in bars):
        raise ValueError(f"group {name!r} needs bars with finite positive values")
    return Group(name, unit, bool(group.get("lower_is_better", False)), bars)


def load(path: Path) -> BenchData:
    """Reads and validates a benchmarks JSON file."""
    return parse(json.loads(path.read_text()))


def plot(bench: BenchData, out: Path) -> None:
    """Writes the chart as a PNG to ``out`` (parent dirs created); needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [0.45 * len(g.bars) + 0.9 for g in bench.groups]
    fig, axes = plt.subplots(len(bench.groups), 1, figsize=(8, sum(heights) + 0.8),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, group in zip(axes[:, 0], bench.groups, strict=True):
        draw_group(ax, group)
    fig.suptitle(bench.title, fontsize=12, fontweight="bold")
    fig.text(0.01, 0.005, bench.measured, fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" metadata: the PNG only changes when the numbers do.
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def draw_group(ax: Any, group: Group) -> None:
    """Draws one group as horizontal bars, best first, each bar labelled with its value."""
    bars = sorted(group.bars, key=lambda b: b[1], reverse=not group.lower_is_better)
    labels, values = [b[0] for b in bars], [b[1] for b in bars]
    colors = [HIGHLIGHT if label.startswith("fastphx") else OTHER for label in labels]
    ax.barh(range(len(bars)), values, color=colors)
    ax.set_yticks(range(len(bars)), labels)
    ax.invert_yaxis()
    better = "lower is better" if group.lower_is_better else "higher is better"
    ax.set_title(f"{group.name} ({group.unit}, {better})", fontsize=10, loc="left")
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:,.0f}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)


def main(argv: list[str] | None = None) -> int:
    """Command line entry: plot_bench.py [--data JSON] [--out PNG]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    plot(load(args.data), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
