"""Soak run for the figures in bench/README.md: the facade and the DMP simulator as two processes, N submissions,
faults injected at random by the simulator (busy, SOAP fault, dropped connection, slow, slower than the read
timeout). Prints lost / duplicated counts and the time to delivery (p50 / p95).

    .venv/bin/python bench/soak.py --n 3000 [--workers 8] [--fault-rate 0.2] [--seed 20260302]
                                       [--async-share 0.3] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives with the tests

from tests.resilience.soak import run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of DMP requests answered with a fault")
    parser.add_argument("--seed", type=int, default=20260302)
    parser.add_argument("--async-share", type=float, default=0.3, help="share of POSTs with Prefer: respond-async")
    parser.add_argument("--keep", help="work folder to keep (logs, simulator inbox, outbox); default: a temp folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="facade-soak-"))
    try:
        report = run_soak(
            root,
            args.n,
            workers=args.workers,
            fault_rate=args.fault_rate,
            seed=args.seed,
            async_share=args.async_share,
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report.summary(), indent=2) if args.json else report.text())
    ok = not (report.lost or report.duplicated or report.unexpected or report.dead or report.records_per_document)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
