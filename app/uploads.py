"""Uploads kept between an import's preview and its confirmation: stored outside the static folder, named by a
random token remembered in the user's session, removed once confirmed, discarded or a day old."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from flask import abort, current_app, session
from werkzeug.datastructures import FileStorage

MAX_AGE_HOURS = 24


def file_bytes(upload: FileStorage) -> bytes:
    """The whole uploaded file, read from its start: an action may run twice (app.actions)."""
    upload.stream.seek(0)
    return upload.read()


class PendingUploads:
    def __init__(self, session_key: str, folder_name: str):
        self.session_key = session_key
        self.folder_name = folder_name

    def folder(self) -> Path:
        folder = Path(current_app.config["UPLOAD_FOLDER"]) / self.folder_name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def stage(self, data: bytes, **details) -> dict:
        """Keep the bytes under a new token (replacing this session's earlier upload) and return its details."""
        folder = self.folder()
        self.discard()
        self._remove_old(folder)
        token = secrets.token_urlsafe(24)
        (folder / token).write_bytes(data)
        pending = {"token": token, **details}
        session[self.session_key] = pending
        return pending

    def get(self, token: str) -> tuple[dict, bytes]:
        """The upload this session made under `token`, with its bytes; anyone else's token is not found."""
        pending = session.get(self.session_key)
        if not pending or not secrets.compare_digest(str(pending.get("token", "")), token):
            abort(404)
        path = self.folder() / pending["token"]
        if not path.is_file():
            session.pop(self.session_key, None)
            abort(404)
        return pending, path.read_bytes()

    def discard(self) -> None:
        pending = session.pop(self.session_key, None)
        if pending:
            (self.folder() / pending["token"]).unlink(missing_ok=True)

    @staticmethod
    def _remove_old(folder: Path) -> None:
        limit = time.time() - MAX_AGE_HOURS * 3600
        for path in folder.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    path.unlink()
            except OSError:  # another worker removed it first
                continue
