"""Certificates for the local MariaDB server when the stack is asked for TLS: a
self-signed CA of its own and a server certificate it signed, for 127.0.0.1 and
localhost. Made per stack (and thrown away with it), so no key is shared between
machines and nothing is downloaded; clients check the server against the CA
(``DATABASE_TLS_CA``), as they check Aurora against the RDS bundle.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Longer than any stack runs; a fixed span keeps the files small to reason about.
VALID_DAYS = 30
SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1",)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files: the CA's certificate (for clients), the server's certificate and key."""

    ca: Path
    cert: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    """Where :func:`make_tls_files` puts them in ``directory``."""
    directory = Path(directory)
    return TlsFiles(
        directory / "ca.pem", directory / "server-cert.pem", directory / "server-key.pem"
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # fast to make, accepted everywhere


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aurora-events local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def make_tls_files(directory: Path, now: datetime.datetime | None = None) -> TlsFiles:
    """Make a new CA and a server certificate it signs, in the private ``directory``.

    The extensions are those a strict verifier wants (Python 3.13's VERIFY_X509_STRICT):
    the CA's basic constraints and key usage critical, key identifiers, and the server's
    names as subject alternative names (host name checks read those, not the CN)."""
    now = now or datetime.datetime.now(datetime.UTC)
    from infra.local.db_server import make_private_dir, write_private_file  # (it imports us)

    files = tls_files(directory)
    make_private_dir(Path(directory))
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)

    ca_key = _key()
    ca_name = _name("aurora-events local CA")
    ca_identifier = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ca_identifier, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = _key()
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAMES[0]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in SERVER_NAMES]
                + [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_identifier),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    write_private_file(files.ca, _pem(ca))
    write_private_file(files.cert, _pem(server))
    write_private_file(
        files.key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
    )
    return files
