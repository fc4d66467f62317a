"""Replays the hostile inputs of the security probe against a running store (loopback only):
every query case on every GET operation, every upload shape on both photo endpoints.  Prints a
table of answers by status and writes JSON; exits 1 if any answer is a 5xx.

    python manage.py demo --no-server && python manage.py runserver --insecure 127.0.0.1:8000 &
    python bench/replay_hostile.py --url http://127.0.0.1:8000/api/shop-clip --json bench/results/hostile_replay.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_images import hostile_uploads  # noqa: E402  (the corpus the suite posts)

NUL, HUGE_NUMBER, HUGE_INT = "\x00", "1e99999999999", "9" * 40
QUERY_CASES = [
    {"q": "red\x00dress"}, {"q": "-" * 33}, {"q": "dress " + "-" * 32}, {"q": "red\x01\x1b[31mdress"},
    {"q": NUL}, {"q": "dress" + " -" * 32}, {"q": '"' * 41}, {"q": "or " * 60}, {"q": "x" * 5000},
    {"q": "dress", "min_price": "10\x00"}, {"q": "dress", "category": "t-shirt\x00"},
    {"q": "dress", "min_price": HUGE_NUMBER}, {"q": "dress", "max_price": "-" + HUGE_NUMBER},
    {"q": "dress", "min_price": "1e-99999999999"}, {"q": "dress", "min_price": "9" * 5000},
    {"q": "dress", "limit": "0"}, {"q": "dress", "limit": HUGE_INT}, {"q": "dress", "offset": "-" + HUGE_INT},
    {"q": "dress", "mode": "vector\x00"}, {"q": "dress", **{f"p{n}": "1" for n in range(1001)}},
    {"categories": HUGE_INT}, {"per_category": "-1"}, {"min_price": HUGE_NUMBER},
]
# Each operation's own names: one is sent only where it is taken, so its hostile value reaches the
# parsing of that operation rather than the refusal of a name it does not take.
TAKES = {"search/": {"q", "mode", "limit", "offset"}, "similar/": {"limit", "offset"},
         "complete-the-look/": {"categories", "per_category"}}
OPERATION_NAMES = set().union(*TAKES.values())
BAD_PKS = ["0", "-1", HUGE_INT, "9" * 5000, "1.5", "1\x00", "%00", "abc", "'; select 1; --"]


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def multipart(data: bytes) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"upload\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/api/shop-clip")
    parser.add_argument("--upload-limit", type=int, default=10 * 1024 * 1024, help="the store's MAX_UPLOAD_BYTES")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if urllib.parse.urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: --url must name 127.0.0.1 or localhost")
    base = args.url.rstrip("/")
    status, text = call("GET", f"{base}/search/?q=dress&limit=1")
    if status != 200:
        print(f"the store does not answer a plain search ({status}): {text}", file=sys.stderr)
        return 2
    pk = json.loads(text)["results"][0]["product"]["id"]
    sent: list[dict] = []

    def record(case: str, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> None:
        sent.append({"case": case, "status": call(method, url, body, headers)[0]})

    started = time.perf_counter()
    for params in QUERY_CASES:
        for operation, taken in TAKES.items():
            path = operation if operation == "search/" else f"products/{pk}/{operation}"
            own = {name: value for name, value in params.items() if name in taken or name not in OPERATION_NAMES}
            if own:
                query = urllib.parse.urlencode(own)
                record(f"GET {path} {sorted(own)[:3]}", "GET", f"{base}/{path}?{query}")
    for bad in BAD_PKS:
        for path in ("similar", "complete-the-look", "tags"):
            quoted = urllib.parse.quote(bad, safe="")
            record(f"GET products/{bad[:12]!r}/{path}/", "GET", f"{base}/products/{quoted}/{path}/")
    for upload in hostile_uploads(args.upload_limit):
        body, headers = multipart(upload.data)
        for path in ("search/image/", "shop-the-look/"):
            record(f"POST {path} {upload.name}", "POST", f"{base}/{path}", body, headers)
    by_status = Counter(row["status"] for row in sent)
    errors = [row for row in sent if row["status"] >= 500]
    print(f"{'status':>6} {'answers':>8}")
    for status, count in sorted(by_status.items()):
        print(f"{status:>6} {count:>8}")
    print(f"{len(sent)} requests in {time.perf_counter() - started:.1f} s, {len(errors)} answered 5xx")
    for row in errors:
        print("  5xx:", row["case"], row["status"])
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "hostile replay", "url": args.url, "requests": len(sent),
                                         "by_status": {str(k): v for k, v in sorted(by_status.items())},
                                         "server_errors": errors, "answers": sent}, indent=1) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
