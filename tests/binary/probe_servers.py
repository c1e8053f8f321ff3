"""Loopback servers and a throw-away PKI for the probe's tests and benchmark.

Everything listens on 127.0.0.1 only; nothing here ever sends a packet anywhere else.

- :class:`TestPki`: a test CA (ECDSA P-256) and leaf certificates made with `cryptography`
  (right name, wrong name, expired, from another CA), written to a directory so the `ssl`
  module can load them.
- :class:`TcpServer`: accepts and holds each connection until the peer closes it (a plain TCP
  target; with TLS asked of it, a handshake that never gets an answer).
- :class:`TlsServer`: TLS (or, with no certificate, plain TCP) with a per-connection behaviour:
  ``hold`` (handshake, then wait for the peer to close), ``http`` (answer one HTTP/1.1 request
  with ``status``), ``http-silent`` (read the request, never answer), ``http-close`` (read the
  request, close without an answer), ``http-cut`` (answer with a Content-Length 100 bytes
  longer than the body it sends, then close), ``garbage`` (answer the ClientHello with plain
  text).
  It records the SNI names, handshake outcomes and HTTP requests it saw.
- :class:`BlackHole`: a port on which a TCP connect hangs: a listener with backlog 0 that never
  accepts, its accept queue filled by connections opened first, so further SYNs are dropped.
- :func:`closed_port`: a port nothing listens on (bound, then closed).
- :class:`BenchTlsServer`: a TLS server in worker processes sharing one listening socket,
  non-blocking, able to take ~1,000 concurrent TCP+TLS handshakes quickly (for the benchmark).
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import resource
import select
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

LOOPBACK = "127.0.0.1"

REASONS = {200: "OK", 204: "No Content", 404: "Not Found", 500: "Internal Server Error",
           503: "Service Unavailable"}


# ---------------------------------------------------------------------------------------- PKI


@dataclass
class Issued:
    """A leaf certificate on disk: PEM files and what it says."""

    cert_file: Path
    key_file: Path
    names: list[str]
    not_before: datetime.datetime
    not_after: datetime.datetime
    cert_pem: bytes = field(repr=False, default=b"")


class TestPki:
    """A test CA and the leaf certificates it (or a second, untrusted CA) issues.

    ``ca_pem`` is what a target's ``tls.ca_bundle_pem`` should hold; ``other_ca_pem`` is a CA
    that is *not* in that bundle."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "Autowire Probe Test CA"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self.ca_key, self.ca_cert = self._make_ca(name)
        self.other_ca_key, self.other_ca_cert = self._make_ca(name + " (untrusted)")
        self.ca_pem = self._pem(self.ca_cert).decode()
        self.other_ca_pem = self._pem(self.other_ca_cert).decode()

    @staticmethod
    def _now() -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    @staticmethod
    def _pem(cert) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)

    def _make_ca(self, common_name: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = self._now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    def leaf(self, names: list[str], *, valid_days: float = 30, expired: bool = False,
             untrusted: bool = False, label: Optional[str] = None) -> Issued:
        """A server certificate for ``names`` (DNS SANs, wildcards allowed), issued by the test
        CA (``untrusted``: by the CA that is not in the bundle). ``expired``: its validity ended
        a day ago. Otherwise it is valid from an hour ago for ``valid_days`` days."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key, ca_cert = ((self.other_ca_key, self.other_ca_cert) if untrusted
                           else (self.ca_key, self.ca_cert))
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._now()
        if expired:
            not_before, not_after = now - datetime.timedelta(days=40), now - datetime.timedelta(days=1)
        else:
            not_before = now - datetime.timedelta(hours=1)
            not_after = now + datetime.timedelta(days=valid_days)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self._n += 1
        stem = self.dir / f"{self._n:02d}-{label or names[0].replace('*', 'star')}"
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_pem = self._pem(cert)
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_file.chmod(0o600)
        return Issued(cert_file, key_file, list(names), not_before, not_after, cert_pem)


def server_context(issued: Issued) -> ssl.SSLContext:
    """A server SSLContext presenting ``issued`` (TLS 1.2+, no session tickets)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(issued.cert_file), str(issued.key_file))
    ctx.num_tickets = 0
    return ctx


