"""The cluster registry: one clear error per bad entry, naming the entry and the field."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization

from metrics_guard.config import parse_registry
from metrics_guard.errors import ConfigError
from tests.pki_factory import new_key

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:metrics-guard/clusters/prod-AbCdEf"
GOOD = {
    "name": "prod",
    "endpoint": "https://api.prod.example:6443",
    "credentials_secret_arn": ARN,
    "layout": "binary",
    "control_plane": {
        "target_tag": {"key": "metrics-guard:control-plane", "value": "prod"},
        "instances": [{"instance_id": "i-0123456789abcdef0", "apiserver_endpoint": "https://10.0.0.11:6443"}],
    },
}


def entry(**changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_good_entries() -> None:
    eks = {
        "name": "eks-1",
        "endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
        "layout": "eks",
        "ca_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }
    registry = parse_registry(json.dumps([GOOD, eks]))
    assert registry.names() == ("prod", "eks-1")
    assert registry.errors == ()


@pytest.mark.parametrize(
    ("bad", "label", "field"),
    [
        (entry(endpoint="http://api.prod.example"), "prod", "endpoint"),
        (entry(name="Prod_1"), "Prod_1", "name"),
        (entry(layout="rke"), "prod", "layout"),
        (entry(credentials_secret_arn=None), "prod", "credentials_secret_arn"),
        (entry(credentials_secret_arn="not-an-arn"), "prod", "credentials_secret_arn"),
        (entry(control_plane={}), "prod", "control_plane"),
        (
            entry(control_plane={"instances": [{"instance_id": "host-1"}]}),
            "prod",
            "control_plane.instances.0.instance_id",
        ),
        (entry(control_plane={"target_tag": {"key": "k"}}), "prod", "control_plane.target_tag.value"),
        (entry(colour="blue"), "prod", "colour"),
        (entry(name=None), "#0", "name"),
        ({"name": "eks-2", "endpoint": "https://x.eks.amazonaws.com", "layout": "eks"}, "eks-2", "ca_pem"),
        ("just a string", "#0", "(entry)"),
    ],
    ids=[
        "http-endpoint",
        "bad-name",
        "unknown-layout",
        "no-secret",
        "bad-arn",
        "empty-control-plane",
        "bad-instance-id",
        "tag-without-value",
        "unknown-field",
        "no-name",
        "eks-without-ca",
        "not-an-object",
    ],
)
def test_bad_entry_named_with_its_field(bad: object, label: str, field: str) -> None:
    registry = parse_registry(json.dumps([bad, entry(name="other")]))
    assert registry.names() == ("other",)  # the good entry survives
    (error,) = registry.errors
    assert (error.entry, error.field) == (label, field)
    assert label in str(error) and field in str(error)


def test_duplicate_names() -> None:
    registry = parse_registry(json.dumps([GOOD, GOOD]))
    assert registry.names() == ("prod",)
    assert [(e.index, e.field, e.message) for e in registry.errors] == [(1, "name", "duplicate cluster name")]


def test_error_never_echoes_a_pasted_secret() -> None:
    pem = (
        new_key()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    registry = parse_registry(json.dumps([entry(endpoint=pem)]))
    assert "PRIVATE" not in str(registry.errors[0])
    assert pem.splitlines()[1][:16] not in str(registry.errors[0])


@pytest.mark.parametrize(
    "text", ["{not json", '{"clusters": 3}', '"x"'], ids=["not-json", "not-list", "string"]
)
def test_unusable_document(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_registry(text)


def test_object_with_clusters_key_is_accepted() -> None:
    assert parse_registry(json.dumps({"clusters": [GOOD]})).names() == ("prod",)
