"""Step 6 as a Prefect task, and the Dask cluster's compressor when
compression.dask_address is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediasync.errors import ConfigError
from mediasync.settings import CompressionSettings
from steps import step_task

if TYPE_CHECKING:
    from tasks.dask_compression import DaskCompressor

compression = step_task(6)


def cluster_compressor(settings: CompressionSettings) -> DaskCompressor | None:
    """With dask_address set, step 6's files go to that cluster in batches of Prefect
    tasks (prefect-dask); None: the core compresses on this machine. Call it where the
    flow runs, outside any task (see DaskCompressor)."""
    if settings.dask_address is None:
        return None
    try:
        from tasks.dask_compression import DaskCompressor
    except ImportError:
        raise ConfigError("compression.dask_address is set, but prefect-dask is not "
                          "installed (install mediasync with the 'dask' extra)") from None
    return DaskCompressor(settings.dask_address)
