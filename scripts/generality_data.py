"""Extract the generality report's public data from repository snapshots into a gitignored cache.

    .venv/bin/python scripts/generality_data.py [--mirror /work/.mirror] [--out .leanrag/cache/generality]

Each set of scripts/data/generality_sources.json names a public repository, a commit and a path. The
repository is a bare snapshot (``<mirror>/<owner>+<name>/repo``) or an ordinary clone
(``<mirror>/<owner>+<name>/.git``, a clone of the repository in a folder of that name);
the file is read at the named commit with ``git show``, so the bytes are exactly that version. Nothing
is downloaded here and nothing is committed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "data" / "generality_sources.json"


def extract(mirror: Path, out: Path) -> list[str]:
    """Write each available set to ``out/<name>.json``; returns the names of the sets not found."""
    out.mkdir(parents=True, exist_ok=True)
    missing = []
    for s in json.loads(SOURCES.read_text())["sets"]:
        target = out / f"{s['name']}.json"
        if target.exists():
            continue
        clone = mirror / s["repo"].replace("/", "+")
        git = clone / "repo" if (clone / "repo").is_dir() else clone / ".git"  # a bare snapshot, or a clone
        got = subprocess.run(["git", "--git-dir", str(git), "show", f"{s['commit']}:{s['path']}"],
                             capture_output=True)
        if got.returncode != 0:
            missing.append(f"{s['name']} ({s['repo']}@{s['commit'][:8]}:{s['path']})")
            continue
        target.write_bytes(got.stdout)
    return missing


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=ROOT / ".leanrag" / "cache" / "generality")
    args = ap.parse_args()
    missing = extract(args.mirror, args.out)
    for m in missing:
        print(f"not found: {m}; bring the repository's snapshot first", file=sys.stderr)
    print(f"data in {args.out}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
