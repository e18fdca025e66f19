"""The long differential run (issue 12): many seeds of tests/differential.py, one after the other,
each a real daemon against a cold scan; prints which seeds disagree and a tally of the kinds of
difference, and keeps each failing seed's report and work directory for minimising.

    python bench/differential.py --seeds 50 [--start 1000] [--ops 120] [--bursts] [--out DIR]

Run as root, each seed runs as `nobody` (setpriv), so that chmod 000 means something; the
interpreter must then be reachable by nobody (a venv made from /usr/bin/python3, not one under
/root). Exits 1 when any seed disagrees.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemonproc import remove_tree, shared_tmpdir, user_prefix

ENGINE = Path(__file__).resolve().parent.parent / "tests" / "differential.py"


def _side(text: str) -> str:
    """`status/error-code` of one side of a `matches` difference."""
    if text == "absent":
        return "absent"
    status, _, error = json.loads(text)
    return status + (f"/{error.split(':')[0]}" if error else "")


def kind(line: str) -> str:
    """A coarse signature of one difference line, to tally distinct kinds across seeds."""
    m = re.match(r"matches .*?: daemon (.*), scan (.*)$", line)
    if m:
        return f"matches: daemon {_side(m.group(1))} vs scan {_side(m.group(2))}"
    m = re.match(r"folder \S+: (only in the \w+'s status)", line) or re.match(r"folder \S+: (\w+):", line)
    if m:
        return f"folder {m.group(1)}"
    if line.startswith("status "):
        return line.split(":", maxsplit=1)[0]
    return re.sub(r"\d+(\.\d+)?", "N", line)[:100]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--start", type=int, default=int(time.time()) % 100000)
    p.add_argument("--ops", type=int, default=120)
    p.add_argument("--bursts", action="store_true")
    p.add_argument(
        "--without", default="", metavar="OP,...", help="operations to leave out (see tests/differential.py)"
    )
    p.add_argument("--out", type=Path, default=Path("/tmp/hashwatchd-differential"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = user_prefix()
    tally: collections.Counter[str] = collections.Counter()
    where: dict[str, list[int]] = collections.defaultdict(list)
    failing = []
    for seed in range(args.start, args.start + args.seeds):
        work = shared_tmpdir(f"hwdiff-{seed}-")
        cmd = [
            *prefix,
            sys.executable,
            str(ENGINE),
            "--seed",
            str(seed),
            "--ops",
            str(args.ops),
            "--workdir",
            str(work),
        ]
        cmd += ["--json"] + (["--bursts"] if args.bursts else [])
        if args.without:
            cmd += ["--without", args.without]
        start = time.monotonic()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/") as proc:
            try:
                stdout, stderr = proc.communicate()
            finally:
                if proc.poll() is None:
                    proc.terminate()  # the engine kills its daemon on SIGTERM
                    proc.wait()
        r = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
        took = time.monotonic() - start
        try:
            outcome = json.loads(r.stdout.splitlines()[-1])
        except (IndexError, ValueError):
            print(f"seed {seed}: the engine failed ({r.returncode}):\n{r.stderr[-2000:]}", flush=True)
            failing.append(seed)
            continue
        diffs = outcome["differences"]
        kinds = sorted({kind(d) for d in diffs})
        for k in kinds:
            tally[k] += 1
            where[k].append(seed)
        print(f"seed {seed}: {len(diffs)} differences in {took:.0f} s {kinds}", flush=True)
        if diffs:
            failing.append(seed)
            outcome["workdir"] = str(work)  # kept for minimising
            (args.out / f"seed-{seed}.json").write_text(json.dumps(outcome, indent=1))
        else:
            remove_tree(work)
    print(f"\n{len(failing)} of {args.seeds} seeds disagree: {failing}")
    for k, n in tally.most_common():
        print(f"  {n:4d}  {k}   (seeds {where[k][:8]})")
    return 1 if failing else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
