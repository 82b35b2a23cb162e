"""The console's static files, shipped inside the package (no CDN, no build step)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi.responses import HTMLResponse

__all__ = ["STATIC_DIR", "page"]

STATIC_DIR = Path(str(resources.files("hub.web").joinpath("static")))


def page(name: str) -> HTMLResponse:
    """An HTML page from the static folder, never cached (it is the entry point to versioned assets)."""
    html = (STATIC_DIR / name).read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
