import platform
import subprocess
import sys

import pytest

# Allocates, touches and frees a 64 MB block ten times; prints the minor page faults that took.
TOUCH_AND_FREE = """
import ctypes, resource, sys
from dqrec.allocator import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    # A fresh process each: the setting lasts for the life of a process.
    run = subprocess.run([sys.executable, "-c", TOUCH_AND_FREE, mode], capture_output=True, text=True, check=True)
    return int(run.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_retained_memory_is_reused_without_new_page_faults() -> None:
    default, retained = page_faults("default"), page_faults("retain")
    assert retained * 3 < default, (retained, default)


# A parent that holds 400 MB starts a child that touches 50 MB: the child's own peak is about 50 MB plus Python.
CHILD_PEAK = """
import subprocess, sys
ballast = bytearray(400 << 20)
ballast[::4096] = b"x" * len(ballast[::4096])
child = ("from dqrec.allocator import peak_rss_gb; b = bytearray(50 << 20); b[::4096] = b'y' * len(b[::4096]); "
         "print(peak_rss_gb())")
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="the high-water mark of one address space is Linux's VmHWM")
def test_a_stage_reports_its_own_peak_not_its_launchers() -> None:
    peak = float(subprocess.run([sys.executable, "-c", CHILD_PEAK], capture_output=True, text=True,
                                check=True).stdout)

    assert 0.05 < peak < 0.3  # GB: the child's 50 MB and the interpreter, not the launcher's 400 MB
