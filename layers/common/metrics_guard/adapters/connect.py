"""From a registry entry to the probe's targets: credentials from Secrets Manager (or EKS via STS),
transports to the front endpoint and to each apiserver, and the SSM certificate source.

The Kubernetes transport (``adapters/kube.py``) and the SSM certificate source (``adapters/ssm_certs.py``)
are imported only when a cluster is actually connected, so that a cold start pays for them only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metrics_guard.adapters.secrets import ClusterCredentials, SecretReader
from metrics_guard.config import ClusterEntry, ControlPlane
from metrics_guard.errors import CredentialsError
from metrics_guard.ports import KubeTransport, NodeRef, TransportLimits
from metrics_guard.service.probe import ProbeKind, ProbeTargets

if TYPE_CHECKING:
    from metrics_guard.adapters.ssm_runner import Ec2NodeResolver


def listed_nodes(plane: ControlPlane) -> list[NodeRef]:
    """The registry's listed instances, index = position (what Ec2NodeResolver gives without a tag)."""
    return [
        NodeRef(
            index=index,
            name=instance.instance_id,
            apiserver_url=instance.apiserver_endpoint,
            instance_id=instance.instance_id,
        )
        for index, instance in enumerate(plane.instances, start=1)
    ]


class AwsClusterConnector:
    def __init__(
        self,
        secrets: SecretReader,
        *,
        limits: TransportLimits,
        read_material_document: str | None,
        nodes: Ec2NodeResolver | None = None,
    ) -> None:
        """``nodes`` resolves target tags (default: an Ec2NodeResolver on the shared EC2 client)."""
        self._secrets = secrets
        self._limits = limits
        self._read_material_document = read_material_document
        self._nodes = nodes

    def control_plane_nodes(self, plane: ControlPlane, kind: ProbeKind) -> Sequence[NodeRef]:
        """Listed instances; with a target tag (certificate reads only) the tag's running instances too.

        The metrics probe needs only nodes with an apiserver URL (listed ones): it makes no EC2 call.
        """
        if plane.target_tag is None or kind not in ("certs", "all"):
            return listed_nodes(plane)
        if self._nodes is None:
            # Built on first need: a probe of listed instances only never imports the EC2 side.
            from metrics_guard.adapters import aws_clients
            from metrics_guard.adapters.ssm_runner import Ec2NodeResolver

            self._nodes = Ec2NodeResolver(aws_clients.ec2)
        return self._nodes.resolve_plane(plane)

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
            for node in self.control_plane_nodes(plane, kind):
                nodes.append(node)
                if node.apiserver_url:
                    apiservers.append((node, self._transport(entry, node.apiserver_url, creds)))
        certificates = None
        if kind in ("certs", "all") and plane is not None and self._read_material_document:
            from metrics_guard.adapters import aws_clients
            from metrics_guard.adapters.ssm_certs import SsmCertificateSource

            # Reads every node above: listed instances and, through Ec2NodeResolver, the tag's instances.
            certificates = SsmCertificateSource(aws_clients.ssm(), self._read_material_document)
        return ProbeTargets(
            cluster=entry.name,
            front=front,
            apiservers=tuple(apiservers),
            certificates=certificates,
            nodes=tuple(nodes),
        )
