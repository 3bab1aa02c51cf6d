"""Post-trade stage: the command journal storage, the books of record (ledger) and settlement obligations.

Sits above the order flow and below operations: it may read `router.orders` and lower stages, and
nothing here imports `router.ops` or the shell. The ledger hears of fills through the order flow's
`FillObserver` protocol (router.orders.fills). The journal storage is not yet wired into `serve`.
"""
