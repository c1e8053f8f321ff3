"""Shared helpers for the local test bed: ports, subprocesses, tool lookup.

Everything here talks to loopback only.  Processes started through
:func:`start_process` are tracked by PID and stopped by PID (their own process
group), never by name.

In CI (``CI=true``) a missing tool is an error: :func:`require_tool` raises
instead of skipping, so a broken install step can never turn into a green run
that tested nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from http.server import ThreadingHTTPServer
from typing import Mapping, Optional, Sequence, Union

LOOPBACK = "127.0.0.1"

EMULATOR_DIR = Path(__file__).resolve().parent
REPO_ROOT = EMULATOR_DIR.parent.parent
REQUIREMENTS_LOCK = EMULATOR_DIR / "requirements.lock"


# ---------------------------------------------------------------- environment


def in_ci() -> bool:
    """True when running under CI (``CI=true``; ``1``/``yes`` accepted too)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


class ToolMissing(RuntimeError):
    """A tool the test bed needs is not installed."""


def skip_or_fail(reason: str) -> None:
    """Skip the current test outside CI; fail it (raise) in CI."""
    if in_ci():
        raise ToolMissing(f"{reason} (CI=true: missing prerequisites fail, never skip)")
    import pytest  # imported lazily: the module is usable without pytest

    pytest.skip(reason)


def _venv_from_lock() -> Optional[Path]:
    """The venv the Makefile builds: $CACHE_DIR/venv-<sha256(lock)[:12]>."""
    if not REQUIREMENTS_LOCK.is_file():
        return None
    digest = hashlib.sha256(REQUIREMENTS_LOCK.read_bytes()).hexdigest()[:12]
    cache = Path(
        os.environ.get("CACHE_DIR")
        or Path.home() / ".cache" / "privatelink-autowire"
    )
    return cache / f"venv-{digest}"


def venv_dirs() -> list[Path]:
    """Candidate venv roots, most specific first."""
    out: list[Path] = []
    explicit = os.environ.get("AUTOWIRE_VENV")
    if explicit:
        out.append(Path(explicit))
    # The interpreter running the tests (the Makefile runs pytest from the venv).
    out.append(Path(sys.prefix))
    lock_venv = _venv_from_lock()
    if lock_venv is not None:
        out.append(lock_venv)
    seen: set[Path] = set()
    uniq = []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def venv_bin_dir() -> Optional[Path]:
    """The first candidate venv that has a bin/ dir with a python in it."""
    for root in venv_dirs():
        b = root / "bin"
        if (b / "python").exists():
            return b
    return None


def find_tool(name: str) -> Optional[str]:
    """Absolute path of a tool: venv bin dirs first, then PATH; None if absent."""
    for root in venv_dirs():
        cand = root / "bin" / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


def require_tool(name: str) -> str:
    """Like :func:`find_tool`, but skip (or, in CI, raise) when it is missing."""
    path = find_tool(name)
    if path is None:
        skip_or_fail(f"required tool {name!r} not found (run `make venv`)")
    return path  # type: ignore[return-value]


def env_with_venv_path(base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """A copy of ``base`` (default os.environ) with the venv's bin first on PATH."""
    env = dict(os.environ if base is None else base)
    b = venv_bin_dir()
    if b is not None:
        env["PATH"] = f"{b}{os.pathsep}{env.get('PATH', '')}"
    return env


# ---------------------------------------------------------------------- ports


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 30.0,
    proc: Optional[subprocess.Popen] = None,
) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises TimeoutError after ``timeout`` seconds, or RuntimeError at once if
    ``proc`` exits first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process {proc.pid} exited with {proc.returncode} before "
                f"{host}:{port} opened"
            )
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


# ------------------------------------------------------------------ processes


@dataclass
class LogLine:
    stream: str  # "stdout" | "stderr"
    line: str
    time: float  # time.time()
    monotonic: float

    @property
    def json(self):
        """The line parsed as JSON, or None when it is not a JSON document."""
        s = self.line.strip()
        if not s.startswith(("{", "[")):
            return None
        try:
            return json.loads(s)
        except ValueError:
            return None

    def as_dict(self) -> dict:
        return {
            "stream": self.stream,
            "line": self.line,
            "time": self.time,
            "json": self.json,
        }


