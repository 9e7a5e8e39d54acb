"""Thin wrapper: `python scripts/ingest.py PATH... [--store DIR] [--json]` is `rag ingest`."""
from __future__ import annotations

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
