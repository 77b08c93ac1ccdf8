"""Certificates for the local control plane.

Owns: one throwaway CA per control plane, the API server's serving
certificate, an admin client certificate (group system:masters) and the
service-account signing key, written as PEM files into the instance's folder.
Refuses: anything long-lived. Keys are ECDSA P-256 (fast to make; the API
server accepts them for TLS and for ES256 service-account tokens) and expire
after a day.
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

_LIFETIME = datetime.timedelta(days=1)
# The first address of the service range; in-cluster clients reach the API
# server as kubernetes.default.svc at this address.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_SERVICE_IP = ipaddress.ip_address("10.0.0.1")


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files of one control plane."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _cert(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    is_ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usage: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
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
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def create(folder: Path) -> Pki:
    """Make a fresh CA and the certificates the control plane needs."""
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM

    ca_key = _key()
    ca_name = _name("gitops-bot-testenv-ca")
    ca = _cert(
        subject=ca_name,
        issuer=ca_name,
        public_key=ca_key.public_key(),
        signing_key=ca_key,
        is_ca=True,
    )

    server_key = _key()
    server = _cert(
        subject=_name("kube-apiserver"),
        issuer=ca_name,
        public_key=server_key.public_key(),
        signing_key=ca_key,
        sans=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(_SERVICE_IP),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
        ],
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )

    admin_key = _key()
    admin = _cert(
        subject=_name("gitops-bot-testenv-admin", "system:masters"),
        issuer=ca_name,
        public_key=admin_key.public_key(),
        signing_key=ca_key,
        usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )

    sa_key = _key()

    pki = Pki(
        ca_cert=folder / "ca.crt",
        server_cert=folder / "apiserver.crt",
        server_key=folder / "apiserver.key",
        admin_cert=folder / "admin.crt",
        admin_key=folder / "admin.key",
        sa_key=folder / "sa.key",
        sa_pub=folder / "sa.pub",
    )
    pki.ca_cert.write_bytes(ca.public_bytes(pem))
    pki.server_cert.write_bytes(server.public_bytes(pem))
    _write_key(pki.server_key, server_key)
    pki.admin_cert.write_bytes(admin.public_bytes(pem))
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki
