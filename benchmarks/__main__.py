"""``python -m benchmarks``: run the benchmarks, print figure, floor, ratio and goal.

python -m benchmarks                          # everything, full sizes (several minutes)
python -m benchmarks --only dispatch,enqueue  # some of them
python -m benchmarks --scale 0.1              # every size x 0.1
python -m benchmarks --size dispatch=2000 --size depth.history=100000
python -m benchmarks --json > results.json    # machine-readable
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from benchmarks import (
    dashboard,
    depth,
    dispatch,
    enqueue,
    latency,
    memory,
    metrics,
    overhead,
    peers,
    postgres,
    sleep_bound,
    status,
)
from benchmarks.harness import DEFAULT_PG_URL, BenchError, Context, Param, Sizes
from benchmarks.report import Report


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    doc: str
    params: Mapping[str, Param]
    run: Callable[[Context, Sizes, Report], None]


def _benchmark(module: ModuleType) -> Benchmark:
    doc = (module.__doc__ or "").strip().splitlines()[0]
    return Benchmark(module.NAME, doc, module.PARAMS, module.run)


BENCHMARKS = {
    b.name: b
    for b in map(
        _benchmark,
        [
            dispatch,
            sleep_bound,
            overhead,
            depth,
            latency,
            enqueue,
            memory,
            peers,
            postgres,
            status,
            metrics,
            dashboard,
        ],
    )
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="queuectl's benchmarks: each figure beside a floor measured in the same run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="benchmarks and their sizes (--size NAME=N sets the first one):\n"
        + "\n".join(
            f"  {b.name:9} {b.doc}\n"
            + "\n".join(
                f"      {b.name}.{k}={p.default}  {p.help}{'' if p.scaled else ' (not scaled)'}"
                for k, p in b.params.items()
            )
            for b in BENCHMARKS.values()
        ),
    )
    parser.add_argument("--only", metavar="A,B", help="run only these benchmarks")
    parser.add_argument("--skip", metavar="A,B", help="run all but these benchmarks")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument(
        "--size", action="append", default=[], metavar="NAME[.KEY]=VALUE", help="set one size"
    )
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per figure")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the JSON to FILE")
    parser.add_argument(
        "--render", type=Path, metavar="FILE", help="print a saved JSON report again; run nothing"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any goal is missed")
    parser.add_argument("--tmp", type=Path, help="where temporary homes go [default: $TMPDIR]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("QUEUECTL_BENCH_PG", DEFAULT_PG_URL),
        help="PostgreSQL server for the postgres rows (a database is created per run) "
        "[default: $QUEUECTL_BENCH_PG or %(default)s]",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _names(text: str | None, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    return names


def _overrides(items: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key.partition(".")[0] not in BENCHMARKS:
            parser.error(f"--size {item!r}: expected NAME=VALUE or NAME.KEY=VALUE")
        overrides[key] = value
    return overrides


def _meta(args: argparse.Namespace) -> dict[str, object]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "scale": args.scale,
        "repeat": args.repeat,
        "commit": commit,
    }


def _print(report: Report, args: argparse.Namespace) -> None:
    if args.json:
        print(report.to_json())
        return
    meta = ", ".join(f"{k} {v}" for k, v in report.meta.items() if v != "")
    print(f"queuectl benchmarks ({meta})\n")
    print(report.render(markdown=args.markdown), end="")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.render is not None:
        _print(Report.from_json(args.render.read_text()), args)
        return 0
    only, skip = _names(args.only, parser), _names(args.skip, parser)
    selected = [n for n in BENCHMARKS if (not only or n in only) and n not in skip]
    ctx = Context(
        scale=args.scale,
        overrides=_overrides(args.size, parser),
        repeat=args.repeat,
        tmp_base=args.tmp,
        keep=args.keep,
        pg_url=args.pg_url,
        quiet=args.quiet,
    )
    try:
        sizes = {name: ctx.sizes(name, BENCHMARKS[name].params) for name in selected}
    except (BenchError, ValueError) as exc:
        parser.error(str(exc))
    report = Report(meta=_meta(args))
    failed = False
    try:
        for name in selected:
            bench = BENCHMARKS[name]
            started = time.perf_counter()
            try:
                bench.run(ctx, sizes[name], report)
            except BenchError as exc:
                failed = True
                report.skip(name, f"FAILED: {exc}")
            except Exception as exc:
                failed = True
                traceback.print_exc()
                report.skip(name, f"FAILED: {type(exc).__name__}: {exc}")
            ctx.log(f"{name}: done in {time.perf_counter() - started:.1f} s")
    finally:
        ctx.cleanup()
        if ctx.keep:
            ctx.log(f"temporary homes kept in {ctx.root}")
    report.meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.save is not None:
        args.save.write_text(report.to_json() + "\n")
    _print(report, args)
    if failed:
        return 1
    if args.check and any(row.met is False for row in report.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
