"""Scale-out roles over NATS JetStream (`gold-router serve --role gateway|core`): FIX gateways that
append commands to one replicated stream, and matching cores (a leader and hot standbys) that apply
the stream in order and publish the outputs back to the gateways. See docs/scale-out.md.

A shell-level package: it may use every stage below it. `serve` without a role does not touch it.
"""
