"""The front endpoint: a round-robin TCP proxy over the apiservers (no TLS termination).

Each new client connection goes to the next backend; a backend that refuses the connection (stopped,
restarting) is skipped, as a load balancer's health check would, but one that accepts and then fails
(a bad certificate, a broken flag) is not: one broken apiserver shows as intermittent failure.

Run: python -m devcluster.lb LISTEN_HOST:PORT BACKEND_HOST:PORT [BACKEND_HOST:PORT ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for _ in range(len(self.backends)):
            host, port = self.backends[next(self._next)]
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=3)
                break
            except (OSError, TimeoutError):
                continue
        if upstream is None:
            client_w.close()
            return
        up_r, up_w = upstream
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
        for w in (up_w, client_w):
            with contextlib.suppress(Exception):
                w.close()


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, listen[0], listen[1], reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: python -m devcluster.lb LISTEN BACKEND [BACKEND ...]\n")
        return 2
    asyncio.run(serve(_split(argv[0]), [_split(a) for a in argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
