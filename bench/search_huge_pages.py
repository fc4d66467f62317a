"""Warm filtered search at 1M with PostgreSQL's shared memory in 4 kB pages and in 2 MB huge
pages, side by side.

Each round restarts the embedded PostgreSQL twice, once each way (which goes first alternates),
loads the space with the app's prewarm, and times every filter of ``bench/search.py`` in a process
of its own (``search_revisions.child``: ``knn.nearest`` and the products, each query run twice
and the second timed).  Prints the medians of the rounds' p50s and of the ratios, and writes JSON.
The huge pages are reserved for the run (root) and given back after it.

    python bench/search_huge_pages.py --rounds 3 --shared-buffers 6GB \\
        --json bench/results/search_1m_huge_pages.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("off", "on")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--database", default="shop_clip_bench_1m")
    parser.add_argument("--shared-buffers", default="6GB")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench import search
    from bench.search_revisions import compare_rounds, head_commit, run_child, write_rounds
    from bench.support import huge_pages_reserved, release_huge_pages

    search.setup_django(args.database)
    from django.db import connections

    from shop_clip import prewarm
    from shop_clip.spaces import configured_space

    before = search.server_settings()
    reserved = huge_pages_reserved()
    rounds = []
    try:
        for number in range(args.rounds):
            for mode in MODES if number % 2 == 0 else MODES[::-1]:
                search.restart_postgres(args.shared_buffers, mode)
                status = search.server_settings()["huge_pages_status"]
                if status != mode:
                    raise SystemExit(f"huge_pages {mode} asked for, the server says {status}")
                prewarm.prewarm(configured_space())
                connections.close_all()  # the child has the server to itself
                p50 = run_child(ROOT, args.database, args.queries, f"round {number + 1} huge pages {mode:<3}")
                rounds.append({"round": number, "huge_pages": mode, "p50_ms": p50})
    finally:
        connections.close_all()
        search.restart_postgres(before["shared_buffers"], before["huge_pages"])
        release_huge_pages(reserved)
    summary = compare_rounds(rounds, "huge_pages", MODES, args.rounds)
    if args.json:
        write_rounds(args.json, "search_huge_pages.py", code=head_commit(), machine=search.machine(),
                     shared_buffers=args.shared_buffers, summary=summary, rounds=rounds)


if __name__ == "__main__":
    main()
