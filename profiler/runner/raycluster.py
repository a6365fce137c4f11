"""Connecting to Ray for `run --ray`: a local instance started for the run, or a cluster's address.

Ray is optional (`orchestrace[ray]`); everything here fails with one line saying what to do.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from profiler.errors import UsageError

LOCAL = "local"  # `--ray` without an address: start a local instance for the run
INSTALL_HINT = "--ray needs Ray: pip install 'orchestrace[ray]'"
CONNECT_CHECK_TIMEOUT_S = 2.0
LOCAL_CPUS = 2
OBJECT_STORE_BYTES = 256 * 2**20  # span batches are small; keep /dev/shm use modest
# Ray's async actors default to uvloop, whose handles the CPU meter cannot see
WORKER_ENV = {"RAY_USE_UVLOOP": "0"}


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _code_path() -> str:
    """PYTHONPATH for a local instance's workers: the folders `profiler` and `agents` come from."""
    import agents
    import profiler

    roots = [str(Path(module.__file__ or "").resolve().parent.parent) for module in (profiler, agents)]
    return os.pathsep.join(dict.fromkeys([*roots, *filter(None, [os.environ.get("PYTHONPATH")])]))


def check_reachable(address: str) -> None:
    """Ray retries a wrong address for ~20 s; a plain TCP connect says at once that nothing is there."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray {address}: expected HOST:PORT of a Ray head (as `ray start --head` prints)")
    try:
        socket.create_connection((host, int(port)), CONNECT_CHECK_TIMEOUT_S).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray head at {address}: {exc.strerror or exc}") from None


def address_towards(address: str) -> str:
    """This host's IP address on the route to a Ray head: where the cluster's workers can reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address.rpartition(":")[0], 9))  # no packet is sent: this only picks the route
        return str(probe.getsockname()[0])


class RayCluster:
    """`with RayCluster(address) as ray:` connects; leaving stops what this run started (a local
    instance and its processes) or disconnects from a cluster. An existing connection is reused
    and left alone."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.ray = import_ray()
        self.owned = False
        self._temp: str | None = None
        self._environ: dict[str, str] | None = None

    @property
    def local(self) -> bool:
        return self.address == LOCAL

    def __enter__(self) -> ModuleType:
        ray = self.ray
        if ray.is_initialized():
            return ray
        common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        self._environ = dict(os.environ)  # ray.init sets variables (RAY_AUTH_MODE=token...) that outlive it
        try:
            if self.local:
                # a short session dir: Ray's socket paths must fit AF_UNIX's 107 bytes
                self._temp = tempfile.mkdtemp(prefix="ort", dir="/tmp")
                self.owned = True
                ray.init(
                    address=LOCAL,  # never join another engineer's `ray start` or RAY_ADDRESS
                    num_cpus=LOCAL_CPUS,
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    _temp_dir=self._temp,
                    runtime_env={"env_vars": {**WORKER_ENV, "PYTHONPATH": _code_path()}},
                    **common,
                )
            else:
                self.owned = True
                ray.init(address=self.address, runtime_env={"env_vars": WORKER_ENV}, **common)
        except UsageError:
            self._cleanup()
            raise
        except Exception as exc:
            self._cleanup()
            what = "start a local Ray instance" if self.local else f"connect to Ray at {self.address}"
            raise UsageError(
                f"could not {what}: {type(exc).__name__}: {str(exc).strip()[:200]}{self._auth_hint()}"
            ) from None
        return ray

    def _auth_hint(self) -> str:
        """Ray never turns token authentication on for an explicit address; heads have it by default."""
        if self.local or os.environ.get("RAY_AUTH_MODE") == "token":
            return ""
        return (
            "; if the head uses token authentication (Ray's default), set RAY_AUTH_MODE=token "
            "(the token comes from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
        )

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self.owned:
            self.owned = False
            self.ray.shutdown()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None
        if self._environ is not None:  # a later connection elsewhere must not inherit them
            os.environ.clear()
            os.environ.update(self._environ)
            self._environ = None
