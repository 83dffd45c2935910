"""The web page: `index.html` at `/` and its scripts, styles and icon under `/static/`.

The files are plain HTML, CSS and JavaScript modules shipped inside this package (package data), so an
installed wheel serves them too; nothing is built. The page talks only to the public `/api/v1`.
Its answers carry their own Content-Security-Policy, which lets the page load code, styles and data
from this origin alone: no inline script or style, no remote resource, no plugin, no framing. The
API's answers keep the stricter `default-src 'none'` of the HTTP envelope.
"""

from __future__ import annotations

import re
from pathlib import Path

from litestar import get
from litestar.response import File

from domain.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# `no-cache`: the browser may keep a copy but asks again each time, so a new version shows at once.
# The envelope adds nosniff, DENY framing and no-referrer; the page also keeps its window to itself
# and asks for no device feature.
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-cache",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# Litestar adds `; charset=utf-8` to text types itself.
MEDIA_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
# Asset names are flat and plain: no path separators, no dot-files, only the types above.
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.(js|css|svg)")


def _file(name: str) -> File:
    return File(
        STATIC_DIR / name,
        content_disposition_type="inline",
        filename=name,
        media_type=MEDIA_TYPES[name.rpartition(".")[2]],
        headers=PAGE_HEADERS,
    )


@get("/", include_in_schema=False)
async def index() -> File:
    return _file("index.html")


@get("/static/{name:str}", include_in_schema=False)
async def asset(name: str) -> File:
    if not _ASSET_NAME.fullmatch(name) or not (STATIC_DIR / name).is_file():
        raise NotFound("No such file.")
    return _file(name)
