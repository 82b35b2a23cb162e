"""The hub's VAPID key pair (RFC 8292) for Web Push: generated on first use into ``<data-dir>/vapid/``, loaded after.

The private key is a P-256 key in a PEM file readable by the hub only (0600); the public key is kept beside it as
the browser's ``applicationServerKey``: the uncompressed point (65 bytes), base64url without padding. A browser
subscription is bound to that public key, so the pair must survive restarts: losing it silently ends every
subscription (push services answer 403 or 410 to a key they do not know).
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["PRIVATE_FILE", "PUBLIC_FILE", "VAPID_DIR", "VapidKeys", "application_server_key", "load_vapid_keys"]

log = logging.getLogger(__name__)

VAPID_DIR = "vapid"
PRIVATE_FILE = "private_key.pem"
PUBLIC_FILE = "application_server_key.txt"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def application_server_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The public half as a browser's ``applicationServerKey``: the uncompressed P-256 point, base64url."""
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


@dataclass(frozen=True, slots=True)
class VapidKeys:
    """The hub's VAPID pair: the private key (PEM, PKCS#8) and the public key as ``applicationServerKey``."""

    private_pem: bytes
    public_key: str
    path: Path
    """The private key's file (what ``pywebpush`` may also be given)."""

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The private key as a ``cryptography`` object."""
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"{self.path} does not hold a P-256 private key")
        return key


def _write_new(directory: Path) -> bool:
    """Generate a pair into ``directory``; False when another process created the private key first."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Written under a temporary name, then linked into place with O_EXCL semantics (os.link fails if the
    # target exists): two hubs starting at once end up with one key, and no reader ever sees half a file.
    temp = directory / f".{PRIVATE_FILE}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temp, directory / PRIVATE_FILE)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    return True


def load_vapid_keys(data_dir: Path) -> VapidKeys:
    """The pair in ``<data_dir>/vapid/``, generated there first if it is missing.

    The public key file is rewritten from the private key when it is missing or differs (it is derived
    data, kept for operators and other tools); the private key is never replaced once written.
    """
    directory = data_dir / VAPID_DIR
    path = directory / PRIVATE_FILE
    if not path.exists() and _write_new(directory):
        log.info("generated a new VAPID key pair in %s", directory)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); setting 0600", path, mode)
        os.chmod(path, 0o600)
    keys = VapidKeys(private_pem=path.read_bytes(), public_key="", path=path)
    public = application_server_key(keys.private_key())
    public_path = directory / PUBLIC_FILE
    try:
        stored = public_path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        stored = None
    if stored != public:
        temp = directory / f".{PUBLIC_FILE}.{os.getpid()}.tmp"
        temp.write_text(public + "\n", encoding="ascii")
        temp.replace(public_path)
    return VapidKeys(private_pem=keys.private_pem, public_key=public, path=path)
