"""``RequestheaderReader`` on a ``KubeTransport``: the requestheader CAs and allowed names of a cluster.

GET ``/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication`` (what every
kube-apiserver publishes from its ``--requestheader-*`` flags), decoded with the checker's decoder. Anything
that prevents reading it is a refusal: the responder never signs without knowing the cluster's CAs.
"""

from __future__ import annotations

import re
from typing import Final

from metrics_guard.decode.core import decode_authentication_configmap
from metrics_guard.errors import DecodeError, KubeAccessError, RemediationRefused
from metrics_guard.ports import KubeTransport
from metrics_guard.service.remediate_ports import RequestheaderConfig

PATH: Final = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
_PEM_RE: Final = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def split_pem_bundle(bundle: str) -> tuple[str, ...]:
    """Each certificate of a PEM bundle, in order, normalised to end with a newline."""
    return tuple(match.group(0).strip() + "\n" for match in _PEM_RE.finditer(bundle))


class RequestheaderRefused(RemediationRefused):
    """The ConfigMap could not be read or holds no requestheader CA."""


class KubeRequestheaderReader:
    def __init__(self, transport: KubeTransport, *, timeout_s: float = 15.0) -> None:
        self._transport = transport
        self._timeout_s = timeout_s

    def read(self, cluster: str) -> RequestheaderConfig:
        where = f"kube-system/extension-apiserver-authentication of {cluster}"
        try:
            response = self._transport.get(PATH, timeout_s=self._timeout_s)
        except KubeAccessError as exc:
            raise RequestheaderRefused(f"cannot read {where}: {exc}") from exc
        if response.status != 200:
            raise RequestheaderRefused(f"cannot read {where}: HTTP {response.status}")
        try:
            config = decode_authentication_configmap(response.body)
        except DecodeError as exc:
            raise RequestheaderRefused(f"cannot decode {where}: {exc}") from exc
        cas = split_pem_bundle(config.requestheader_ca_pem or "")
        if not cas:
            raise RequestheaderRefused(f"{where} holds no requestheader-client-ca-file")
        return RequestheaderConfig(ca_pems=cas, allowed_names=config.allowed_names or ())


__all__ = ["PATH", "KubeRequestheaderReader", "RequestheaderRefused", "split_pem_bundle"]
