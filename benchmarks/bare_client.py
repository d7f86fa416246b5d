"""The probe-overhead baseline: a bare urllib3 process that makes exactly the GETs a recorded
`metrics-guard diagnose` run made (same endpoints, paths and Accept headers), one after the other, with the
same client certificate and TLS verification on. It reads every body and does nothing else.

usage: python -m benchmarks.bare_client KUBECONFIG TRACE.jsonl
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

import urllib3


def _material(kubeconfig: Path, tmp: Path) -> tuple[str, str, str]:
    config = json.loads(kubeconfig.read_text(encoding="utf-8"))
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]

    def file_of(data_key: str, path_key: str, section: dict[str, str], name: str) -> str:
        if path_key in section:
            return section[path_key]
        target = tmp / name
        target.write_bytes(base64.b64decode(section[data_key]))
        return str(target)

    ca = file_of("certificate-authority-data", "certificate-authority", cluster, "ca.pem")
    cert = file_of("client-certificate-data", "client-certificate", user, "cert.pem")
    key = file_of("client-key-data", "client-key", user, "key.pem")
    return ca, cert, key


def main(argv: list[str]) -> int:
    kubeconfig, trace = Path(argv[0]), Path(argv[1])
    requests = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = _material(kubeconfig, Path(tmp))
        pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca, cert_file=cert, key_file=key)
        total = 0
        for request in requests:
            response = pool.request(
                "GET",
                request["endpoint"] + request["path"],
                headers={"Accept": request["accept"]},
                timeout=urllib3.Timeout(connect=5, read=15),
                retries=False,
            )
            total += len(response.data)
    print(f"{len(requests)} requests, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
