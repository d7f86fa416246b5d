"""Issuing the aggregator proxy client certificate and the CA rules (certificates made at run time)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metrics_guard.errors import RemediationRefused
from metrics_guard.pki.issue import (
    IssuePolicy,
    choose_common_name,
    issue_proxy_client_cert,
    parse_ca_secret,
    validate_ca,
)
from tests.unit.remediation.certs import cert_pem, key_pem, make_ca

NOW = datetime.now(UTC)


def secret(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> str:
    return json.dumps({"cert_pem": cert_pem(cert), "key_pem": key_pem(key)})


@pytest.mark.parametrize(
    ("key_type", "key_class", "encipherment"),
    [("ecdsa-p256", ec.EllipticCurvePrivateKey, False), ("rsa-2048", rsa.RSAPrivateKey, True)],
    ids=["ecdsa", "rsa"],
)
def test_issued_certificate_profile(key_type: str, key_class: type, encipherment: bool) -> None:
    ca_cert, ca_key = make_ca()
    ca = parse_ca_secret(secret(ca_cert, ca_key))
    policy = IssuePolicy(key_type=key_type, organization="system:masters")  # type: ignore[arg-type]
    issued = issue_proxy_client_cert(ca, common_name="aggregator", policy=policy, now=NOW)
    cert = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "aggregator"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment is encipherment and not ku.key_cert_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest and ski.digest != ca_ski.digest
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= timedelta(days=365)
    assert cert.not_valid_before_utc <= NOW
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(issued.key_pem.encode(), password=None)
    assert isinstance(key, key_class)
    assert "key_pem" not in repr(issued) and issued.key_pem not in repr(issued)


def test_serials_are_random_and_sha256_is_of_the_der() -> None:
    ca_cert, ca_key = make_ca()
    ca = parse_ca_secret(secret(ca_cert, ca_key))
    a = issue_proxy_client_cert(ca, common_name="aggregator", policy=IssuePolicy(), now=NOW)
    b = issue_proxy_client_cert(ca, common_name="aggregator", policy=IssuePolicy(), now=NOW)
    assert a.serial_hex != b.serial_hex
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(a.cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    assert a.sha256 == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    ("current", "allowed", "expected"),
    [
        ("aggregator", ["aggregator", "front-proxy-client"], "aggregator"),
        ("wrong", ["aggregator", "front-proxy-client"], "aggregator"),
        (None, ["front-proxy-client"], "front-proxy-client"),
        ("custom", [], "custom"),
        (None, [], "aggregator"),
    ],
    ids=["kept", "not-allowed", "no-current", "any-allowed", "default"],
)
def test_common_name(current: str | None, allowed: list[str], expected: str) -> None:
    assert choose_common_name(current, allowed, default="aggregator") == expected


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ('{"cert_pem": 1, "key_pem": "x"}', "string members"),
        ('{"cert_pem": "nope", "key_pem": "nope"}', "not a PEM certificate"),
    ],
    ids=["not-json", "not-object", "wrong-types", "not-pem"],
)
def test_malformed_secret_refused(text: str, message: str) -> None:
    with pytest.raises(RemediationRefused, match=message):
        parse_ca_secret(text)


def test_bad_key_refused_without_echoing_it() -> None:
    ca_cert, ca_key = make_ca()
    # a well-formed PEM block whose body is not a key: made at run time from a generated key's armour
    lines = key_pem(ca_key).splitlines()
    body = base64.b64encode(b"not-a-key-but-secret-bytes").decode()
    bogus = "\n".join([lines[0], body, lines[-1]]) + "\n"
    with pytest.raises(RemediationRefused) as info:
        parse_ca_secret(json.dumps({"cert_pem": cert_pem(ca_cert), "key_pem": bogus}))
    assert body[:8] not in str(info.value)


def test_key_not_matching_certificate_refused() -> None:
    ca_cert, _ = make_ca()
    with pytest.raises(RemediationRefused, match="does not match"):
        parse_ca_secret(secret(ca_cert, _other_key()))


def _validate(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cluster: list[str]) -> None:
    validate_ca(parse_ca_secret(secret(ca_cert, ca_key)), cluster, now=NOW, policy=IssuePolicy())


def test_ca_in_cluster_bundle_accepted() -> None:
    ca_cert, ca_key = make_ca()
    other, _ = make_ca("other")
    _validate(ca_cert, ca_key, [cert_pem(other) + cert_pem(ca_cert)])


def test_reissued_ca_with_same_subject_and_key_accepted() -> None:
    ca_cert, ca_key = make_ca()
    again, _ = make_ca(key=ca_key)
    _validate(ca_cert, ca_key, [cert_pem(again)])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("foreign", "not one of the cluster's requestheader CAs"),
        ("none", "publishes no requestheader CA"),
        ("expired", "expired"),
        ("expires-early", "before the new certificate would"),
        ("not-a-ca", "not a CA"),
        ("future", "not valid before"),
    ],
    ids=lambda v: v if " " not in v else "",
)
def test_ca_refused(case: str, message: str) -> None:
    if case == "expired":
        ca_cert, ca_key = make_ca(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    elif case == "expires-early":
        ca_cert, ca_key = make_ca(not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=100))
    elif case == "not-a-ca":
        ca_cert, ca_key = make_ca(is_ca=False)
    elif case == "future":
        ca_cert, ca_key = make_ca(not_before=NOW + timedelta(days=1))
    else:
        ca_cert, ca_key = make_ca()
    cluster = {"foreign": [cert_pem(make_ca("requestheader-ca")[0])], "none": []}.get(
        case, [cert_pem(ca_cert)]
    )
    with pytest.raises(RemediationRefused, match=message):
        _validate(ca_cert, ca_key, cluster)
