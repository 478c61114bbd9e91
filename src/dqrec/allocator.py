"""A stage process's memory: the C allocator's settings (glibc only) and the peak it reached."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
INT_MAX = 2**31 - 1


def retain_freed_memory(largest_block: int = 1 << 30) -> bool:
    """Let glibc's malloc reuse freed blocks of up to ``largest_block`` bytes instead of returning them to the
    system, for the rest of the process.

    A CF training step frees and reallocates tensors of tens of MB (dense embedding gradients, Adam's temporaries,
    the (B, H, D) history gather). By default glibc serves blocks that large with fresh mappings whose pages the
    kernel must zero on first touch: a third of a gowalla training step (``benchmarks/train_step.py``). The
    arithmetic, and so every result, is unchanged. Returns False where the C library has no ``mallopt`` (not
    glibc), leaving the allocator as it was."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        return False
    # A fixed mmap threshold also switches off glibc's dynamic one; the trim threshold keeps the heap's top.
    return bool(mallopt(M_MMAP_THRESHOLD, largest_block)) and bool(mallopt(M_TRIM_THRESHOLD, INT_MAX))


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB: the high-water mark of its own address space (Linux's VmHWM),
    which starts afresh when the process execs. ``ru_maxrss``, the fallback elsewhere, also counts what the
    process was before it exec'd: a copy of its launcher (dvc, a benchmark) at the size the launcher had then."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux and most Unixes: KiB
