"""Rows of figures, their floors and goals, and the ways to print them."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Goal", "Report", "Row", "Skip", "Table"]

GoalKind = Literal["ratio>=", "ratio<=", "<=", "<", ">="]


@dataclass(frozen=True, slots=True)
class Goal:
    """A target from the issue's goal table: on the ratio to the floor, or absolute."""

    kind: GoalKind
    value: float

    def met(self, row: Row) -> bool | None:
        if self.kind.startswith("ratio"):
            ratio = row.ratio
            if ratio is None:
                return None
            return ratio >= self.value if self.kind == "ratio>=" else ratio <= self.value
        if self.kind == "<=":
            return row.figure <= self.value
        if self.kind == "<":
            return row.figure < self.value
        return row.figure >= self.value

    def text(self, unit: str) -> str:
        sign = {"ratio>=": "≥", "ratio<=": "≤", "<=": "≤", "<": "<", ">=": "≥"}[self.kind]
        if self.kind.startswith("ratio"):
            return f"{sign} {self.value:g}x floor"
        return f"{sign} {_number(self.value)} {unit}"


@dataclass(slots=True)
class Row:
    """One measured figure. ``floor`` is measured in the same run (None: no floor)."""

    bench: str
    case: str
    figure: float
    unit: str
    floor: float | None = None
    #: What the floor is, e.g. "posix_spawn+pidfd on uvloop".
    floor_name: str = ""
    goal: Goal | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor == 0 or math.isnan(self.figure):
            return None
        return self.figure / self.floor

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["goal"] = None if self.goal is None else self.goal.text(self.unit)
        data["goal_spec"] = None if self.goal is None else [self.goal.kind, self.goal.value]
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


@dataclass(frozen=True, slots=True)
class Skip:
    bench: str
    reason: str


@dataclass(slots=True)
class Table:
    """A side table (e.g. every spawn method's rate at every concurrency)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    rows: list[Row] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def skip(self, bench: str, reason: str) -> None:
        self.skips.append(Skip(bench, reason))

    @classmethod
    def from_json(cls, text: str) -> Report:
        """A report saved with ``--save`` or ``--json``, to print again."""
        data = json.loads(text)
        rows = []
        for raw in data["rows"]:
            goal = None
            if raw.get("goal_spec"):
                goal = Goal(raw["goal_spec"][0], raw["goal_spec"][1])
            elif raw.get("goal"):
                goal = _parse_goal(raw["goal"])
            fields = {k: raw[k] for k in ("bench", "case", "figure", "unit", "floor", "note")}
            rows.append(Row(**fields, floor_name=raw["floor_name"], goal=goal))
        return cls(
            rows=rows,
            skips=[Skip(**s) for s in data["skipped"]],
            tables=[Table(**t) for t in data["tables"]],
            meta=data["meta"],
        )

    # -- output -------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "meta": self.meta,
                "rows": [r.as_dict() for r in self.rows],
                "skipped": [asdict(s) for s in self.skips],
                "tables": [asdict(t) for t in self.tables],
            },
            indent=2,
        )

    def render(self, *, markdown: bool = False) -> str:
        header = ["benchmark", "case", "figure", "floor", "ratio", "goal", "met"]
        body = [_cells(r) for r in self.rows]
        parts = [_grid(header, body, markdown=markdown)]

        def section(title: str, items: list[str]) -> None:
            if items:
                bullet = "- " if markdown else "  "
                heading = f"**{title}**" if markdown else f"{title}:"
                parts.append(heading + "\n" + "\n".join(bullet + item for item in items))

        section("floors", [f"{b}: {n}" for b, n in _floor_names(self.rows)])
        section("notes", [f"{r.bench}, {r.case}: {r.note}" for r in self.rows if r.note])
        for table in self.tables:
            title = f"**{table.title}**" if markdown else table.title
            parts.append(title + "\n\n" + _grid(table.columns, table.rows, markdown=markdown))
        section("skipped", [f"{s.bench}: {s.reason}" for s in self.skips])
        if self.rows:
            judged = [r.met for r in self.rows if r.met is not None]
            parts.append(f"goals met: {sum(judged)} of {len(judged)}")
        return "\n\n".join(parts) + "\n"


def _parse_goal(text: str) -> Goal:
    """Read back a goal from its printed form (reports saved before goal_spec existed)."""
    sign, number = text.split()[:2]
    value = float(number.rstrip("x").replace(",", ""))
    if text.endswith("floor"):
        return Goal("ratio>=" if sign == "≥" else "ratio<=", value)
    kinds: dict[str, GoalKind] = {"≤": "<=", "<": "<", "≥": ">="}
    return Goal(kinds[sign], value)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cells(row: Row) -> list[str]:
    floor = "" if row.floor is None else f"{_number(row.floor)} {row.unit}"
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    goal = "" if row.goal is None else row.goal.text(row.unit)
    mark = {True: "ok", False: "FAIL", None: ""}[row.met]
    return [row.bench, row.case, f"{_number(row.figure)} {row.unit}", floor, ratio, goal, mark]


def _floor_names(rows: list[Row]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for row in rows:
        if row.floor_name and (row.bench, row.floor_name) not in seen:
            seen.append((row.bench, row.floor_name))
    return seen


def _numeric(cell: str) -> bool:
    return not cell or cell[0].isdigit() or cell in ("n/a", "-")


def _grid(header: list[str], body: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max([len(h)] + [len(c[i]) for c in body]) for i, h in enumerate(header)]
    right = {i for i in range(len(header)) if all(_numeric(c[i]) for c in body)}

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(c) for c in body])
