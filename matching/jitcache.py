"""Keep numba's on-disk cache honest across the kernel modules.

numba keys a cached function on its own source file only; a kernel that inlined a helper from
another module (kernels_book.py, layout.py, ...) keeps running the OLD helper after that file
changes. Before the kernels are imported we fingerprint all kernel sources and drop their cache
entries when the fingerprint moved. This module does nothing else (no compilation, no I/O beyond __pycache__).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SOURCES = ("layout.py", "kernels_book.py", "kernels_levels.py", "kernels_orders.py", "kernels_sweep.py",
            "kernels_bulk.py", "kernels.py", "indexing.py")


def ensure_fresh() -> None:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_HERE / name).read_bytes())
    stamp_value = digest.hexdigest()
    cache = _HERE / "__pycache__"
    stamp = cache / "kernels.stamp"
    try:
        if stamp.read_text() == stamp_value:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for entry in cache.iterdir():
            if entry.suffix in (".nbi", ".nbc") and entry.name.split(".")[0] + ".py" in _SOURCES:
                entry.unlink(missing_ok=True)
        tmp = cache / f"kernels.stamp.{os.getpid()}"
        tmp.write_text(stamp_value)
        tmp.replace(stamp)
    except OSError:
        # read-only install: numba falls back to compiling in memory, which is still correct
        pass
