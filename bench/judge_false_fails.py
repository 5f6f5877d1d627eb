"""How often the judge fails a release that is as good as the old one: simulated bakes of
identical releases (1% random 5xx on both sides, the same response times), at three traffic
levels, each run to a verdict with the role's default looks. Pure computation, no sandbox.

    .venv/bin/python bench/judge_false_fails.py                 # 1,000 bakes per traffic level
    .venv/bin/python bench/judge_false_fails.py --bakes 10000 --seed 7

webapp_bake_confidence (0.99) promises at most 1% of good releases fail.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.judge_simulation import false_fails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bakes", type=int, default=1000, help="simulated bakes per traffic level")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: one per traffic level)")
    args = parser.parse_args()
    print(
        f"{'requests per bake':>18} {'bakes':>7} {'fail':>6} {'false-fail rate':>16} {'pass':>6} {'marginal':>9} "
        f"{'inconclusive':>13} {'seconds':>8}"
    )
    for per_bake in (20, 200, 2000):
        began = time.monotonic()
        counts = false_fails(per_bake, args.bakes, args.seed)
        print(
            f"{per_bake:>18} {args.bakes:>7} {counts['fail']:>6} {counts['fail'] / args.bakes:>16.2%} "
            f"{counts['pass']:>6} {counts['marginal']:>9} {counts['inconclusive']:>13} {time.monotonic() - began:>8.1f}"
        )


if __name__ == "__main__":
    main()
