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