@dataclass
class ManagedProcess:
    """A subprocess started by :func:`start_process`, with captured output."""

    popen: subprocess.Popen
    name: str
    started_monotonic: float
    lines: list[LogLine] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _readers: list[threading.Thread] = field(default_factory=list)
    echo: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, stream: Optional[str] = None) -> list[str]:
        with self._cond:
            return [l.line for l in self.lines if stream in (None, l.stream)]

    def text(self, stream: Optional[str] = None) -> str:
        return "\n".join(self.output(stream))

    def wait_for_line(
        self,
        pattern: Union[str, re.Pattern],
        timeout: float = 30.0,
        start: int = 0,
    ) -> LogLine:
        """Wait until a captured line (index >= start) matches ``pattern``."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i].line):
                        return self.lines[i]
                    i += 1
                if self.popen.poll() is not None and all(
                    not t.is_alive() for t in self._readers
                ):
                    raise RuntimeError(
                        f"{self.name} (pid {self.pid}) exited with "
                        f"{self.popen.returncode} before printing {rx.pattern!r}; "
                        f"output:\n{self.text()[-4000:]}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.name} did not print {rx.pattern!r} within {timeout}s; "
                        f"output:\n{self.text()[-4000:]}"
                    )
                self._cond.wait(min(left, 0.1))

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        return stop_process(self.popen, timeout=timeout)

    # internal
    def _reader(self, stream_name: str, fh) -> None:
        for raw in iter(fh.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            entry = LogLine(stream_name, text, time.time(), time.monotonic())
            with self._cond:
                self.lines.append(entry)
                self._cond.notify_all()
            if self.echo:
                print(f"[{self.name}:{stream_name}] {text}", file=sys.stderr)
        fh.close()
        with self._cond:
            self._cond.notify_all()


def start_process(
    cmd: Sequence[str],
    *,
    name: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Union[str, Path]] = None,
    ready_line: Optional[Union[str, re.Pattern]] = None,
    ready_port: Optional[int] = None,
    ready_host: str = LOOPBACK,
    timeout: float = 30.0,
    echo: bool = False,
) -> ManagedProcess:
    """Start ``cmd`` in its own process group, capturing stdout/stderr by line.

    If ``ready_line`` (regex) and/or ``ready_port`` are given, wait for them
    (up to ``timeout`` s); on failure the process is stopped and the error
    re-raised with its output.
    """
    popen = subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=str(cwd) if cwd is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group: stop it by PID/PGID only
    )
    mp = ManagedProcess(
        popen=popen,
        name=name or Path(cmd[0]).name,
        started_monotonic=time.monotonic(),
        echo=echo,
    )
    for stream_name, fh in (("stdout", popen.stdout), ("stderr", popen.stderr)):
        t = threading.Thread(
            target=mp._reader, args=(stream_name, fh), daemon=True,
            name=f"{mp.name}-{stream_name}",
        )
        t.start()
        mp._readers.append(t)
    try:
        deadline = time.monotonic() + timeout
        if ready_line is not None:
            mp.wait_for_line(ready_line, timeout=timeout)
        if ready_port is not None:
            wait_for_port(
                ready_host, ready_port,
                timeout=max(0.1, deadline - time.monotonic()), proc=popen,
            )
    except BaseException as exc:
        stop_process(popen)
        if isinstance(exc, (TimeoutError, RuntimeError)) and ready_line is None:
            raise type(exc)(f"{exc}; output:\n{mp.text()[-4000:]}") from None
        raise
    return mp


def stop_process(
    proc: Union[subprocess.Popen, int],
    timeout: float = 5.0,
    sig: int = signal.SIGTERM,
) -> Optional[int]:
    """Stop a process we started, by PID: ``sig`` to its group, then SIGKILL.

    ``proc`` may be a Popen or a bare PID (then only that PID is signalled,
    and no exit status can be returned).  Returns the exit code when known.
    """
    if isinstance(proc, int):
        try:
            os.kill(proc, sig)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(proc, 0)
            except ProcessLookupError:
                return None
            time.sleep(0.05)
        try:
            os.kill(proc, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return None

    if proc.poll() is not None:
        return proc.returncode
    # Signal the process group we created with start_new_session=True; fall
    # back to the PID alone if the group is gone.
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    try:
        if pgid is not None and pgid == proc.pid:
            os.killpg(pgid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            if pgid is not None and pgid == proc.pid:
                os.killpg(pgid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


# -------------------------------------------------------------- HTTP helpers


def read_request_body(handler) -> bytes:
    """Read the whole request body in a BaseHTTPRequestHandler.

    Handles Content-Length and chunked transfer coding (decoded: the caller
    gets the payload bytes, exactly as the client meant them).
    """
    te = (handler.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        out = bytearray()
        rf = handler.rfile
        while True:
            line = rf.readline(65537)
            if not line:
                break
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # trailers, up to the empty line
                while True:
                    t = rf.readline(65537)
                    if not t or t in (b"\r\n", b"\n"):
                        break
                break
            out += rf.read(size)
            rf.readline(3)  # CRLF after each chunk
        return bytes(out)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def http_json(
    method: str,
    url: str,
    body=None,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 10.0,
):
    """Tiny urllib JSON client for the control endpoints: returns (status, json|None)."""
    import urllib.error
    import urllib.request

    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, (json.loads(raw) if raw else None)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def moto_server_cmd(port: int, host: str = LOOPBACK) -> list[str]:
    """Command line of a plain moto server on host:port (venv's moto_server)."""
    return [require_tool("moto_server"), "-H", host, "-p", str(port)]


def start_moto_server(port: Optional[int] = None, timeout: float = 60.0) -> tuple[ManagedProcess, str]:
    """Start a plain moto server on loopback; returns (process, endpoint url)."""
    port = port or free_port()
    proc = start_process(
        moto_server_cmd(port),
        name="moto_server",
        ready_port=port,
        timeout=timeout,
    )
    return proc, f"http://{LOOPBACK}:{port}"


def fake_aws_env(
    endpoint_url: Optional[str] = None,
    region: str = "us-east-1",
    access_key_id: str = "testing",
    secret_access_key: str = "testing",
) -> dict[str, str]:
    """Env vars that point an AWS SDK at the local emulator with dummy creds.

    AWS_EC2_METADATA_DISABLED keeps SDKs from ever probing the instance
    metadata address (which is not loopback).
    """
    env = {
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


__all__ = [
    "LOOPBACK",
    "LogLine",
    "ManagedProcess",
    "ToolMissing",
    "env_with_venv_path",
    "fake_aws_env",
    "find_tool",
    "free_port",
    "http_json",
    "in_ci",
    "moto_server_cmd",
    "port_open",
    "read_request_body",
    "require_tool",
    "skip_or_fail",
    "start_moto_server",
    "start_process",
    "stop_process",
    "venv_bin_dir",
    "venv_dirs",
    "wait_for_port",
]


class LoopbackHttpServer:
    """A ThreadingHTTPServer serving on a background thread, on loopback (port 0 = a free one).

    Subclasses set ``handler`` and ``thread_name`` and hang their state on the server in
    ``_attach`` so the handler can reach it."""

    handler: type
    thread_name = "http-server"

    def __init__(self, host: str = LOOPBACK, port: int = 0, verbose: bool = False):
        self.host = host
        self.port = port
        self.verbose = verbose
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def _attach(self, httpd: ThreadingHTTPServer) -> None:
        pass

    def start(self):
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((self.host, self.port), self.handler)
        httpd.daemon_threads = True
        httpd.verbose = self.verbose  # type: ignore[attr-defined]
        self._attach(httpd)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name=self.thread_name, daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_until_interrupted(self, banner: str) -> int:
        """For command-line use: print ``banner`` once serving, stop on Ctrl-C."""
        self.start()
        print(banner, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return 0
