"""An S3 endpoint for benchmarks that measure a run kept on object storage: moto's S3 server, started in
this process on loopback (as the tests' ``s3_server`` fixture does), its address and credentials put in
this process's environment so that every command started from here reaches it the way a run on a cluster
reaches its store (endpoint and keys from the environment only). Imported as ``s3_moto`` (the benchmarks
run as scripts, so their folder is on ``sys.path``).

The server answers from a thread of this process: the CPU it spends is not that of the commands measured,
so :func:`self_cpu` lets a benchmark state it apart.
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """Start moto's S3 server on a free loopback port, set ``AWS_ENDPOINT_URL`` and the keys in
    ``os.environ`` (children inherit them), make ``bucket``; yield the variables set. The server and its
    objects (held in memory) go when the block ends, and the variables are put back as they were."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request on stdout
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = {
        "AWS_ACCESS_KEY_ID": "moto-key",
        "AWS_SECRET_ACCESS_KEY": "moto-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        filesystem().mkdir(bucket)
        yield settings
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def filesystem() -> Any:
    """An s3fs filesystem for the endpoint in the environment, not cached (it lists afresh)."""
    import fsspec

    return fsspec.filesystem("s3", skip_instance_cache=True)


def download(url: str, dest: Path) -> Path:
    """Copy the objects under ``url`` (``s3://bucket/prefix``) into the new folder ``dest``; ``dest``."""
    fs = filesystem()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.get(url.removeprefix("s3://").rstrip("/") + "/", str(dest), recursive=True)
    return dest


def self_cpu() -> float:
    """CPU seconds (user + system) this process has spent so far, all its threads (the server's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
