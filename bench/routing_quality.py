"""Routing quality: APGR of ``fleet routing score`` on the labelled dev split.

The dev split and its scorer live outside the project (``../shared/routing-dev``; its prompts
are never copied here). Run: python -m bench.routing_quality [path/to/routing-dev]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    dev = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "routing-dev"
    scorer = dev / "apgr.py"
    if not scorer.exists():
        print(f"no routing dev split at {dev}; skipped")
        return 0
    command = f"{sys.executable} -m fleet.cli routing score"
    return subprocess.call([sys.executable, str(scorer), command], cwd=ROOT)


if __name__ == "__main__":
    raise SystemExit(main())
