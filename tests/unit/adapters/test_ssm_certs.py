"""The SSM CertificateSource (botocore Stubber, exact request shapes) and its node script, run for real
against temporary node roots laid out as a binary install and as a kubeadm node."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization

from metrics_guard.adapters import ssm_certs
from metrics_guard.adapters.ssm_certs import SsmCertificateSource, parse_material, read_material_document
from metrics_guard.ports import NodeRef
from tests import servers

SCRIPT = Path(ssm_certs.__file__).parent.parent / "remediation" / "read_material.sh"
DOC_FILE = SCRIPT.with_name("read_material.ssm.json")
CMD = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def material() -> dict[str, servers.KeyPair]:
    ca = servers.make_ca("front-proxy-ca")
    return {"ca": ca, "leaf": servers.make_leaf(ca, "aggregator", client=True)}


def spki_sha256(pair: servers.KeyPair) -> str:
    der = pair.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def binary_root(tmp: Path, m: dict[str, servers.KeyPair]) -> Path:
    pki = tmp / "etc/ssl/kubernetes"
    pki.mkdir(parents=True)
    (pki / "ca.pem").write_bytes(m["ca"].cert_pem)
    (pki / "metrics-server.pem").write_bytes(m["leaf"].cert_pem + m["leaf"].key_pem)  # key pasted in too
    (pki / "metrics-server-key.pem").write_bytes(m["leaf"].key_pem)
    unit = tmp / "etc/systemd/system"
    unit.mkdir(parents=True)
    (unit / "kube-apiserver.service").write_text(
        "[Unit]\nDescription=Kubernetes API Server\n[Service]\n"
        "ExecStart=/usr/local/bin/kube-apiserver \\\n"
        "  --advertise-address=198.18.0.11 \\\n"
        "  --requestheader-client-ca-file=/etc/ssl/kubernetes/ca.pem \\\n"
        "  --requestheader-allowed-names=aggregator \\\n"
        "  --proxy-client-cert-file=/etc/ssl/kubernetes/metrics-server.pem \\\n"
        "  --proxy-client-key-file /etc/ssl/kubernetes/metrics-server-key.pem \\\n"
        "  --enable-aggregator-routing \\\n"
        "  --v=2\nRestart=on-failure\n"
    )
    return tmp


def kubeadm_root(tmp: Path, m: dict[str, servers.KeyPair]) -> Path:
    pki = tmp / "etc/kubernetes/pki"
    pki.mkdir(parents=True)
    (pki / "front-proxy-ca.crt").write_bytes(m["ca"].cert_pem)
    (pki / "front-proxy-client.crt").write_bytes(m["leaf"].cert_pem)
    (pki / "front-proxy-client.key").write_bytes(m["leaf"].key_pem)
    manifests = tmp / "etc/kubernetes/manifests"
    manifests.mkdir(parents=True)
    (manifests / "kube-apiserver.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n"
        "    - kube-apiserver\n"
        "    - --advertise-address=10.0.0.5\n"
        "    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt\n"
        "    - --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key\n"
        '    - "--requestheader-allowed-names=front-proxy-client"\n'
        "    - --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt\n"
        "    image: registry.k8s.io/kube-apiserver:v1.37.0\n"
    )
    return tmp


def run_script(root: Path) -> str:
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, str(SCRIPT), str(root)], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stderr == ""
    return done.stdout


NODE = NodeRef(index=1, name="cp-1", instance_id="i-0123456789abcdef0")


def test_script_on_a_binary_install_root(tmp_path: Path, material: dict[str, servers.KeyPair]) -> None:
    out = run_script(binary_root(tmp_path, material))
    assert "PRIVATE KEY" not in out
    got = parse_material(NODE, out)
    assert got.errors == ()
    assert got.layout == "binary"
    assert got.flags["proxy-client-key-file"] == "/etc/ssl/kubernetes/metrics-server-key.pem"
    assert got.flags["enable-aggregator-routing"] == "true"
    assert got.flags["requestheader-allowed-names"] == "aggregator"
    assert got.flags["v"] == "2"
    assert got.proxy_client_cert_path == "/etc/ssl/kubernetes/metrics-server.pem"
    assert got.proxy_client_cert_pem == material["leaf"].cert_pem.decode()
    assert got.requestheader_ca_pem == material["ca"].cert_pem.decode()
    assert got.proxy_client_key_public_sha256 == spki_sha256(material["leaf"])


def test_script_on_a_kubeadm_root(tmp_path: Path, material: dict[str, servers.KeyPair]) -> None:
    out = run_script(kubeadm_root(tmp_path, material))
    assert "PRIVATE KEY" not in out
    got = parse_material(NODE, out)
    assert got.errors == ()
    assert got.layout == "kubeadm"
    assert got.flags["requestheader-allowed-names"] == "front-proxy-client"
    assert got.proxy_client_cert_path == "/etc/kubernetes/pki/front-proxy-client.crt"
    assert got.proxy_client_cert_pem == material["leaf"].cert_pem.decode()
    assert got.proxy_client_key_public_sha256 == spki_sha256(material["leaf"])


def test_script_reports_missing_files_and_flags(tmp_path: Path, material: dict[str, servers.KeyPair]) -> None:
    root = kubeadm_root(tmp_path, material)
    (root / "etc/kubernetes/pki/front-proxy-client.key").unlink()
    (root / "etc/kubernetes/pki/front-proxy-ca.crt").write_text("garbage\n")
    got = parse_material(NODE, run_script(root))
    assert got.proxy_client_key_public_sha256 is None
    assert got.requestheader_ca_pem is None
    assert any("front-proxy-client.key is missing" in e for e in got.errors)
    assert any("requestheader-ca: the file holds no PEM certificate" in e for e in got.errors)


def test_script_without_aggregation_flags(tmp_path: Path) -> None:
    unit = tmp_path / "etc/systemd/system"
    unit.mkdir(parents=True)
    (unit / "kube-apiserver.service").write_text("[Service]\nExecStart=/usr/local/bin/kube-apiserver --v=2\n")
    got = parse_material(NODE, run_script(tmp_path))
    assert got.errors == ()
    assert got.flags == {"v": "2"}
    assert got.proxy_client_cert_pem is None


def test_script_on_an_empty_root(tmp_path: Path) -> None:
    got = parse_material(NODE, run_script(tmp_path))
    assert got.layout == "unknown"
    assert got.errors == ("no kube-apiserver static-pod manifest or systemd unit found",)


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(".venv/bin/shellcheck"))
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck not installed")
    subprocess.run([shellcheck, str(SCRIPT)], check=True, timeout=60)


def test_parse_never_raises_on_garbage() -> None:
    assert parse_material(NODE, "").errors == ("the node script printed no material document",)
    cut = parse_material(
        NODE, "metrics-guard-node-material v1\nlayout=binary\nbegin=proxy-client-cert\n-----BEG"
    )
    assert "incomplete" in cut.errors[0]
    assert cut.proxy_client_cert_pem is None


# ------------------------------------------------------------------------------------------ document


def test_document_file_is_current() -> None:
    assert json.loads(DOC_FILE.read_text()) == read_material_document()


def test_document_runs_the_script_verbatim(tmp_path: Path, material: dict[str, servers.KeyPair]) -> None:
    doc = read_material_document()
    commands = doc["mainSteps"][0]["inputs"]["runCommand"]
    root = binary_root(tmp_path, material)
    shell = "\n".join(commands).replace("{{ rootPrefix }}", str(root)) + "\n"
    out = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True, timeout=30).stdout
    assert parse_material(NODE, out).proxy_client_key_public_sha256 == spki_sha256(material["leaf"])
    assert doc["parameters"]["rootPrefix"]["allowedPattern"] == ssm_certs.ROOT_PATTERN


# ----------------------------------------------------------------------------------------------- SSM


def ssm_client() -> object:
    return boto3.client(
        "ssm", region_name="eu-west-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="test-secret"
    )


def send_params(ids: list[str]) -> dict[str, object]:
    return {
        "DocumentName": "metrics-guard-read-material",
        "InstanceIds": ids,
        "Parameters": {"rootPrefix": ["/"]},
        "TimeoutSeconds": 30,
        "Comment": "metrics-guard: read aggregation-layer material",
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def source(client: object, clock: FakeClock, timeout_s: float = 30) -> SsmCertificateSource:
    return SsmCertificateSource(
        client,
        "metrics-guard-read-material",
        timeout_s=timeout_s,
        poll_interval_s=2,
        clock=clock,
        sleep=clock.sleep,
    )


def invocation(instance: str, status: str, stdout: str = "", code: int = 0) -> dict[str, object]:
    return {
        "CommandId": CMD,
        "InstanceId": instance,
        "Status": status,
        "StatusDetails": status,
        "ResponseCode": code,
        "StandardOutputContent": stdout,
    }


def test_ssm_reads_each_node_and_reports_per_node_errors(
    tmp_path: Path, material: dict[str, servers.KeyPair]
) -> None:
    good = run_script(kubeadm_root(tmp_path, material))
    nodes = [
        NodeRef(1, "cp-1", instance_id="i-1"),
        NodeRef(2, "cp-2", instance_id="i-2"),
        NodeRef(3, "cp-3"),  # no instance id
    ]
    client = ssm_client()
    clock = FakeClock()
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_response("send_command", {"Command": {"CommandId": CMD}}, send_params(["i-1", "i-2"]))
        stub.add_client_error(
            "get_command_invocation",
            "InvocationDoesNotExist",
            expected_params={"CommandId": CMD, "InstanceId": "i-1"},
        )
        stub.add_response(
            "get_command_invocation", invocation("i-1", "InProgress"), {"CommandId": CMD, "InstanceId": "i-1"}
        )
        stub.add_response(
            "get_command_invocation",
            invocation("i-1", "Success", good),
            {"CommandId": CMD, "InstanceId": "i-1"},
        )
        stub.add_response(
            "get_command_invocation",
            invocation("i-2", "Failed", "", 127),
            {"CommandId": CMD, "InstanceId": "i-2"},
        )
        results = source(client, clock).read(nodes)
        stub.assert_no_pending_responses()
    assert [r.node.name for r in results] == ["cp-1", "cp-2", "cp-3"]
    assert results[0].errors == ()
    assert results[0].proxy_client_key_public_sha256 == spki_sha256(material["leaf"])
    assert results[1].errors == ("SSM command ended Failed (exit 127) on i-2",)
    assert "no instance id" in results[2].errors[0]
    assert clock.now == 4.0


def test_ssm_polling_is_bounded() -> None:
    client = ssm_client()
    clock = FakeClock()
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_response("send_command", {"Command": {"CommandId": CMD}}, send_params(["i-1"]))
        for _ in range(3):
            stub.add_response(
                "get_command_invocation",
                invocation("i-1", "InProgress"),
                {"CommandId": CMD, "InstanceId": "i-1"},
            )
        results = source(client, clock, timeout_s=5).read([NodeRef(1, "cp-1", instance_id="i-1")])
    assert results[0].errors == (f"SSM command {CMD} on i-1 still InProgress after 5 s",)
    assert clock.now <= 5


def test_ssm_send_failure_is_a_per_node_error() -> None:
    client = ssm_client()
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_client_error("send_command", "InvalidDocument", expected_params=send_params(["i-1"]))
        results = source(client, FakeClock()).read([NodeRef(1, "cp-1", instance_id="i-1")])
    assert results[0].errors == ("SSM SendCommand failed: InvalidDocument",)