# ----------------------------------------------------------------------------- small servers


def closed_port() -> int:
    """A loopback port nothing listens on (bound to find a free one, then closed: a connect
    gets RST at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class _Server:
    """A threaded loopback TCP server: an accept thread, one daemon thread per connection."""

    thread_name = "probe-test-server"

    def __init__(self, backlog: int = 128):
        self.backlog = backlog
        self.sock: Optional[socket.socket] = None
        self.port = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.accepted = 0
        self.events: list[dict] = []  # what happened, per connection (subclasses add)

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, 0))
        s.listen(self.backlog)
        self.sock, self.port = s, s.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.sock is not None:
            self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def record(self, **event) -> None:
        with self._lock:
            self.events.append(event)

    def _accept_loop(self) -> None:
        assert self.sock is not None
        while not self._stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.setblocking(True)
            conn.settimeout(10)
            with self._lock:
                self._conns.add(conn)
                self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), name=self.thread_name + "-conn",
                             daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _hold(self, conn: socket.socket) -> None:
        """Read and discard until the peer closes (or the server stops)."""
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                if not conn.recv(4096):
                    return
            except (socket.timeout, ssl.SSLWantReadError):
                continue


class TcpServer(_Server):
    """Accepts every connection and holds it, silent, until the peer closes it."""

    thread_name = "probe-tcp-server"

    def handle(self, conn: socket.socket) -> None:
        self.record(kind="tcp")
        self._hold(conn)


class TlsServer(_Server):
    """TLS server (plain TCP when ``issued`` is None) with one behaviour per connection, see the
    module doc. ``sni`` lists the server names clients sent; ``handshakes`` the outcome of each
    handshake ("ok" or the SSL error); ``requests`` the HTTP requests read (dicts with method,
    path, headers)."""

    thread_name = "probe-tls-server"
    MODES = ("hold", "http", "http-silent", "http-close", "http-cut", "garbage")

    def __init__(self, issued: Optional[Issued] = None, mode: str = "hold", status: int = 200,
                 body: bytes = b"ok\n"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode {mode!r} not in {self.MODES}")
        self.issued = issued
        self.mode = mode
        self.status = status
        self.body = body
        self.sni: list[Optional[str]] = []
        self.handshakes: list[str] = []
        self.requests: list[dict] = []
        self.ctx: Optional[ssl.SSLContext] = None
        if issued is not None:
            self.ctx = server_context(issued)
            self.ctx.sni_callback = self._on_sni

    def _on_sni(self, sslobj, name, ctx):
        with self._lock:
            self.sni.append(name)
        return None

    def handle(self, conn: socket.socket) -> None:
        if self.mode == "garbage":
            conn.recv(4096)  # the ClientHello
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.record(kind="garbage")
            return
        stream = conn
        if self.ctx is not None:
            tls = self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as e:
                with self._lock:
                    self.handshakes.append(f"{type(e).__name__}: {e}")
                return
            with self._lock:
                self.handshakes.append("ok")
            stream = tls
        if self.mode == "hold":
            self._hold(stream)
            return
        request = self._read_request(stream)
        if request is None:
            return
        with self._lock:
            self.requests.append(request)
        if self.mode == "http-close":
            return
        if self.mode == "http-silent":
            self._hold(stream)
            return
        if self.mode == "http-cut":
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body) + 100}\r\n\r\n"
            stream.sendall(head.encode() + self.body)
            return
        reason = REASONS.get(self.status, "Status")
        head = (f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n").encode()
        stream.sendall(head + self.body)
        self._hold(stream)

    @staticmethod
    def _read_request(stream) -> Optional[dict]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = stream.recv(4096)
            if not chunk:
                return None
            buf += chunk
            if len(buf) > 65536:
                return None
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        path, _, version = rest.rpartition(" ")
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return {"method": method, "path": path, "version": version, "headers": headers}


class BlackHole:
    """A loopback port where a TCP connect hangs (SYNs dropped), built on loopback only.

    A listener with backlog 0 that never accepts: Linux drops a SYN when the listener's accept
    queue is full, so after the queue is filled with connections opened here, a further
    connect gets no SYN-ACK and hangs until the client gives up. ``start`` checks it does."""

    def __init__(self):
        self.listener: Optional[socket.socket] = None
        self.fillers: list[socket.socket] = []
        self.port = 0

    def start(self) -> "BlackHole":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind((LOOPBACK, 0))
        ls.listen(0)
        self.listener, self.port = ls, ls.getsockname()[1]
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.3)
            try:
                s.connect((LOOPBACK, self.port))
            except (socket.timeout, OSError):
                s.close()  # this one was dropped: the queue is full
                break
            self.fillers.append(s)
        if not self.hangs():
            self.stop()
            raise RuntimeError("could not make a loopback connect hang (accept queue not full)")
        return self

    def hangs(self, wait_s: float = 0.3) -> bool:
        """True when a fresh connect to the port does not complete within ``wait_s``."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex((LOOPBACK, self.port))
            _, w, _ = select.select([], [s], [], wait_s)
            return not w
        finally:
            s.close()

    def stop(self) -> None:
        for s in self.fillers:
            s.close()
        self.fillers = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------- benchmark server


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _bench_worker(listener: socket.socket, cert_file: str, key_file: str, counts, index: int,
                  parent: int) -> None:
    """One worker: accepts from the shared listener, handshakes without blocking, holds each
    connection until the peer closes it. Counts completed handshakes in ``counts[index]``."""
    _raise_nofile()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    ctx.num_tickets = 0
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    done = 0

    def close(tls):
        try:
            sel.unregister(tls)
        except (KeyError, ValueError):
            pass
        try:
            tls.close()
        except OSError:
            pass

    while True:
        events = sel.select(timeout=1.0)
        if not events and os.getppid() != parent:
            return  # the benchmark went away
        for key, _ in events:
            if key.data is None:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    tls = ctx.wrap_socket(conn, server_side=True,
                                          do_handshake_on_connect=False)
                    sel.register(tls, selectors.EVENT_READ, ["handshake"])
                continue
            tls, state = key.fileobj, key.data
            if state[0] == "handshake":
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    sel.modify(tls, selectors.EVENT_READ, state)
                    continue
                except ssl.SSLWantWriteError:
                    sel.modify(tls, selectors.EVENT_WRITE, state)
                    continue
                except (ssl.SSLError, OSError):
                    close(tls)
                    continue
                done += 1
                counts[index] = done
                state[0] = "open"
                sel.modify(tls, selectors.EVENT_READ, state)
                continue
            try:
                while True:
                    if not tls.recv(16384):
                        close(tls)
                        break
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except (ssl.SSLError, OSError):
                close(tls)


