"""Warm filtered search at 1M: this checkout against another revision of the code, side by side.

Each round runs both, in turn, each in a process of its own: every filter of ``bench/search.py``
(``knn.nearest`` and the products, as its fresh-and-warm table times them), each query run twice
and the second timed.  Prints the medians of the rounds' p50s and of the ratios, and writes JSON.
The other revision is checked out into a temporary git worktree that shares this checkout's
``var/`` (its embedded servers and the database of an earlier ``bench/search.py --products
1000000`` run, which this reuses).

    python bench/search_revisions.py --before 9dd0d4a --rounds 4 --shared-buffers 6GB \\
        --json bench/results/search_1m_statements_side_by_side.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(repo: str, database: str, queries: int) -> dict[str, float]:
    """p50 ms a filter, for the code in ``repo`` (run in its own process by ``main``)."""
    sys.path.insert(0, repo)
    os.chdir(repo)
    os.environ["SHOP_CLIP_TAGGING"] = "1"
    import numpy as np

    import bench.search as search

    search.setup_django(database)
    import shop_clip

    assert shop_clip.__file__.startswith(repo), f"imported {shop_clip.__file__}, not {repo}'s"
    from shop_clip.spaces import configured_space

    space = configured_space()
    vectors, _ = search.VectorModel.create(300, 0).sample(np.random.default_rng(3), queries)
    p50 = {}
    for name, params in search.FILTERS:
        for vector in vectors:  # warm
            search._timed_search(params, space, vector, "default", {})
        times = [search._timed_search(params, space, vector, "default", {})[0] for vector in vectors]
        p50[name] = round(float(np.median(times)) * 1e3, 2)
    return p50


def run_child(repo: Path, database: str, queries: int, label: str) -> dict[str, float]:
    """``child`` for the code in ``repo``, in a process of its own with one torch thread; its
    p50s, printed as one line after ``label``."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "search_revisions.py"), "--child", str(repo),
                          "--database", database, "--queries", str(queries), "--before", "HEAD"],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    p50 = json.loads(run.stdout.splitlines()[-1])
    print(f"{label} " + "  ".join(f"{name} {ms}" for name, ms in p50.items()), flush=True)
    return p50


def compare_rounds(rounds: list[dict], field: str, sides: tuple[str, str], count: int) -> dict[str, dict]:
    """Each filter's medians of the rounds' p50s on both ``sides`` (the values of ``field``) and
    the median of the rounds' ratios, second over first; printed as a table."""
    first, second = sides
    summary = {}
    print(f"\n{'filter':<12} {first:>8} {second:>8} {second + '/' + first:>13}  (medians of {count} rounds, p50 ms)")
    for name in rounds[0]["p50_ms"]:
        a = [r["p50_ms"][name] for r in rounds if r[field] == first]
        b = [r["p50_ms"][name] for r in rounds if r[field] == second]
        ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
        summary[name] = {f"{first}_p50_median": round(statistics.median(a), 2),
                         f"{second}_p50_median": round(statistics.median(b), 2),
                         f"{second}_over_{first}_median": round(ratio, 3), f"{second}_range": [min(b), max(b)],
                         f"{first}_range": [min(a), max(a)]}
        print(f"{name:<12} {statistics.median(a):8.2f} {statistics.median(b):8.2f} {ratio:13.2f}")
    return summary


def head_commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def write_rounds(path: Path, script: str, **fields) -> None:
    """A side-by-side run's JSON: the script, its command line, when, and ``fields``."""
    path.write_text(json.dumps({"benchmark": f"bench/{script}", "command": f"python bench/{script} "
                                + " ".join(sys.argv[1:]), "when": datetime.now(UTC).isoformat(timespec="seconds"),
                                **fields}, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the other revision (a commit, tag or branch)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--database", default="shop_clip_bench_1m")
    parser.add_argument("--shared-buffers", help="restart the embedded PostgreSQL with this for the run")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.database, args.queries)))
        return
    sys.path.insert(0, str(ROOT))
    from bench import search

    search.setup_django(args.database)
    before_buffers = search.server_settings()["shared_buffers"]
    worktree = Path(tempfile.mkdtemp(prefix="shop-clip-before-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.before], check=True,
                   capture_output=True)
    (worktree / "var").symlink_to(ROOT / "var")
    rounds = []
    try:
        if args.shared_buffers:
            search.restart_postgres(args.shared_buffers)
        for number in range(args.rounds):
            for label, repo in (("before", worktree), ("after", ROOT)):
                p50 = run_child(repo, args.database, args.queries, f"round {number + 1} {label:<6}")
                rounds.append({"round": number, "code": label, "p50_ms": p50})
    finally:
        from django.db import connections

        connections.close_all()
        if args.shared_buffers:
            search.restart_postgres(before_buffers)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], capture_output=True)
    summary = compare_rounds(rounds, "code", ("before", "after"), args.rounds)
    if args.json:
        write_rounds(args.json, "search_revisions.py", before=args.before, after=head_commit(), summary=summary,
                     rounds=rounds)


if __name__ == "__main__":
    main()
