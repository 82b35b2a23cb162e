"""Real servers for tests: Mosquitto and the embedded amqtt broker, and throwaway PostgreSQL clusters, on free
loopback ports.

Each server can be stopped and started again on the same port (outage tests). Fixtures in
``conftest.py`` wrap these; nothing here is a mock.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import free_port, wait_port, wait_port_closed

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
"""Debian's PostgreSQL server binaries (the newest installed major version)."""


class ServerProcess:
    """A server process on a fixed port that can be stopped and started again (outage tests)."""

    kind: str = ""
    start_timeout: float = 15.0
    stop_timeout: float = 10.0

    def __init__(self, workdir: Path, port: int | None = None, auth_dir: Path | None = None) -> None:
        self.auth_dir = auth_dir
        """The broker files of ``compound keys`` (``<data-dir>/broker``): anonymous refused, topics granted."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{self.kind}.log"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def command(self) -> list[str]:
        raise TypeError(f"{type(self).__name__} must define its command line")

    def start(self) -> None:
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        try:
            wait_port(self.port, timeout=self.start_timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.kind} did not start; log:\n{self.log_path.read_text()[-2000:]}") from None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), wait, and make sure the port is closed."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


class BrokerServer(ServerProcess):
    """An MQTT broker process."""


class MosquittoServer(BrokerServer):
    """Debian's Mosquitto with persistence (so queued messages survive a restart)."""

    kind = "mosquitto"

    def __init__(
        self, workdir: Path, port: int | None = None, auth_dir: Path | None = None, tls_dir: Path | None = None
    ) -> None:
        super().__init__(workdir, port, auth_dir)
        self.tls_dir = tls_dir
        """``<data-dir>/keys/tls`` of ``compound keys --tls``: a second listener on ``tls_port``, TLS with client
        certificates only (the lines of its ``mosquitto-tls.conf``)."""
        self.tls_port = free_port() if tls_dir is not None else None

    def command(self) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        # Started as root, Mosquitto drops to the 'mosquitto' user, which cannot reach pytest's private
        # tmp dirs: its persistence then fails silently (only its log says so) and a restart forgets every
        # session. `user root` keeps it as the user that owns the test's directories.
        user = "user root\n" if os.geteuid() == 0 else ""
        auth = "allow_anonymous true\n"
        if self.auth_dir is not None:  # the lines `compound keys` writes for an operator to include
            auth = (self.auth_dir / "mosquitto.conf").read_text()
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{user}"
            f"{auth}"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 1\n"
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            "log_dest stdout\n"
        )
        if self.tls_dir is not None:
            with conf.open("a") as out:
                out.write(f"listener {self.tls_port} 127.0.0.1\n" + (self.tls_dir / "mosquitto-tls.conf").read_text())
        return [MOSQUITTO, "-c", str(conf)]

    def stop(self) -> None:
        """Stop, then make sure persistence worked: a broker that could not save would forget sessions."""
        super().stop()
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        assert "Error saving in-memory database" not in log, f"Mosquitto could not persist; log:\n{log[-2000:]}"


class AmqttServer(BrokerServer):
    """The project's embedded broker (amqtt) in its own process."""

    kind = "amqtt"

    def command(self) -> list[str]:
        auth = ["--auth", str(self.auth_dir)] if self.auth_dir is not None else []
        return [sys.executable, "-m", "compound.broker", "--bind", f"{self.host}:{self.port}", *auth]


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free port: ``initdb`` and ``pg_ctl`` as the 'postgres' user (initdb refuses
    root), in a directory of its own outside pytest's tmp_path (whose parents are private to root). It can be stopped
    (``pg_ctl stop -m fast``) and started again on the same port and data (outage tests). ``fsync=False`` for tests;
    benchmarks keep it on, so a commit costs what it would in production."""

    def __init__(self, *, fsync: bool = False) -> None:
        if PG_BIN is None or not (PG_BIN / "initdb").exists():
            raise RuntimeError("PostgreSQL server binaries are missing: `make test` installs Debian's 'postgresql'")
        self.root = Path(tempfile.mkdtemp(prefix="compound-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "pg"
        self.data.mkdir()
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.data, user.pw_uid, user.pw_gid)
            as_postgres = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        subprocess.run(
            [*as_postgres, str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1" + ("" if fsync else " -c fsync=off")
        self._pg_ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log")]
        self._pg_ctl += ["-o", options]

    @property
    def url(self) -> str:
        """The cluster's ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run([*self._pg_ctl, "start", "-w"], check=True, capture_output=True)
        wait_port(self.port)

    def stop(self) -> None:
        subprocess.run([*self._pg_ctl, "stop", "-m", "fast", "-w"], check=False, capture_output=True)

    def remove(self) -> None:
        """Stop the cluster and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[str]:
    """A started ``PostgresServer`` for the ``with`` block; yields its URL."""
    server = PostgresServer(fsync=fsync)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()
