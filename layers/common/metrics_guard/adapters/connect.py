"""From a registry entry to the probe's targets: credentials from Secrets Manager (or EKS via STS),
transports to the front endpoint and to each apiserver, and the SSM certificate source.

The Kubernetes transport (``adapters/kube.py``) and the SSM certificate source (``adapters/ssm_certs.py``)
are imported only when a cluster is actually connected, so that a cold start pays for them only then.
"""

from __future__ import annotations

from metrics_guard.adapters.secrets import ClusterCredentials, SecretReader
from metrics_guard.config import ClusterEntry
from metrics_guard.errors import CredentialsError
from metrics_guard.ports import KubeTransport, NodeRef, TransportLimits
from metrics_guard.service.probe import ProbeKind, ProbeTargets


class AwsClusterConnector:
    def __init__(
        self,
        secrets: SecretReader,
        *,
        limits: TransportLimits,
        read_material_document: str | None,
    ) -> None:
        self._secrets = secrets
        self._limits = limits
        self._read_material_document = read_material_document

    def credentials(self, entry: ClusterEntry) -> ClusterCredentials:
        if entry.credentials_secret_arn is None:
            return ClusterCredentials(token=None, ca_pem=entry.ca_pem)
        creds = self._secrets.cluster_credentials(
            entry.credentials_secret_arn, token_required=entry.layout != "eks"
        )
        return ClusterCredentials(token=creds.token, ca_pem=creds.ca_pem or entry.ca_pem)

    def _transport(self, entry: ClusterEntry, endpoint: str, creds: ClusterCredentials) -> KubeTransport:
        if creds.ca_pem is None:
            raise CredentialsError(f"cluster {entry.name}: no ca_pem in its secret or registry entry")
        from metrics_guard.adapters import kube

        if entry.layout == "eks" and creds.token is None:
            from metrics_guard.adapters import aws_clients

            transport: KubeTransport = kube.transport_for_eks(
                entry.eks_cluster_name or entry.name,
                endpoint,
                creds.ca_pem,
                sts_client=aws_clients.sts(),
                limits=self._limits,
            )
            return transport
        assert creds.token is not None
        plain: KubeTransport = kube.transport_from_token(
            endpoint, creds.token, creds.ca_pem, limits=self._limits
        )
        return plain

    def connect(self, entry: ClusterEntry, kind: ProbeKind) -> ProbeTargets:
        creds = self.credentials(entry)
        front = self._transport(entry, entry.endpoint, creds)
        nodes: list[NodeRef] = []
        apiservers: list[tuple[NodeRef, KubeTransport]] = []
        plane = entry.control_plane
        if plane is not None:
            for index, instance in enumerate(plane.instances, start=1):
                node = NodeRef(
                    index=index,
                    name=instance.instance_id,
                    apiserver_url=instance.apiserver_endpoint,
                    instance_id=instance.instance_id,
                )
                nodes.append(node)
                if instance.apiserver_endpoint:
                    apiservers.append((node, self._transport(entry, instance.apiserver_endpoint, creds)))
        certificates = None
        if kind in ("certs", "all") and plane is not None and self._read_material_document:
            from metrics_guard.adapters import aws_clients
            from metrics_guard.adapters.ssm_certs import SsmCertificateSource

            # Reads the nodes listed with instance ids; tag-only control planes are resolved by the
            # responder's inventory (ssm_runner) and are not read here yet.
            certificates = SsmCertificateSource(aws_clients.ssm(), self._read_material_document)
        return ProbeTargets(
            cluster=entry.name,
            front=front,
            apiservers=tuple(apiservers),
            certificates=certificates,
            nodes=tuple(nodes),
        )
