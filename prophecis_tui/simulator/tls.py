"""A throw-away certificate authority and server certificate, so clients talk TLS as to a real apiserver.

kubectl (client-go) sends no bearer token over plain HTTP, so the simulator serves HTTPS; the
kubeconfig it writes carries the CA (certificate-authority-data).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Tls:
    context: ssl.SSLContext
    ca_pem: bytes


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prophecis-tui simulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _new_ca(now: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("prophecis-sim-ca")).issuer_name(_name("prophecis-sim-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    return ca, ca_key


def _load_ca(ca_dir: str | None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not ca_dir:
        return None
    try:
        with open(os.path.join(ca_dir, "ca.crt"), "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(os.path.join(ca_dir, "ca.key"), "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
    except (OSError, ValueError):
        return None
    return (cert, key) if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _save_ca(ca_dir: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    os.makedirs(ca_dir, exist_ok=True)
    with open(os.path.join(ca_dir, "ca.crt"), "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    path = os.path.join(ca_dir, "ca.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.chmod(path, 0o600)


def make_tls(host: str = "127.0.0.1", ca_dir: str | None = None) -> Tls:
    """A server certificate for ``host``, signed by the CA kept in ``ca_dir`` (made there when absent),
    so that a restarted simulator is still trusted by the kubeconfig it wrote before."""
    now = datetime.datetime.now(datetime.timezone.utc)
    loaded = _load_ca(ca_dir)
    if loaded is not None:
        ca, ca_key = loaded
    else:
        ca, ca_key = _new_ca(now)
        if ca_dir:
            _save_ca(ca_dir, ca, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                                    x509.DNSName("kubernetes.default.svc"),
                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                    x509.IPAddress(ipaddress.ip_address("::1"))]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) not in ("127.0.0.1", "::1"):
            sans.append(x509.IPAddress(ip))
    except ValueError:
        if host not in ("localhost",):
            sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder().subject_name(_name("kube-apiserver")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="prophecis-sim-tls-") as d:
        cpath, kpath = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        with open(cpath, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(kpath, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        ctx.load_cert_chain(cpath, kpath)
    return Tls(ctx, ca.public_bytes(serialization.Encoding.PEM))
