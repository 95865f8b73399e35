"""`facade preview FILE|DIR...`: offline conversion of many bundles, one folder of artefacts per file, a summary.

Each file ends in one of four results, ordered by gravity; the command exits with the worst one's code:
0 accepted (valid output), 1 invalid (the output fails validation), 2 rejected (the input is refused, as the API
would answer 4xx), 3 failed (the facade itself could not convert it: template, kit or configuration problem).
With ``jobs > 1`` files are converted in worker processes (conversion is CPU-bound), each with its own converter.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TextIO

from lxml import etree

from facade.errors import FacadeError, Issue, Problem
from facade.outcomes import operation_outcome
from facade.pipeline import Converter


class Result(Enum):
    ACCEPTED = 0
    INVALID = 1
    REJECTED = 2
    FAILED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Options:
    kit: Path | None = None
    full: bool = False
    production_ins_only: bool = False
    now: str | None = None  # reproducible output: fixed clock + sequential OIDs


@dataclass(frozen=True)
class Job:
    source: Path
    out: Path


@dataclass(frozen=True)
class FileReport:
    source: Path
    out: Path
    result: Result
    documents: int
    errors: int
    warnings: int
    codes: tuple[str, ...]  # problem codes of the errors and warnings, each once
    lines: tuple[str, ...]  # "severity: code: message", for a person reading one file's preview


def jobs_for(paths: Sequence[Path], out: Path) -> list[Job]:
    """One job per input file; folders give their ``*.json`` files, recursively, in name order. A single file
    argument writes into ``out`` itself; otherwise each file gets ``out/<its path below the argument>/``."""
    if len(paths) == 1 and not paths[0].is_dir():
        return [Job(paths[0], out)]
    jobs: list[Job] = []
    taken: set[Path] = set()
    for path in paths:
        found = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for source in found:
            relative = source.relative_to(path).with_suffix("") if path.is_dir() else Path(source.stem)
            target = out / (path.name if path.is_dir() and len(paths) > 1 else "") / relative
            n = 1
            while target in taken:  # the same name from two arguments
                n += 1
                target = target.with_name(f"{relative.name}-{n}")
            taken.add(target)
            jobs.append(Job(source, target))
    return jobs


def build_converter(options: Options) -> Converter:
    from facade.ids import SequentialOids
    from facade.runtime import Runtime
    from facade.settings import Settings

    overrides: dict[str, object] = {"environment": "development"}
    if options.kit:
        overrides["validation_kit"] = options.kit
    settings = Settings(**overrides)  # type: ignore[arg-type]
    # Nothing is sent by a preview: INS test/demo OIDs are accepted unless production_ins_only.
    settings.input.accept_test_ins = not options.production_ins_only
    try:
        converter = Runtime(settings).converter
    except OSError as exc:  # an unreadable kit or templates: one clear line, not a traceback
        raise FacadeError(Problem.CONFIGURATION, reason=f"cannot load the validation kit or templates: {exc}") from exc
    if options.now:
        fixed = datetime.fromisoformat(options.now)
        converter.now = lambda: fixed
        converter.new_oid = SequentialOids(settings.facility.oid_root)
    return converter


def preview_file(converter: Converter, job: Job, *, full: bool) -> FileReport:
    """Convert one file and write its artefacts: ``<n>.cda.xml``, ``<n>.metadata.xml``, ``outcome.json``."""
    try:
        body = job.source.read_bytes()
    except OSError as exc:
        line = f"error: unreadable: cannot read {job.source}: {exc.strerror or exc}"
        return FileReport(job.source, job.out, Result.REJECTED, 0, 1, 0, ("unreadable",), (line,))
    job.out.mkdir(parents=True, exist_ok=True)
    try:
        conversion = converter.convert(body, full=full)
    except FacadeError as exc:
        _write_outcome(job.out, exc.issues)
        result = Result.FAILED if exc.http_status >= 500 else Result.REJECTED
        return _report(job, result, 0, exc.issues)
    metadata = etree.tostring(conversion.metadata(), xml_declaration=True, encoding="UTF-8")
    for n, doc in enumerate(conversion.documents, start=1):
        (job.out / f"{n}.cda.xml").write_bytes(doc.cda)
        (job.out / f"{n}.metadata.xml").write_bytes(metadata)
    issues = conversion.all_issues()
    _write_outcome(job.out, issues)
    result = Result.INVALID if any(i.is_error for i in issues) else Result.ACCEPTED
    return _report(job, result, len(conversion.documents), issues)


def _write_outcome(out: Path, issues: Sequence[Issue]) -> None:
    text = json.dumps(operation_outcome(list(issues)), indent=2, ensure_ascii=False) + "\n"
    (out / "outcome.json").write_text(text, encoding="utf-8")


def _report(job: Job, result: Result, documents: int, issues: Sequence[Issue]) -> FileReport:
    errors = [i for i in issues if i.is_error]
    warnings = [i for i in issues if i.effective_severity == "warning"]
    codes = tuple(dict.fromkeys(i.problem.spec.code for i in [*errors, *warnings]))
    lines = tuple(f"{i.effective_severity}: {i.problem.spec.code}: {i.message}" for i in issues)
    return FileReport(job.source, job.out, result, documents, len(errors), len(warnings), codes, lines)


# --- worker processes: one converter each, built once ---
_worker_converter: Converter | None = None
_worker_full = False


def _init_worker(options: Options) -> None:
    global _worker_converter, _worker_full
    _worker_converter, _worker_full = build_converter(options), options.full


def _run_in_worker(job: Job) -> FileReport:
    assert _worker_converter is not None
    return preview_file(_worker_converter, job, full=_worker_full)


def run(
    jobs: Sequence[Job], options: Options, *, processes: int, on_start: Callable[[Job], None] | None = None
) -> Iterator[FileReport]:
    """Reports as files finish (in completion order when ``processes > 1``)."""
    converter = build_converter(options)  # also checks the configuration before any worker starts
    if processes <= 1 or len(jobs) <= 1:
        for job in jobs:
            if on_start:
                on_start(job)
            yield preview_file(converter, job, full=options.full)
        return
    # spawn: workers start clean (no inherited threads or locks), each builds its own converter
    context = multiprocessing.get_context("spawn")
    workers = min(processes, len(jobs))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(options,)) as pool:
        futures = [pool.submit(_run_in_worker, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


class Progress:
    """A bar redrawn in place on a terminal; one plain line per finished file otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.tty = stream.isatty()

    def start(self, job: Job) -> None:
        if self.tty:
            self._draw(f"converting {job.source.name}")

    def finished(self, report: FileReport) -> None:
        self.done += 1
        if self.tty:
            self._draw(f"{report.result.label} {report.source.name}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {report.result.label}: {report.source}\n")
        self.stream.flush()

    def _draw(self, what: str) -> None:
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r\x1b[K[{bar}] {self.done}/{self.total} {what}")
        self.stream.flush()


def summary(reports: Sequence[FileReport]) -> str:
    """A plain-text table, one row per file in input order, then the totals per result."""
    rows = [("FILE", "RESULT", "DOCS", "ERRORS", "WARNINGS", "PROBLEM CODES")]
    rows += [
        (str(r.source), r.result.label, str(r.documents), str(r.errors), str(r.warnings), ", ".join(r.codes) or "-")
        for r in reports
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows]
    totals = Counter(r.result for r in reports)
    lines.append(f"{len(reports)} file(s): " + ", ".join(f"{totals[r]} {r.label}" for r in Result))
    return "\n".join(line.rstrip() for line in lines)


def exit_code(reports: Sequence[FileReport]) -> int:
    return max((r.result.value for r in reports), default=Result.REJECTED.value)
