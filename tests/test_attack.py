"""The attack harness of issue 14 (`scripts/attack.py --quick`) against real `qa serve` processes on
loopback: every case of the quick subset is tried, and every one holds.

Slow (a few minutes: several servers start, uploads are ingested). On a failure the message lists
each failed case with its evidence; `python scripts/attack.py --cases N` reruns one case alone."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qa.settings import PROJECT_ROOT

pytestmark = pytest.mark.server  # the script starts the servers: conftest cannot see them

QUICK_CASES = set(range(1, 14)) | {15, 16, 18, 20}  # 14, 17 and 19 (kill -9, disk full, hot swap) are the slow ones


def test_quick_attack_holds_every_case(tmp_path, corpus_service):
    report = tmp_path / "attack.json"
    # The session's corpus index is copied, never written: each server gets its own copy.
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "attack.py"), "--quick",
                           "--index", str(corpus_service.settings.index_dir), "--json", str(report)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800)
    assert report.exists(), f"no report; the script said:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads(report.read_text(encoding="utf-8"))
    assert {r["number"] for r in results if r["tried"]} == QUICK_CASES
    failed = [f"case {r['number']} ({r['name']}): {r['evidence']}" for r in results if r["failed"]]
    assert failed == [], "\n".join(failed)
    assert done.returncode == 0, done.stdout[-3000:]
