"""How often the judge fails a release that is as good as the old one: simulated bakes of
identical releases (1% random 5xx on both sides, the same response times), at four traffic
levels (the new side's requests over the soonest-pass time), each run to a verdict with the
role's default looks (one a second). Pure computation, no sandbox; the bakes are shared out
over the machine's cores.

    .venv/bin/python bench/judge_false_fails.py                 # 1,000 bakes per traffic level
    .venv/bin/python bench/judge_false_fails.py --bakes 10000 --seed 7

webapp_bake_confidence (0.99) promises at most 1% of good releases fail the deploy; the
release's verdict has half of that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.judge_simulation import false_fails

LEVELS = (20, 200, 2000, 20000)


def _share(job: tuple[int, int, int]) -> dict[str, int]:
    per_bake, bakes, seed = job
    return false_fails(per_bake, bakes, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bakes", type=int, default=1000, help="simulated bakes per traffic level")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: one per traffic level)")
    args = parser.parse_args()
    print(
        f"{'requests per bake':>18} {'bakes':>7} {'fail':>6} {'false-fail rate':>16} {'pass':>6} {'marginal':>9} "
        f"{'inconclusive':>13} {'seconds':>8}"
    )
    workers = os.cpu_count() or 1
    for per_bake in LEVELS:
        began = time.monotonic()
        seed = per_bake if args.seed is None else args.seed
        jobs = [(per_bake, args.bakes // workers + (i < args.bakes % workers), seed * 1000 + i) for i in range(workers)]
        counts = {"fail": 0, "pass": 0, "marginal": 0, "inconclusive": 0}
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_share, jobs):
                counts = {k: counts[k] + part[k] for k in counts}
        print(
            f"{per_bake:>18} {args.bakes:>7} {counts['fail']:>6} {counts['fail'] / args.bakes:>16.2%} "
            f"{counts['pass']:>6} {counts['marginal']:>9} {counts['inconclusive']:>13} {time.monotonic() - began:>8.1f}"
        )


if __name__ == "__main__":
    main()
