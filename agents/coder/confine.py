"""The sandbox's first step, run as a file (`python -I -S confine.py SPEC COMMAND...`): limit, confine, exec.

Limits are set by the child itself, after the fork and before running model-written code, so
the parent needs no `preexec_fn` (unsafe in a threaded process). Confinement uses Landlock
(Linux 5.13+, no privileges needed): writes only inside the workspace, reads only the Python
installation and system libraries, no TCP, no signals to processes outside. Standard library only.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

# Landlock ABI (linux/landlock.h); the syscall numbers are the same on every architecture
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION, _RULE_PATH_BENEATH, _PR_SET_NO_NEW_PRIVS = 1, 1, 38
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # 5+: (1 << 16) - 1
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_NET_TCP = 0b11  # bind, connect (ABI 4+)
_SCOPE = 0b11  # abstract unix sockets, signals (ABI 6+)

_LIMITS = {"cpu_s": resource.RLIMIT_CPU, "memory_bytes": resource.RLIMIT_AS, "file_bytes": resource.RLIMIT_FSIZE,
           "processes": resource.RLIMIT_NPROC, "open_files": resource.RLIMIT_NOFILE}  # fmt: skip


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        resource.setrlimit(_LIMITS[name], (value, value))


def confine(read: list[str], write: list[str]) -> str | None:
    """Apply Landlock to this process and its future children; the reason when it cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if abi < 1:
        return f"Landlock is not available ({os.strerror(ctypes.get_errno())})"
    fs = _FS_BY_ABI.get(abi, (1 << 16) - 1)
    attr = (ctypes.c_uint64 * 3)(fs, _NET_TCP if abi >= 4 else 0, _SCOPE if abi >= 6 else 0)
    size = 8 * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    ruleset = syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock refused the ruleset ({os.strerror(ctypes.get_errno())})"
    for paths, access in ((read, _EXECUTE | _READ_FILE | _READ_DIR), (write, fs)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a root that does not exist here (e.g. /lib64) grants nothing
            rule_access = access & fs if os.path.isdir(path) else access & fs & _FILE_ONLY
            rule = _PathBeneath(rule_access, fd)
            kind = ctypes.c_int(_RULE_PATH_BENEATH)
            done = syscall(_ADD_RULE, ctypes.c_int(ruleset), kind, ctypes.byref(rule), ctypes.c_uint32(0))
            os.close(fd)
            if done < 0:
                return f"Landlock refused the rule for {path} ({os.strerror(ctypes.get_errno())})"
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
        return f"Landlock could not be applied ({os.strerror(ctypes.get_errno())})"
    os.close(ruleset)
    return None


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    set_limits(spec["limits"])
    problem = confine(spec["read"], spec["write"])
    if problem is not None:
        print(f"sandbox: workspace confinement unavailable: {problem}", file=sys.stderr, flush=True)
    os.execv(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
