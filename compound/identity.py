"""Device identity on the broker: one MQTT credential per edge and one for the hub, and what each may do.

``provision`` keeps the secrets under ``<data-dir>/keys/`` (one file per identity, mode 0600, the password
in clear: the client that owns it must send it) and writes the broker's side under ``<data-dir>/broker/``,
hashed at rest:

- ``mosquitto.passwd`` (Mosquitto's ``$7$`` PBKDF2-SHA512 format, as ``mosquitto_passwd`` writes it) and
  ``mosquitto.acl`` (one ``user`` block per identity), plus ``mosquitto.conf`` lines that use them;
- ``amqtt.passwd`` (argon2, the hash amqtt's ``FileAuthPlugin`` verifies) and ``amqtt-acl.json``
  (``publish-acl``/``subscribe-acl`` per user) for the embedded broker (``python -m compound.broker --auth``).

The grants follow the topic tree of ``compound.wire``: an edge publishes only its own
``event/ reading/ snapshot/ status heartbeat`` and subscribes only to its own ``cmd/#``; the hub reads
the whole compound and alone publishes ``cmd/``. Usernames are ``hub`` and ``edge-<edge id>`` (an edge id
is one topic segment, so no edge name can be ``hub``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound import wire

__all__ = [
    "HUB",
    "BrokerAuthFiles",
    "Grants",
    "Provisioned",
    "amqtt_acl",
    "edge_username",
    "grants",
    "mosquitto_acl",
    "mosquitto_hash",
    "provision",
    "read_amqtt_acl",
    "read_secret",
    "secret_path",
]

HUB = "hub"
"""The hub's username (all replicas share it)."""

EDGE_PREFIX = "edge-"

MOSQUITTO_ITERATIONS = 101
"""Mosquitto 2.0's own count for ``$7$``. Enough here: every secret is 32 random bytes, not a human password."""

KEYS_DIR = "keys"
BROKER_DIR = "broker"


def edge_username(edge: str) -> str:
    """The MQTT username of one edge agent."""
    return f"{EDGE_PREFIX}{edge}"


def secret_path(data_dir: Path, username: str) -> Path:
    """Where the secret of ``username`` is kept under the data dir."""
    return Path(data_dir) / KEYS_DIR / f"{username}.secret"


def read_secret(path: Path) -> str:
    """The password in a secret file (one line); ``OSError``/``ValueError`` when missing or empty."""
    value = Path(path).read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"{path} is empty")
    return value


@dataclass(frozen=True, slots=True)
class Grants:
    """Topic filters one identity may publish to and subscribe to."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def grants(prefix: str, compound: str, username: str) -> Grants:
    """What ``username`` may do in ``compound``'s topic tree (``ValueError`` for a name that is no identity)."""
    base = f"{prefix}/{wire.API_VERSION}/{compound}"
    probe = f"{prefix}/probe/#"  # the hub's shared-subscription probe (hub.ingest.transport)
    if username == HUB:
        return Grants(publish=(f"{base}/+/{wire.MessageType.CMD}/#", probe), subscribe=(f"{base}/#", probe))
    edge = username.removeprefix(EDGE_PREFIX)
    if not username.startswith(EDGE_PREFIX) or not edge or "/" in edge or "+" in edge or "#" in edge:
        raise ValueError(f"not an identity: {username!r} (hub or edge-<edge id>)")
    own = f"{base}/{edge}"
    M = wire.MessageType
    return Grants(
        publish=(
            f"{own}/{M.EVENT}/#",
            f"{own}/{M.READING}/#",
            f"{own}/{M.SNAPSHOT}/#",
            f"{own}/{M.SHADOW}/#",
            f"{own}/{M.STATUS}",
            f"{own}/{M.HEARTBEAT}",
        ),
        subscribe=(f"{own}/{M.CMD}/#",),
    )


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto's ``$7$`` password hash: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte key, base64."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_ITERATIONS, 64)
    return f"$7${MOSQUITTO_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def _argon2_hash(password: str) -> str:
    """argon2id, through the same library amqtt's ``FileAuthPlugin`` verifies with. Light parameters on purpose:
    each secret is 32 random bytes (a slow hash protects guessable passwords, not these), and amqtt verifies on its
    only event loop, which the defaults (64 MiB, 3 passes, ~0.4 s on a busy 2-core machine) would stall per CONNECT."""
    from pwdlib.hashers.argon2 import Argon2Hasher

    return str(Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password))


