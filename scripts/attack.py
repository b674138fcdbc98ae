"""Attack the HTTP API on loopback and say, case by case, whether it held (issue 14: "fixed by test, not by hope").

    python scripts/attack.py                 # every case: 100 MB headers, 200 MB uploads, kill -9, hot swap… (~10 min)
    python scripts/attack.py --quick         # the CI subset, sends scaled down (~3 min on 2 cores)
    python scripts/attack.py --cases 9,12    # some cases only
    python scripts/attack.py --index DIR     # copy this index instead of index/default

Every server is `qa serve` started here on a free 127.0.0.1 port over a private copy of the index
(the original is never written), with fresh keys admin:A and reader:R and anonymous reading off;
nothing is sent anywhere else. The main server (QA_MAX_UPLOAD_BYTES=2 MB) is shared by the cases
that do not break it; the others start their own, and every server is stopped before the script
ends. Each case's loops are bounded in count and time.

The table at the end has one row per case: probes tried, held and failed, and the evidence
(measurements, and every probe that failed). The exit status is 1 when any case failed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from attack import bodies, edge, storage, uploads  # the package scripts/attack/ (a package wins over this file)
from attack import server as srvmod
from attack.harness import Case, Ctx, Keys, Result, Tally, summary, table, write_json

CASES = (
    Case(1, "100 MB request header", True, "main", edge.header_flood),
    Case(2, "chunked body to /ask, no key", True, "main", edge.chunked_ask_without_key),
    Case(3, "chunked body to /ask, reader key", True, "main", edge.chunked_ask_with_reader_key),
    Case(4, "200 MB upload, no key", True, "main", edge.upload_without_key),
    Case(5, "upload over the size limit", True, "main", edge.upload_over_limit),
    Case(6, "100 wrong keys from one address", True, "main", edge.wrong_keys),
    Case(7, "heavy history (20 x 500 chars)", True, "main", edge.heavy_history),
    Case(8, "short follow-up, long history", True, "main", edge.short_follow_up),
    Case(9, "bad bodies", True, "main", bodies.bodies),
    Case(10, "X-Request-ID on every answer", True, "main", bodies.request_ids),
    Case(11, "OPTIONS lists every method", True, "main", bodies.options),
    Case(12, "key matrix", True, "main", bodies.key_matrix),
    Case(13, "bad uploads", True, "main", uploads.bad_uploads),
    Case(14, "kill -9 during an ingest", False, "own", storage.kill_during_ingest),
    Case(15, "corrupted index files", True, "own", storage.corrupted_index),
    Case(16, "dangling CURRENT", True, "own", storage.dangling_current),
    Case(17, "disk full", False, "own", storage.disk_full),
    Case(18, "stale .tmp folder", True, "main", uploads.stale_tmp_folder),
    Case(19, "hot swap under load", False, "own", storage.hot_swap),
    Case(20, "keys never leak", True, "post", bodies.secrets_kept),
)
BY_NUMBER = {c.number: c for c in CASES}
# The order on the main server: harmless probes first, uploads late (18 leaves a document that case 16
# looks for), the request-id sweep after everything else, and the wrong keys last: throttling the
# address may slow what comes after.
MAIN_ORDER = (11, 12, 9, 7, 8, 1, 2, 3, 4, 5, 13, 18, 10, 6)
OWN_ORDER = (15, 16, 17, 14, 19)
MAIN_ENV = {"QA_MAX_UPLOAD_BYTES": str(edge.MAX_UPLOAD)}


def run_case(ctx: Ctx, case: Case) -> Result:
    ctx.case = case.number
    tally, t0 = Tally(), time.monotonic()
    try:
        case.run(ctx, tally)
    except Exception as e:  # noqa: BLE001 - an attack that breaks the harness is a finding, recorded, and the run goes on
        tally.check(False, f"harness error: {type(e).__name__}: {str(e)[:200]}")
    took = time.monotonic() - t0
    result = Result(case.number, case.name, tally.tried, tally.held, tally.tried - tally.held,
                    " | ".join(tally.lines), round(took, 1))
    verdict = "not tried" if not result.ran else ("held" if not result.failed else f"FAILED {result.failed}/{result.tried}")
    print(f"  case {case.number:>2} {case.name}: {verdict} ({took:.1f} s)", flush=True)
    return result


def not_tried(case: Case, why: str) -> Result:
    return Result(case.number, case.name, 0, 0, 0, f"not tried: {why}")


def run(ctx: Ctx, chosen: list[Case]) -> dict[int, Result]:
    results: dict[int, Result] = {}
    main_cases = [BY_NUMBER[n] for n in MAIN_ORDER if BY_NUMBER[n] in chosen]
    if main_cases:
        print("starting the main server…", flush=True)
        index = srvmod.copy_index(ctx.base_index, ctx.tmp / "main-index")
        try:
            ctx.main = srvmod.start("main", index, ctx.tmp, {"QA_API_KEYS": ctx.keys.setting, **MAIN_ENV})
        except srvmod.ServerFailed as e:
            results.update({c.number: Result(c.number, c.name, 1, 0, 1, f"main server did not start: {e}")
                            for c in main_cases})
        else:
            ctx.servers.append(ctx.main)
            try:
                for case in main_cases:
                    results[case.number] = run_case(ctx, case)
            finally:
                srvmod.stop(ctx.main)
            ctx.after_main = index
    for n in OWN_ORDER:
        if BY_NUMBER[n] in chosen:
            results[n] = run_case(ctx, BY_NUMBER[n])
    for case in chosen:
        if case.where == "post":
            results[case.number] = run_case(ctx, case)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the CI subset: smaller sends, no kill -9, disk full or hot swap")
    p.add_argument("--cases", help="comma-separated case numbers (default: all, or the quick subset)")
    p.add_argument("--index", type=Path, help="the index to copy (default index/default; built from corpus/ if absent)")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = p.parse_args()
    wanted = {int(n) for n in args.cases.split(",")} if args.cases else None
    chosen, skipped = [], []
    for case in CASES:
        if wanted is not None and case.number not in wanted:
            skipped.append(not_tried(case, "not among --cases"))
        elif args.quick and not case.quick and wanted is None:
            skipped.append(not_tried(case, "left out of --quick (slow)"))
        else:
            chosen.append(case)

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qa-attack-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = Ctx(quick=args.quick, tmp=tmp, keys=Keys.fresh(), base_index=srvmod.base_index(tmp, args.index))
        print(f"attack: {len(chosen)} cases{' (--quick)' if args.quick else ''} on copies of {ctx.base_index}",
              flush=True)
        try:
            results = run(ctx, chosen)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(130) from None
        finally:
            for server in ctx.servers:
                srvmod.stop(server, grace=10)
    ordered = sorted([*results.values(), *skipped], key=lambda r: r.number)
    print()
    print(table(ordered))
    print()
    print(f"{summary(ordered)} in {time.monotonic() - t0:.0f} s")
    if args.json:
        write_json(args.json, ordered)
    sys.exit(1 if any(r.failed for r in ordered) else 0)


if __name__ == "__main__":
    main()
