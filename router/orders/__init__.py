"""Order flow: from a validated FIX application message to core commands and execution reports.

Risk checks, routing (hard filters, all-in comparable price, plan with its explanation), funds and
quota reservations, the client-order index and market data. Pure and synchronous: time is passed
in, nothing here reads the clock or does I/O. Knows the FIX message type (it speaks FIX to the
application seam) and the matching core, but not the session layer, the journal or operations.
"""