class BenchTlsServer:
    """A TLS server on 127.0.0.1 for the benchmark: ``workers`` processes (forked) share one
    listening socket (backlog 4096), each a non-blocking selectors loop. Presents ``issued``.
    ``handshakes()`` is the number of handshakes completed so far (all workers)."""

    def __init__(self, issued: Issued, workers: Optional[int] = None, backlog: int = 4096):
        self.issued = issued
        self.workers = workers or max(2, os.cpu_count() or 2)
        self.backlog = backlog
        self.port = 0
        self._procs: list = []
        self._listener: Optional[socket.socket] = None
        self._counts = None

    def start(self) -> "BenchTlsServer":
        _raise_nofile()
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((LOOPBACK, 0))
        ls.listen(self.backlog)
        self._listener, self.port = ls, ls.getsockname()[1]
        mp = multiprocessing.get_context("fork")
        self._counts = mp.Array("q", self.workers, lock=False)
        for i in range(self.workers):
            p = mp.Process(target=_bench_worker, name=f"bench-tls-{i}", daemon=True,
                           args=(ls, str(self.issued.cert_file), str(self.issued.key_file),
                                 self._counts, i, os.getpid()))
            p.start()
            self._procs.append(p)
        # ready when a handshake goes through
        deadline = time.monotonic() + 10
        ctx = ssl.create_default_context(cadata=None)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        while True:
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=2) as raw:
                    with ctx.wrap_socket(raw, server_hostname="ready.invalid"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def handshakes(self) -> int:
        return sum(self._counts) if self._counts is not None else 0

    def stop(self) -> None:
        for p in self._procs:  # by PID: only the workers started here
            if p.is_alive():
                p.terminate()
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        self._procs = []
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
