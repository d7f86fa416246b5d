"""Certificate inspection: parse PEM bundles, describe a certificate, check issuer, names and validity.

Pure functions over ``cryptography`` objects; nothing here reads files or the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metrics_guard.errors import InputError
from metrics_guard.model import Json

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


def load_pem_bundle(text: str, *, what: str = "PEM bundle") -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle; InputError (one line) when a block is malformed or none is there."""
    if _BEGIN not in text:
        raise InputError(f"{what}: no PEM certificate")
    certs: list[x509.Certificate] = []
    rest = text
    index = 0
    while _BEGIN in rest:
        start = rest.index(_BEGIN)
        end = rest.find(_END, start)
        if end < 0:
            raise InputError(f"{what}: certificate {index + 1} has no END line")
        block = rest[start : end + len(_END)]
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError as exc:
            raise InputError(f"{what}: certificate {index + 1} is malformed") from exc
        rest = rest[end + len(_END) :]
        index += 1
    return tuple(certs)


def spki_sha256(public_key: object) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo of a public key."""
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def private_key_public_sha256(key_pem: bytes) -> str:
    """SHA-256 of the public half of a private key (PEM); the key itself goes no further."""
    try:
        # Only the public half is derived: the RSA primality / consistency check (~50 ms per 2048-bit
        # key, and it holds the GIL) proves nothing here. Whether the key matches the certificate is
        # decided by comparing this fingerprint with the certificate's public key.
        key = serialization.load_pem_private_key(key_pem, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError) as exc:
        raise InputError("private key: not an unencrypted PEM private key") from exc
    return spki_sha256(key.public_key())


def _cn(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, None


_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
}


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    ext_key_usage: tuple[str, ...] | None  # None: no EKU extension (any usage)
    is_ca: bool
    key_type: str
    key_bits: int | None
    not_before: datetime
    not_after: datetime
    serial: str
    sha256: str
    public_key_sha256: str
    self_signed: bool

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400.0

    def valid_at(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after

    def allows_client_auth(self) -> bool:
        return self.ext_key_usage is None or "clientAuth" in self.ext_key_usage

    def allows_server_auth(self) -> bool:
        return self.ext_key_usage is None or "serverAuth" in self.ext_key_usage

    def to_json(self, now: datetime) -> dict[str, Json]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "common_name": self.common_name,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "ext_key_usage": None if self.ext_key_usage is None else list(self.ext_key_usage),
            "is_ca": self.is_ca,
            "key": f"{self.key_type}/{self.key_bits}" if self.key_bits else self.key_type,
            "not_before": self.not_before.isoformat().replace("+00:00", "Z"),
            "not_after": self.not_after.isoformat().replace("+00:00", "Z"),
            "days_left": round(self.days_left(now), 2),
            "serial": self.serial,
            "sha256": self.sha256,
        }


def inspect(cert: x509.Certificate) -> CertInfo:
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    eku: tuple[str, ...] | None = None
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in usages)
    except x509.ExtensionNotFound:
        pass
    is_ca = False
    with contextlib.suppress(x509.ExtensionNotFound):
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key_type, key_bits = _key(cert)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=_cn(cert.subject),
        dns_names=dns,
        ip_addresses=ips,
        ext_key_usage=eku,
        is_ca=is_ca,
        key_type=key_type,
        key_bits=key_bits,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        public_key_sha256=spki_sha256(cert.public_key()),
        self_signed=cert.issuer == cert.subject,
    )


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``ca`` signed ``cert`` (names and signature). Works for client certs without a SAN."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def find_issuer(cert: x509.Certificate, cas: tuple[x509.Certificate, ...]) -> x509.Certificate | None:
    for ca in cas:
        if issued_by(cert, ca):
            return ca
    return None


def covers_host(info: CertInfo, host: str) -> bool:
    """Whether the SANs cover ``host`` (IP or DNS name, one-label wildcards as in RFC 6125)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in info.ip_addresses)
    wanted = host.lower().rstrip(".")
    for name in info.dns_names:
        pattern = name.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False
