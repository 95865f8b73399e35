"""``facade serve --workers N``: N forked uvicorn processes sharing one listening socket (one per core: the GIL
keeps one process on one core).

The parent checks the configuration once (``Runtime.check_startup``: templates, XSD, certificates), creates what
the workers must not race for (the patient-hash secret file), binds the socket, then forks. Each worker inherits the
loaded templates, schema and credentials (copy-on-write) and opens its own store connections and relay threads in
its lifespan; the SQLite store is safe across processes (WAL, immediate transactions, leases). The relay threads
(``FACADE_OUTBOX__WORKERS``) are shared out: each process runs ceil(workers / N).

The parent only supervises: SIGTERM / SIGINT are passed on to the workers (uvicorn shuts each down gracefully), and a
worker that dies while the server is running is replaced.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import time
from types import FrameType

import uvicorn

from facade.metrics import enable_multiprocess
from facade.runtime import Runtime

log = logging.getLogger("facade")
METRICS_FOLDER = "metrics"  # under the state folder: prometheus-client's per-process files
RESPAWN_DELAY = 1.0  # seconds before replacing a dead worker (a crash loop must not spin)


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound TCP socket for uvicorn's ``sockets=``. ``IPPROTO_TCP`` matters: asyncio sets TCP_NODELAY on accepted
    connections only when the listener says TCP (else every answer waits ~40 ms, Nagle + delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def relay_threads_per_process(total: int, processes: int) -> int:
    return max(1, math.ceil(total / processes))


def serve_workers(runtime: Runtime, config: uvicorn.Config, n: int) -> int:
    """Run ``n`` worker processes until SIGTERM / SIGINT. ``config`` serves an app over ``runtime``, which has passed
    ``check_startup``; each worker loads the config (TLS, protocol) and runs the app's lifespan after the fork."""
    if runtime.send_enabled:
        _ = runtime.patient_secret  # created once here: two workers creating it at once would race
    # counters and histograms summed over the workers: one file per process, read by whichever worker is scraped
    enable_multiprocess(runtime.settings.state_dir / METRICS_FOLDER)
    runtime.__dict__.pop("metrics", None)  # built after the switch (a cached_property), in each worker
    outbox = runtime.settings.outbox
    outbox.workers = relay_threads_per_process(outbox.workers, n)
    host, port = config.host, config.port
    sock = listening_socket(host, port)
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _kill(pid, signal.SIGTERM)

    def spawn(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                uvicorn.Server(config).run(sockets=[sock])
                code = 0
            finally:
                os._exit(code)
        children[pid] = number

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for number in range(n):
            spawn(number)
        log.info("facade: %d worker processes on %s:%d (%d relay threads each)", n, host, port, outbox.workers)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            number = children.pop(pid, -1)
            if number < 0 or stopping:
                continue
            log.error("facade: worker %d (pid %d) exited with status %d: replacing it", number, pid, status)
            time.sleep(RESPAWN_DELAY)
            if not stopping:
                spawn(number)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    return 0


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


__all__ = ["listening_socket", "relay_threads_per_process", "serve_workers"]
