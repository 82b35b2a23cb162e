"""TLS for the broker: a generated CA, a server certificate for the broker host, one client certificate per identity.

``provision_tls`` (``compound keys --tls``) writes under ``<data-dir>/keys/tls/`` (0700; every key 0600):

- ``ca.pem`` / ``ca.key``: a private CA (EC P-256, 10 years) that signs everything below; keep ``ca.key`` offline
  once the certificates are issued;
- ``server.pem`` / ``server.key``: the broker's certificate, valid for ``localhost``, ``127.0.0.1`` and every
  ``--tls-host`` name (subject alternative names);
- ``<identity>.pem`` / ``<identity>.key``: one client certificate per identity, ``hub`` and ``edge-<id>``, with the
  identity as its common name, so a broker that takes the certificate's CN as the username (Mosquitto's
  ``use_identity_as_username``) applies the same topic ACL as with passwords;
- ``mosquitto-tls.conf``: the lines to put under a TLS ``listener`` of Mosquitto.

Existing files are kept (a rerun only adds what is missing); ``rotate`` reissues the named identities' certificates.
Clients connect with ``MqttTLS.apply`` (paho's ``tls_set`` with the CA and their own certificate).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TLS_DIR", "MqttTLS", "ProvisionedTLS", "TLSFiles", "provision_tls"]

TLS_DIR = "tls"
"""Under ``<data-dir>/keys/``."""

CA_DAYS = 3650
CERT_DAYS = 825


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """The files ``provision_tls`` writes under one folder."""

    directory: Path

    @classmethod
    def under(cls, data_dir: Path) -> TLSFiles:
        from compound.identity import KEYS_DIR

        return cls(Path(data_dir) / KEYS_DIR / TLS_DIR)

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def mosquitto_conf(self) -> Path:
        return self.directory / "mosquitto-tls.conf"

    def cert(self, identity: str) -> Path:
        return self.directory / f"{identity}.pem"

    def key(self, identity: str) -> Path:
        return self.directory / f"{identity}.key"


@dataclass(frozen=True, slots=True)
class MqttTLS:
    """What one MQTT client needs to connect over TLS: the CA to trust, its own certificate and key."""

    ca: Path
    cert: Path | None
    key: Path | None

    @classmethod
    def from_dir(cls, directory: Path, identity: str) -> MqttTLS:
        """``identity``'s certificate in a folder ``provision_tls`` wrote; ``OSError`` when something is missing."""
        files = TLSFiles(Path(directory))
        missing = [str(p) for p in (files.ca, files.cert(identity), files.key(identity)) if not p.exists()]
        if missing:
            raise FileNotFoundError(f"no TLS files for {identity}: {', '.join(missing)} (run `compound keys --tls`)")
        return cls(files.ca, files.cert(identity), files.key(identity))

    def apply(self, client: Any) -> None:
        """Make a paho client connect over TLS 1.2+ with this CA and client certificate (host name checked)."""
        client.tls_set(
            ca_certs=str(self.ca),
            certfile=str(self.cert) if self.cert else None,
            keyfile=str(self.key) if self.key else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def _name(common_name: str, compound: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, compound), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _issue(
    ca_key: Any, ca_cert: Any, common_name: str, compound: str, *, server_names: Sequence[str] = ()
) -> tuple[Any, Any]:
    """A new key and a certificate for it signed by the CA: a server's (names in the SAN) or a client's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, compound))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for name in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _new_ca(compound: str) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    name = _name(f"{compound} broker CA", compound)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True, slots=True)
class ProvisionedTLS:
    """What ``provision_tls`` did."""

    files: TLSFiles
    issued: tuple[str, ...]
    """Certificates written this time (``ca``, ``server``, identities)."""


def provision_tls(
    data_dir: Path,
    *,
    compound: str,
    identities: Sequence[str],
    hosts: Iterable[str] = (),
    rotate: Iterable[str] = (),
) -> ProvisionedTLS:
    """Create what is missing under ``<data-dir>/keys/tls/``: the CA, the server certificate (for ``localhost``,
    ``127.0.0.1``, the names it had and ``hosts``), a client certificate per identity; reissue those in ``rotate``
    (identities, or ``server``). A new CA reissues everything."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    files = TLSFiles.under(data_dir)
    issued: list[str] = []
    if files.ca.exists() and files.ca_key.exists():
        ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    else:
        ca_key, ca_cert = _new_ca(compound)
        _write_private(files.ca_key, _key_pem(ca_key))
        _write_private(files.ca, _cert_pem(ca_cert))
        issued.append("ca")
    wanted = set(rotate)
    current: list[str] = []
    if files.server.exists():
        san = x509.load_pem_x509_certificate(files.server.read_bytes()).extensions
        current = [str(n.value) for n in san.get_extension_for_class(x509.SubjectAlternativeName).value]
    # A rerun keeps the names the server certificate has and adds new ones.
    names = list(dict.fromkeys(["localhost", "127.0.0.1", *current, *(_canonical(h) for h in hosts)]))
    if "ca" in issued or "server" in wanted or not files.server_key.exists() or set(names) - set(current):
        key, cert = _issue(ca_key, ca_cert, names[0], compound, server_names=names)
        _write_private(files.server_key, _key_pem(key))
        _write_private(files.server, _cert_pem(cert))
        issued.append("server")
    for identity in identities:
        if (
            "ca" in issued
            or identity in wanted
            or not files.cert(identity).exists()
            or not files.key(identity).exists()
        ):
            key, cert = _issue(ca_key, ca_cert, identity, compound)
            _write_private(files.key(identity), _key_pem(key))
            _write_private(files.cert(identity), _cert_pem(cert))
            issued.append(identity)
    from compound.identity import BrokerAuthFiles

    acl = BrokerAuthFiles.under(data_dir).mosquitto_acl.resolve()
    _write_private(
        files.mosquitto_conf,
        (
            "# compound keys --tls: put these under a TLS listener of mosquitto.conf, e.g. `listener 8883`.\n"
            "# Clients must show a certificate from this CA; its CN (hub, edge-<id>) is the username for acl_file.\n"
            f"cafile {files.ca.resolve()}\n"
            f"certfile {files.server.resolve()}\n"
            f"keyfile {files.server_key.resolve()}\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            f"# with per_listener_settings true, also: allow_anonymous false / acl_file {acl}\n"
        ).encode(),
    )
    return ProvisionedTLS(files, tuple(issued))


def _canonical(name: str) -> str:
    """An address as the certificate will spell it; a host name as given."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name
