"""Post-trade stage: the command journal, later the ledger and settlement obligations.

Sits above the order flow and below operations: it may read `router.orders` and lower stages, and
nothing here imports `router.ops` or the shell. The journal storage (`journal`, `journal_format`)
is not yet wired into `serve`.
"""
