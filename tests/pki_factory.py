"""Run-time test certificates: the one place tests make CAs and leaf certificates (never committed)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_EKU = {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH, "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def new_key(key_type: KeyType = "ec", bits: int = 2048) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return ec.generate_private_key(ec.SECP256R1())


def _window(
    now: datetime | None, not_before: datetime | None, not_after: datetime | None, days: float
) -> tuple[datetime, datetime]:
    moment = now or datetime.now(UTC)
    start = not_before or moment - timedelta(hours=1)
    end = not_after or moment + timedelta(days=days)
    return start, end


def make_ca(
    cn: str = "test-ca",
    *,
    key_type: KeyType = "ec",
    now: datetime | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: float = 3650,
) -> Issued:
    key = new_key(key_type)
    start, end = _window(now, not_before, not_after, days)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_cert(
    cn: str,
    issuer: Issued,
    *,
    eku: Sequence[str] | None = ("clientAuth",),
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    key_type: KeyType = "ec",
    now: datetime | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: float = 365,
    key: PrivateKey | None = None,
) -> Issued:
    """A leaf signed by ``issuer``; ``eku=None`` leaves the EKU extension out, ``dns``/``ips`` add a SAN."""
    leaf_key = key or new_key(key_type)
    start, end = _window(now, not_before, not_after, days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_EKU[e] for e in eku]), critical=False)
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), leaf_key)
