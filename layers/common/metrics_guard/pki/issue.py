"""Issue a new aggregator proxy client certificate, and decide whether a CA may sign it. Pure: no I/O.

The CA comes from a Secrets Manager secret whose ``SecretString`` is JSON::

    {"cert_pem": "<the CA certificate, PEM>", "key_pem": "<its private key, PEM>"}

``cert_pem`` is the requestheader CA certificate (the one in ``--requestheader-client-ca-file``), ``key_pem``
its unencrypted private key (PKCS#8 or the traditional RSA/EC PEM). Other members are ignored.

Every refusal raises :class:`~metrics_guard.errors.RemediationRefused` with a one-line message that names
no key material; the responder turns it into a ``REMEDIATION_REFUSED`` finding and touches nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metrics_guard.errors import RemediationRefused

KeyType: TypeAlias = Literal["ecdsa-p256", "rsa-2048"]
SigningKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)

#: Issued when neither the current certificate's CN nor an allowed name is available.
DEFAULT_COMMON_NAME = "aggregator"


@dataclass(frozen=True, slots=True)
class CaMaterial:
    """The requestheader CA as loaded from its secret. ``repr`` never shows the key."""

    cert: x509.Certificate
    key: SigningKey = field(repr=False)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()


@dataclass(frozen=True, slots=True)
class IssuePolicy:
    key_type: KeyType = "ecdsa-p256"
    organization: str | None = None
    validity: timedelta = timedelta(days=365)
    #: notBefore is set this far in the past, for clocks of control-plane hosts that run a little behind.
    backdate: timedelta = timedelta(minutes=5)
    default_common_name: str = DEFAULT_COMMON_NAME


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A new certificate and its key. ``key_pem`` is excluded from ``repr``; never log :meth:`bundle`."""

    cert_pem: str
    key_pem: str = field(repr=False)
    common_name: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    #: SHA-256 of the certificate's DER encoding (what the node script checks as ExpectedSha256).
    sha256: str

    def bundle_b64(self) -> str:
        """The value of the SecureString parameter the node script reads: base64 of cert PEM + key PEM."""
        return base64.b64encode((self.cert_pem + self.key_pem).encode()).decode()

    def public_summary(self) -> dict[str, str]:
        return {
            "common_name": self.common_name,
            "serial": self.serial_hex,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sha256": self.sha256,
        }


# ------------------------------------------------------------------------------------------ the CA secret


def parse_ca_secret(secret_string: str) -> CaMaterial:
    """Parse the CA secret. Refuses a malformed secret or a key that does not match the certificate."""
    try:
        data = json.loads(secret_string)
    except (ValueError, TypeError) as exc:
        raise RemediationRefused("CA secret is not JSON") from exc
    if not isinstance(data, dict):
        raise RemediationRefused('CA secret must be a JSON object {"cert_pem", "key_pem"}')
    cert_pem, key_pem = data.get("cert_pem"), data.get("key_pem")
    if not isinstance(cert_pem, str) or not isinstance(key_pem, str):
        raise RemediationRefused('CA secret must carry string members "cert_pem" and "key_pem"')
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise RemediationRefused("CA secret: cert_pem is not a PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The exception text can quote the input: do not chain its message into ours.
        raise RemediationRefused("CA secret: key_pem is not an unencrypted PEM private key") from exc
    if not isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        raise RemediationRefused("CA secret: key type cannot sign certificates")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise RemediationRefused("CA secret: the private key does not match the CA certificate")
    return CaMaterial(cert=cert, key=key)


def load_pem_bundle(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (as in the ConfigMap's ``requestheader-client-ca-file``)."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def validate_ca(
    ca: CaMaterial,
    cluster_ca_pems: Sequence[str],
    *,
    now: datetime,
    policy: IssuePolicy,
) -> None:
    """Refuse unless ``ca`` is one of the cluster's requestheader CAs and can sign a certificate that lives
    for ``policy.validity`` from ``now``.

    ``cluster_ca_pems``: the ``requestheader-client-ca-file`` entries of the
    ``kube-system/extension-apiserver-authentication`` ConfigMap (each entry may be a bundle). A CA matches
    when its DER is identical, or when subject and public key are the same (a re-signed CA certificate).
    """
    cluster_cas = [c for pem in cluster_ca_pems for c in load_pem_bundle(pem)]
    if not cluster_cas:
        raise RemediationRefused("the cluster publishes no requestheader CA: aggregation is not configured")
    if not any(_same_ca(ca.cert, c) for c in cluster_cas):
        raise RemediationRefused(
            f"CA from the secret ({ca.subject}) is not one of the cluster's requestheader CAs "
            f"({'; '.join(sorted({c.subject.rfc4514_string() for c in cluster_cas}))})"
        )
    try:
        constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and not constraints.ca:
        raise RemediationRefused("CA from the secret is not a CA certificate (BasicConstraints CA=false)")
    try:
        usage = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise RemediationRefused("CA from the secret may not sign certificates (no keyCertSign)")
    if ca.cert.not_valid_before_utc > now:
        raise RemediationRefused(f"CA is not valid before {ca.cert.not_valid_before_utc.isoformat()}")
    if ca.cert.not_valid_after_utc <= now:
        raise RemediationRefused(f"CA expired at {ca.cert.not_valid_after_utc.isoformat()}")
    wanted = now + policy.validity
    if ca.cert.not_valid_after_utc < wanted:
        raise RemediationRefused(
            f"CA expires at {ca.cert.not_valid_after_utc.isoformat()}, before the new certificate would "
            f"({wanted.isoformat()}): renew the requestheader CA first"
        )


def choose_common_name(current_cn: str | None, allowed_names: Sequence[str], *, default: str) -> str:
    """Keep the current CN when the apiserver allows it (an empty allowed list allows every CN), else the
    first allowed name."""
    allowed = [n for n in allowed_names if n]
    if current_cn and (not allowed or current_cn in allowed):
        return current_cn
    if allowed:
        return allowed[0]
    return default


def common_name_of(cert_pem: str | None) -> str | None:
    if not cert_pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


# ------------------------------------------------------------------------------------------------ issuing


def new_key(key_type: KeyType) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}")


def issue_proxy_client_cert(
    ca: CaMaterial,
    *,
    common_name: str,
    policy: IssuePolicy,
    now: datetime,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
) -> IssuedCertificate:
    """A client certificate for the aggregator, signed by ``ca``. Call :func:`validate_ca` first."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not common_name:
        raise ValueError("common_name must not be empty")
    private = key if key is not None else new_key(policy.key_type)
    is_rsa = isinstance(private, rsa.RSAPrivateKey)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if policy.organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, policy.organization))
    not_before = now - policy.backdate
    not_after = now + policy.validity
    try:
        ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.cert.subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    algorithm = (
        None if isinstance(ca.key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    )
    cert = builder.sign(ca.key, algorithm)
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature) as exc:  # pragma: no cover - a cryptography bug
        raise RemediationRefused("the new certificate does not verify against the CA") from exc
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return IssuedCertificate(
        cert_pem=cert_pem,
        key_pem=key_pem,
        common_name=common_name,
        serial_hex=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------- internals


def _spki(public_key: object) -> bytes:
    if not hasattr(public_key, "public_bytes"):
        raise RemediationRefused("unsupported public key type")
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _same_ca(a: x509.Certificate, b: x509.Certificate) -> bool:
    if a.public_bytes(serialization.Encoding.DER) == b.public_bytes(serialization.Encoding.DER):
        return True
    return a.subject == b.subject and _spki(a.public_key()) == _spki(b.public_key())
