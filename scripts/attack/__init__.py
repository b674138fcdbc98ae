"""The attack harness behind `scripts/attack.py`: each module holds the cases of one kind.

    harness.py   Case, Result, Tally, the run context and the table
    server.py    `qa serve` on loopback over a private index copy; what /proc says of its process
    wire.py      raw sockets for what httpx will not send (huge headers, endless chunked bodies)
    edge.py      cases 1-8: what reaches the server without a key, or with an awkward one
    bodies.py    cases 9-12 and 20: request bodies, request ids, OPTIONS, the key matrix, secrets
    uploads.py   cases 13 and 18: hostile files, stale temporary folders
    storage.py   cases 14-17 and 19: kill -9, corrupted and dangling indexes, a full disk, hot swaps
"""
