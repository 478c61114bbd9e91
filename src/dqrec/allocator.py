"""The C allocator's settings for the training processes (glibc only)."""

from __future__ import annotations

import ctypes

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