def mosquitto_acl(prefix: str, compound: str, usernames: Iterable[str]) -> str:
    """A Mosquitto ``acl_file``: one ``user`` block per identity; anything not granted is denied."""
    lines = [f"# compound keys: {compound}. Anything not listed is denied (anonymous clients are refused)."]
    for username in usernames:
        g = grants(prefix, compound, username)
        lines += ["", f"user {username}"]
        lines += [f"topic write {t}" for t in g.publish if t not in g.subscribe]
        lines += [f"topic read {t}" for t in g.subscribe if t not in g.publish]
        lines += [f"topic readwrite {t}" for t in g.publish if t in g.subscribe]
    return "\n".join(lines) + "\n"


def amqtt_acl(prefix: str, compound: str, usernames: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """``publish-acl`` and ``subscribe-acl`` of amqtt's ``TopicAccessControlListPlugin``, per user."""
    publish: dict[str, list[str]] = {}
    subscribe: dict[str, list[str]] = {}
    for username in usernames:
        g = grants(prefix, compound, username)
        publish[username], subscribe[username] = list(g.publish), list(g.subscribe)
    return {"publish-acl": publish, "subscribe-acl": subscribe}


@dataclass(frozen=True, slots=True)
class BrokerAuthFiles:
    """The broker-side files under ``<data-dir>/broker/``."""

    directory: Path

    @property
    def mosquitto_passwd(self) -> Path:
        return self.directory / "mosquitto.passwd"

    @property
    def mosquitto_acl(self) -> Path:
        return self.directory / "mosquitto.acl"

    @property
    def mosquitto_conf(self) -> Path:
        """Lines to add to a Mosquitto listener's configuration."""
        return self.directory / "mosquitto.conf"

    @property
    def amqtt_passwd(self) -> Path:
        return self.directory / "amqtt.passwd"

    @property
    def amqtt_acl(self) -> Path:
        return self.directory / "amqtt-acl.json"

    @classmethod
    def under(cls, data_dir: Path) -> BrokerAuthFiles:
        return cls(Path(data_dir) / BROKER_DIR)


def read_amqtt_acl(path: Path) -> dict[str, dict[str, list[str]]]:
    """The ``amqtt-acl.json`` written by ``provision`` (``ValueError`` when malformed)."""
    data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in ("publish-acl", "subscribe-acl")):
        raise ValueError(f"{path}: expected publish-acl and subscribe-acl")
    return {k: {str(u): [str(t) for t in v] for u, v in data[k].items()} for k in ("publish-acl", "subscribe-acl")}


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What ``provision`` did: the identities, which secrets it created or rotated, where the files are."""

    usernames: tuple[str, ...]
    created: tuple[str, ...]
    rotated: tuple[str, ...]
    keys_dir: Path
    broker: BrokerAuthFiles


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def provision(
    data_dir: Path,
    *,
    compound: str,
    prefix: str,
    edges: Sequence[str],
    rotate: Iterable[str] = (),
) -> Provisioned:
    """Create missing secrets (hub and every edge), rotate those named, rewrite every broker file.

    ``rotate`` holds usernames (``hub``, ``edge-b1``) or edge ids; secrets of identities no longer in the
    config stay on disk but leave the broker files, so those clients are refused.
    """
    usernames = (HUB, *(edge_username(e) for e in edges))
    wanted = {r if r == HUB or r.startswith(EDGE_PREFIX) else edge_username(r) for r in rotate}
    unknown = sorted(wanted - set(usernames))
    if unknown:
        raise ValueError(f"cannot rotate {', '.join(unknown)}: not an identity of {compound} ({', '.join(usernames)})")
    created: list[str] = []
    rotated: list[str] = []
    passwords: dict[str, str] = {}
    for username in usernames:
        path = secret_path(data_dir, username)
        if path.exists() and username not in wanted:
            passwords[username] = read_secret(path)
            continue
        (rotated if path.exists() else created).append(username)
        passwords[username] = secrets.token_urlsafe(32)
        _write_private(path, passwords[username] + "\n")
    files = BrokerAuthFiles.under(data_dir)
    _write_private(files.mosquitto_passwd, "".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in passwords.items()))
    _write_private(files.mosquitto_acl, mosquitto_acl(prefix, compound, usernames))
    _write_private(
        files.mosquitto_conf,
        "# Add to the listener's section of mosquitto.conf (compound keys). Mosquitto re-reads both files on SIGHUP.\n"
        "allow_anonymous false\n"
        f"password_file {files.mosquitto_passwd.resolve()}\n"
        f"acl_file {files.mosquitto_acl.resolve()}\n",
    )
    _write_private(files.amqtt_passwd, "".join(f"{u}:{_argon2_hash(p)}\n" for u, p in passwords.items()))
    _write_private(files.amqtt_acl, json.dumps(amqtt_acl(prefix, compound, usernames), indent=2) + "\n")
    return Provisioned(usernames, tuple(created), tuple(rotated), Path(data_dir) / KEYS_DIR, files)
