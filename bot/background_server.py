"""Running a uvicorn server in a background thread: tests, benchmarks, or beside another surface."""

from __future__ import annotations

import threading
import time


class RunningServer:
    """A uvicorn server running in a daemon thread; ``url`` is where it listens."""

    def __init__(self, server, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.port: int = server.servers[0].sockets[0].getsockname()[1]
        self.host: str = server.config.host
        self.url = f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_background(server, *, name: str, timeout: float = 10.0) -> RunningServer:
    """Run ``server`` (a ``uvicorn.Server``) in a daemon thread; returns once it listens."""
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start on {server.config.host}:{server.config.port}")
        time.sleep(0.005)
    return RunningServer(server, thread)
