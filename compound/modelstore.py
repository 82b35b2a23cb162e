"""The live detector of a compound: promoted model versions under ``<data-dir>/models/``, with rollback.

``compound model promote NEW.onnx`` (or the console's promote button) copies a candidate into the store as
the next version, ``compound_det-v<N>.onnx``, and points ``live.json`` at it; the previous live version stays
in the store, so ``compound model rollback`` points back at it. Both replace ``live.json`` atomically (a
temporary file renamed over it), so a reader never sees a half-written pointer. Edges read the pointer
when they build their cameras' detectors, i.e. **on (re)start**: a promoted model is live on each edge from
its next start (``ModelStore.live_path``); until then, and with an empty store, the ``model:`` of
``vision.yaml`` runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LIVE_FILE", "ModelStore", "ModelStoreError", "ModelVersion", "check_onnx", "sha256_of"]

LIVE_FILE = "live.json"
"""The pointer to the live version inside the store."""


class ModelStoreError(ValueError):
    """A candidate that cannot be promoted, or a store that cannot be read or changed; ``path`` names it."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One promoted version: its number, file in the store, where it came from and who promoted it when."""

    version: int
    file: str
    """File name inside the store."""
    sha256: str
    source: str
    """The candidate's path when it was promoted."""
    promoted_at: str
    by: str


@dataclass
class _Pointer:
    live: int | None = None
    versions: list[ModelVersion] = field(default_factory=list)
    history: list[dict[str, object]] = field(default_factory=list)
    """Every promote and rollback, oldest first: ``{"at", "action", "version", "by"}``."""


def sha256_of(path: Path) -> str:
    """The file's SHA-256 hex digest."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_onnx(path: Path) -> list[str]:
    """Load ``path`` with onnxruntime and return its class names (metadata ``names``); ``ModelStoreError`` if it
    is missing, not a model onnxruntime can load, or names no classes."""
    if not path.is_file():
        raise ModelStoreError(path, "no such model file")
    import onnxruntime as ort  # the edge's runtime: what it cannot load must never become live

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelStoreError(path, f"not a model onnxruntime can load: {exc}") from exc
    raw = session.get_modelmeta().custom_metadata_map.get("names")
    try:
        names = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        names = None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    if not isinstance(names, list) or not names:
        raise ModelStoreError(path, "the model's metadata has no class names ('names'): export it with them")
    return [str(n) for n in names]


class ModelStore:
    """Promoted detector versions under ``root`` (``<data-dir>/models``) and the pointer to the live one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def of_data_dir(cls, data_dir: Path | str) -> ModelStore:
        """The store of a data directory."""
        return cls(Path(data_dir) / "models")

    # ---- reading
    def _read(self) -> _Pointer:
        path = self.root / LIVE_FILE
        if not path.exists():
            return _Pointer()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return _Pointer(
                data.get("live"),
                [ModelVersion(**v) for v in data.get("versions", [])],
                list(data.get("history", [])),
            )
        except (OSError, ValueError, TypeError) as exc:
            raise ModelStoreError(path, f"unreadable model pointer: {exc}") from exc

    def versions(self) -> list[ModelVersion]:
        """Every promoted version, oldest first."""
        return self._read().versions

    def history(self) -> list[dict[str, object]]:
        """Promotes and rollbacks, oldest first."""
        return self._read().history

    def live(self) -> ModelVersion | None:
        """The live version, or None while nothing was promoted (``vision.yaml``'s model runs)."""
        pointer = self._read()
        return next((v for v in pointer.versions if v.version == pointer.live), None)

    def live_path(self) -> Path | None:
        """The live version's file, or None."""
        live = self.live()
        return self.root / live.file if live is not None else None

    # ---- changing
    def promote(self, candidate: Path | str, *, by: str = "cli") -> ModelVersion:
        """Copy ``candidate`` into the store as the next version and make it live; the previous stays for rollback.

        The candidate must load in onnxruntime and name its classes. Promoting the file that is already live
        (same SHA-256) is refused, so a double click does not hide the version to roll back to.
        """
        src = Path(candidate)
        check_onnx(src)
        digest = sha256_of(src)
        self._writable()
        pointer = self._read()
        current = next((v for v in pointer.versions if v.version == pointer.live), None)
        if current is not None and current.sha256 == digest:
            raise ModelStoreError(src, f"this model is already live (version {current.version})")
        number = max((v.version for v in pointer.versions), default=0) + 1
        name = f"compound_det-v{number}.onnx"
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".promote-", suffix=".onnx")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, self.root / name)
        finally:
            Path(tmp).unlink(missing_ok=True)
        version = ModelVersion(number, name, digest, str(src.resolve()), _now(), by)
        pointer.versions.append(version)
        pointer.live = number
        pointer.history.append({"at": version.promoted_at, "action": "promote", "version": number, "by": by})
        self._write(pointer)
        return version

    def rollback(self, *, by: str = "cli") -> ModelVersion | None:
        """Make the version promoted before the live one live again; None: back to ``vision.yaml``'s model.

        ``ModelStoreError`` when nothing is live.
        """
        pointer = self._read()
        if pointer.live is None:
            raise ModelStoreError(self.root / LIVE_FILE, "nothing was promoted: the vision.yaml model is live")
        older = [v for v in pointer.versions if v.version < pointer.live]
        previous = older[-1] if older else None
        pointer.live = previous.version if previous is not None else None
        pointer.history.append({"at": _now(), "action": "rollback", "version": pointer.live, "by": by})
        self._write(pointer)
        return previous

    def _writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelStoreError(self.root, f"cannot create the model store: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise ModelStoreError(self.root, "the model store is not writable")

    def _write(self, pointer: _Pointer) -> None:
        self._writable()
        data = {
            "live": pointer.live,
            "versions": [asdict(v) for v in pointer.versions],
            "history": pointer.history,
        }
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".live-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / LIVE_FILE)  # atomic: readers see the old pointer or the new one
        finally:
            Path(tmp).unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
