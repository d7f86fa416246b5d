"""The scale benchmark's Metrics API backend: an HTTPS server serving pre-built NodeMetricsList and
PodMetricsList bodies, re-stamped fresh every few seconds, and the discovery documents of
metrics.k8s.io/v1beta1, so that kube-apiserver's aggregator can route the APIService to it instead of
metrics-server. JSON only (no protobuf, no gzip).

usage: python -m benchmarks.backend --cert C --key K --host IP --port P --nodes FILE --pods FILE
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.data import STAMP

GV = "metrics.k8s.io/v1beta1"
#: k8s.io/apiserver/pkg/endpoints/handlers/responsewriters: defaultGzipThresholdBytes, gzip.BestSpeed.
GZIP_THRESHOLD_BYTES = 128 * 1024
GZIP_LEVEL = 1


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def gzip_bytes(body: bytes, level: int = GZIP_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    return compressor.compress(body) + compressor.flush()


RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": GV,
    "resources": [
        {
            "name": "nodes",
            "singularName": "",
            "namespaced": False,
            "kind": "NodeMetrics",
            "verbs": ["get", "list"],
        },
        {
            "name": "pods",
            "singularName": "",
            "namespaced": True,
            "kind": "PodMetrics",
            "verbs": ["get", "list"],
        },
    ],
}
GROUP = {
    "kind": "APIGroup",
    "apiVersion": "v1",
    "name": "metrics.k8s.io",
    "versions": [{"groupVersion": GV, "version": "v1beta1"}],
    "preferredVersion": {"groupVersion": GV, "version": "v1beta1"},
}
GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [GROUP]}


class Bodies:
    def __init__(self, nodes: bytes, pods: bytes) -> None:
        self._templates = {"nodes": nodes, "pods": pods}
        self.current = dict(self._templates)
        self.stamp()

    def stamp(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        self.current = {k: v.replace(STAMP.encode(), now) for k, v in self._templates.items()}


def _handler(bodies: Bodies) -> type[BaseHTTPRequestHandler]:
    static = {
        "/apis": json.dumps(GROUPS).encode(),
        "/apis/metrics.k8s.io": json.dumps(GROUP).encode(),
        f"/apis/{GV}": json.dumps(RESOURCES).encode(),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            body: bytes | None
            if path in ("/healthz", "/readyz", "/livez"):
                body, ctype = b"ok", "text/plain"
            elif path in static:
                body, ctype = static[path], "application/json"
            elif path == f"/apis/{GV}/nodes":
                body, ctype = bodies.current["nodes"], "application/json"
            elif path == f"/apis/{GV}/pods":
                body, ctype = bodies.current["pods"], "application/json"
            else:
                body, ctype = None, "application/json"
            status = 200
            if body is None:
                status = 404
                body = json.dumps(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "NotFound",
                        "code": 404,
                    }
                ).encode()
            encoded = len(body) >= GZIP_THRESHOLD_BYTES and _accepts_gzip(self.headers.get("Accept-Encoding"))
            if encoded:
                body = gzip_bytes(body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if encoded:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backend")
    for flag in ("--cert", "--key", "--host", "--nodes", "--pods"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--restamp-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    bodies = Bodies(Path(args.nodes).read_bytes(), Path(args.pods).read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = ThreadingHTTPServer((args.host, args.port), _handler(bodies))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)

    def restamp() -> None:
        while True:
            time.sleep(args.restamp_s)
            bodies.stamp()

    threading.Thread(target=restamp, daemon=True).start()
    print(f"serving on https://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
