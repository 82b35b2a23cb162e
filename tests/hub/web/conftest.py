"""Fixtures for the web tests: the real app over a real SQLite database, fed through the real ingest pipeline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from compound import wire
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Inbound, MessagePipeline
from hub.web import HubServer, TokenSigner, WebContext, create_app, make_server
from tests.hub.helpers import NIGHT, event_topic, make_event

SECRET = "test-secret-key-for-web-tests-0123456789"


@dataclass
class WebHub:
    """The app under test, the pipeline that feeds it, and a way to sign in as anyone."""

    compound: Compound
    pipeline: MessagePipeline
    service: AlarmService
    signer: TokenSigner
    client: httpx.Client
    url: str
    seq: int = 0

    def token(self, person_id: str) -> str:
        """A bearer token for a person of the sample compound."""
        return self.signer.issue_for(self.compound, person_id)

    def login_token(self, person_id: str) -> str:
        """A single-use login-link token for a person (what ``compound token --url`` puts in the link)."""
        return self.signer.issue_login(self.compound, person_id)

    def auth(self, person_id: str) -> dict[str, str]:
        """The Authorization header for a person."""
        return {"Authorization": f"Bearer {self.token(person_id)}"}

    def feed(self, msg: wire.Event) -> None:
        """Process one event as ingest would after receiving it from the broker."""
        self.pipeline.process([Inbound(event_topic(self.compound, msg), wire.dump(msg), datetime.now(UTC))])

    def raise_alarm(self, device_id: str, kind: wire.EventKind = wire.EventKind.SMOKE, at: datetime = NIGHT) -> int:
        """Raise an alarm at a device through the pipeline; return its id."""
        self.seq += 1
        msg = make_event(self.compound, device_id, seq=self.seq, kind=kind, at=at)
        self.feed(msg)
        alarms = [a for a in self.service.list_alarms(state="open") if a.device == device_id and a.kind == kind.value]
        assert len(alarms) == 1, f"expected one open {kind} alarm at {device_id}, got {alarms}"
        return alarms[0].id


class ServedApp:
    """Serves an app with uvicorn on a free loopback port, in its own thread and event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.url = ""
        self.error: BaseException | None = None
        self._started = threading.Event()
        self.server: HubServer = make_server(app, host="127.0.0.1", port=0, on_started=self._on_started)
        self.thread = threading.Thread(target=self._main, name="web-test", daemon=True)

    def _on_started(self, url: str) -> None:
        self.url = url
        self._started.set()

    def _main(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self._started.set()

    def start(self, timeout: float = 20.0) -> ServedApp:
        self.thread.start()
        assert self._started.wait(timeout), "web app did not start"
        assert self.url, f"web app failed to start: {self.error!r}"
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "web app did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def web(hub_db: Database, compound: Compound) -> Iterator[WebHub]:
    """The web app over ``hub_db``, alarms fed through the real ``MessagePipeline``."""
    changes = AlarmChanges()
    pipeline = MessagePipeline(hub_db, compound, changes=changes)
    service = AlarmService(hub_db, compound, changes=changes)
    signer = TokenSigner(SECRET)
    served = ServedApp(create_app(WebContext(compound=compound, service=service, signer=signer))).start()
    try:
        # Like a browser on the console, the client says where its requests come from (the hub checks
        # Origin on cookie-authenticated writes); tests of cross-site requests override it.
        with httpx.Client(base_url=served.url, timeout=20.0, headers={"Origin": served.url}) as client:
            yield WebHub(compound, pipeline, service, signer, client, served.url)
    finally:
        served.stop()
