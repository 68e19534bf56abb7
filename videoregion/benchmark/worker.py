"""``python -m videoregion.benchmark.worker SPEC_JSON``: one workload's peak memory, in a fresh process.

Prints ``WORKER_TAG`` followed by the JSON of
:func:`~videoregion.benchmark.measure.measure_in_this_process`; the parent reads that line back.
"""

from __future__ import annotations

import json
import sys

from .measure import WORKER_TAG, measure_in_this_process


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: python -m videoregion.benchmark.worker SPEC_JSON")
    print(WORKER_TAG + json.dumps(measure_in_this_process(json.loads(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
