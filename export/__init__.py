"""Model export tools (`python -m export.onnx`, `python -m export.ship`)."""
from __future__ import annotations

import json
import sys
from typing import Callable


def run_command(work: Callable[[], dict]) -> int:
    """The shared ending of both commands: print the report as JSON and exit 0, or print any failure
    as one line `Error: ...` on stderr (never a traceback) and exit 1."""
    try:
        report = work()
    except Exception as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0
