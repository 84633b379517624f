"""A small certificate authority for mutual TLS between the controller and agents.

``chaos certs init`` makes the CA; ``chaos certs issue`` makes a certificate for
an agent (server and client use, with its IPs/DNS names) or for a controller
(client use). The role is written in the subject's OU, which agents check:
only a ``controller`` certificate may call an agent's API.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chaos.errors import UsageError

CA_CERT, CA_KEY = "ca.crt", "ca.key"


class Role(StrEnum):
    AGENT = "agent"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class IssuedFiles:
    cert: Path
    key: Path


def init_ca(
    directory: Path, *, name: str = "chaos-ca", days: int = 3650, force: bool = False
) -> IssuedFiles:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() and not force:
        raise UsageError(f"a CA already exists in {directory} (use --force to replace it)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(cert_path, key_path, cert, key)
    return IssuedFiles(cert_path, key_path)


def issue(
    directory: Path, *, name: str, role: Role, hosts: Sequence[str] = (), days: int = 825
) -> IssuedFiles:
    """A certificate for ``name`` signed by the CA in ``directory``."""
    try:
        ca_cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        ca_key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
    except OSError as exc:
        raise UsageError(f"no CA in {directory}: run `chaos certs init` first") from exc
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"unexpected CA key type in {directory}")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
        ]
    )
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if role is Role.AGENT:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    names = _alt_names([name, *hosts])
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    files = IssuedFiles(directory / f"{name}.crt", directory / f"{name}.key")
    _write(files.cert, files.key, cert, key)
    return files


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never world-readable
    try:
        os.write(fd, key_bytes)
    finally:
        os.close(fd)
