"""The ground everything stands on: catalogue, units and conversions, calendars, rejection reasons.

Pure data and arithmetic in Decimal and integers, no I/O beyond reading configuration values it is
handed. Knows nothing of FIX, sessions or the order flow.
"""
