"""Step 6 on a Dask cluster, for owners with more machines than one. Every worker must
see the same paths as the machine that runs the pipeline (the working folders and the
compressed tree, e.g. on the NAS mounted at the same place). Needs the `dask` extra."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from mediasync.errors import ConfigError, MediasyncError


@contextmanager
def dask_executor(address: str, timeout: str = "10s") -> Iterator[Executor]:
    """A concurrent.futures executor whose jobs run on the cluster's workers."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("compression.dask_address is set, but Dask is not installed "
                          "(install mediasync with the 'dask' extra)") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise MediasyncError(f"cannot reach the Dask scheduler at {address}: {exc}",
                             retryable=True) from None
    with client:
        yield client.get_executor(pure=False)
