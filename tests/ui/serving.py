"""A `rag serve` child process on loopback, and the HTTP calls a browser or API client makes to
it: the named `ask` endpoint, and a file upload to the page's indexing event."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240  # seconds: imports and a cold model load on a busy 2-core machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AskError(Exception):
    """The app answered a question with an error message instead of an answer."""


class Server:
    """`rag --index-dir I --corpus C serve --port P` as a child process."""

    def __init__(self, index_dir: Path, corpus: Path, env: dict[str, str] | None = None) -> None:
        self.index_dir, self.corpus = index_dir, corpus
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.url = ""

    def start(self) -> str:
        cmd = [
            sys.executable, "-m", "ui.cli", "--index-dir", str(self.index_dir),
            "--corpus", str(self.corpus), "serve", "--port", str(self.port),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump(stream: Any) -> None:
            for line in stream:
                lines.put(line)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if line.startswith("web chat: "):
                self.url = line.split()[2].rstrip("/")
                threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
                return self.url
        self.stop()
        raise RuntimeError("rag serve printed no URL:\n" + "".join(self.output))

    def _drain(self, lines: queue.Queue[str]) -> None:
        while self.proc is not None and self.proc.poll() is None:
            try:
                self.output.append(lines.get(timeout=1))
            except queue.Empty:
                continue

    def kill9(self) -> None:
        """``kill -9``: no handler runs, nothing is flushed or closed."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    # -- what clients do --------------------------------------------------------------------
    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


def ask(http: httpx.Client, question: str) -> dict[str, Any]:
    """POST to the named `ask` endpoint and read its event stream to the end."""
    r = http.post("/gradio_api/call/ask", json={"data": [question]})
    r.raise_for_status()
    event_id = r.json()["event_id"]
    kind = ""
    with http.stream("GET", f"/gradio_api/call/ask/{event_id}") as s:
        for line in s.iter_lines():
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: ") and kind in ("complete", "error"):
                data = json.loads(line[6:])
                if kind == "error":
                    raise AskError((data or {}).get("error") if isinstance(data, dict) else data)
                return data[0]  # type: ignore[no-any-return]
    raise AskError(f"the event stream ended without an answer (last event {kind!r})")


def _upload_event(http: httpx.Client) -> tuple[int, int]:
    """fn_index and trigger id of the page's upload event, from the app's config."""
    config = http.get("/config").json()
    comp = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "upload")
    for i, dep in enumerate(config["dependencies"]):
        if [comp, "upload"] in dep["targets"]:
            return int(dep.get("id", i)), int(comp)
    raise LookupError("the page has no upload event")


def upload(http: httpx.Client, path: Path, on_message: Any = None) -> str:
    """Upload ``path`` the way the page does (POST the file, then join the queue for the
    upload event) and return the status text the page would show once indexing is done.
    ``on_message`` sees every queue message as it arrives (``progress`` while indexing)."""
    fn_index, trigger = _upload_event(http)
    with path.open("rb") as f:
        r = http.post("/gradio_api/upload", files=[("files", (path.name, f, "text/plain"))])
    r.raise_for_status()
    server_path = r.json()[0]
    session = uuid.uuid4().hex[:11]
    r = http.post(
        "/gradio_api/queue/join",
        json={
            "data": [[{"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}]],
            "fn_index": fn_index, "trigger_id": trigger, "session_hash": session, "event_data": None,
        },
    )
    r.raise_for_status()
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            if not line.startswith("data: "):
                continue
            msg = json.loads(line[6:])
            if on_message is not None:
                on_message(msg)
            if msg.get("msg") == "process_completed":
                out = msg.get("output") or {}
                if not msg.get("success", True) or "error" in out:
                    raise AskError(str(out.get("error")))
                return str(out["data"][0])
    raise AskError("the upload's event stream ended before indexing finished")
