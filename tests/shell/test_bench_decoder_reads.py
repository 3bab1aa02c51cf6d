"""A tiny run of benchmarks.decoder_reads: every mode timed, every frame checked. No speed asserted."""
from __future__ import annotations

import pytest

from benchmarks import decoder_reads


def test_every_mode_is_timed():
    us = decoder_reads.run(frames_n=70, rounds=1)
    assert list(us) == list(decoder_reads.MODES)
    assert all(v > 0 for v in us.values())


def test_a_frame_that_does_not_decode_stops_the_run():
    frames = decoder_reads._frames(14)
    frames[5] = frames[5].replace(b"SGE.", b"SGX.")  # CheckSum no longer matches: Garbled, no FixMessage
    with pytest.raises(SystemExit, match="13 of 14 frames decoded"):
        decoder_reads.one_mode(frames, 2, None)
