"""The wire: FIX 4.4 bytes to session-level messages and back.

Codec and time formats, the data dictionary and validation, the pure session state machine with
its admin messages and message store, the asyncio transport and acceptor, and the Application
seam (with the echo application). Knows nothing of orders, books or routing: an application is
handed validated application messages and answers with messages to send.
"""
