"""The rules every HTTP listener of LatentVJ keeps (the preview, OSCQuery and its WebSocket).

- **Who may connect**: the OSC allow list (``--allow``): loopback always, other addresses only when listed.
  Anyone else's connection is closed unanswered and counted.
- **How many at once**: at most ``max_clients`` connections, each with its own thread; one more is answered
  ``503`` at once (from the accepting thread, without waiting on the client) and closed. So no number of
  stuck clients makes threads without limit.
- **How slow**: the request line and headers must arrive within ``header_timeout`` seconds (slowloris
  clients that trickle a byte at a time are cut off), and every read or write of a connection gives up after
  ``io_timeout`` seconds without progress.
- **Which names**: the ``Host`` header must name this machine by an IP address, ``localhost`` or its own
  host name. A web page whose domain has been made to resolve to 127.0.0.1 (DNS rebinding) sends its own
  domain there and is refused (``421``).
- **Quiet failures**: a client that goes away mid-answer (a closed tab, an aborted request) is logged as
  one debug line, never as a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

log = logging.getLogger("latentvj.http")

HEADER_TIMEOUT_S = 5.0
IO_TIMEOUT_S = 10.0


def host_allowed(header: str | None, names: set[str]) -> bool:
    """Whether a request's ``Host`` header names this machine: an IP literal, ``localhost``, or one of
    ``names`` (the host names it answers to). A missing header (HTTP/1.0 tools) is allowed; browsers always
    send one."""
    if header is None:
        return True
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:9002
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.rstrip(".")
    if host in ("localhost", *names):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def machine_names() -> set[str]:
    """This machine's own host names (``studio``, ``studio.local``), as a LAN browser may use them."""
    names = set()
    try:
        name = socket.gethostname().lower()
    except OSError:
        return names
    if name:
        short = name.partition(".")[0]
        names |= {name, short, f"{short}.local"}
    return names


class GuardedHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that keeps the rules in the module docstring. Handlers derive from
    :class:`GuardedHandler`."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 allow: Callable[[str], bool], max_clients: int, header_timeout: float = HEADER_TIMEOUT_S,
                 io_timeout: float = IO_TIMEOUT_S, what: str = "HTTP"):
        """
        Args:
            allow: which client addresses may connect (the OSC allow list).
            max_clients: connections served at once; more are answered 503.
            header_timeout: seconds a client has to send its request line and headers.
            io_timeout: seconds any one read or write may wait for the client.
            what: what this server is, for log lines ("preview", "OSCQuery").
        """
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.allow = allow
        self.max_clients = max_clients
        self.header_timeout = header_timeout
        self.io_timeout = io_timeout
        self.what = what
        self.names = machine_names()
        self.refused = 0
        """Connections from outside the allow list, closed unanswered."""
        self.turned_away = 0
        """Connections answered 503 because max_clients were being served."""
        self.timed_out = 0
        """Connections cut off because their headers did not arrive in time."""
        self._lock = threading.Lock()
        self._active = 0
        self._deadlines: dict[socket.socket, float] = {}
        super().__init__(address, handler)

    @property
    def active(self) -> int:
        """Connections being served now."""
        return self._active

    # ---- on the accepting thread: must never wait for a client ----
    def verify_request(self, request, client_address) -> bool:
        if not self.allow(client_address[0]):
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("%s: refused %d connection(s) from outside the allow list (latest from %s)",
                            self.what, self.refused, client_address[0])
            return False
        with self._lock:
            if self._active >= self.max_clients:
                full = True
            else:
                full = False
                self._active += 1
                self._deadlines[request] = time.monotonic() + self.header_timeout
        if full:
            self.turned_away += 1
            if self.turned_away == 1 or self.turned_away % 100 == 0:
                log.warning("%s: %d clients at once is the most served; turned %d away (latest %s)",
                            self.what, self.max_clients, self.turned_away, client_address[0])
            _refuse_busy(request, self.max_clients)
            return False
        return True

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._active -= 1
                self._deadlines.pop(request, None)

    def service_actions(self) -> None:
        """Between accepts (every poll interval): cut off clients whose headers are late."""
        now = time.monotonic()
        with self._lock:
            late = [sock for sock, deadline in self._deadlines.items() if deadline < now]
            for sock in late:
                del self._deadlines[sock]
        for sock in late:
            self.timed_out += 1
            log.debug("%s: a client sent no whole request in %g s; closing it", self.what, self.header_timeout)
            try:
                sock.shutdown(socket.SHUT_RDWR)  # its handler's read returns at once
            except OSError:
                pass

    def headers_arrived(self, request) -> None:
        with self._lock:
            self._deadlines.pop(request, None)

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, TimeoutError)):  # the client went away, reset, or stalled
            log.debug("%s: client %s: %s", self.what, client_address[0], exc)
            return
        log.exception("%s: answering %s failed", self.what, client_address[0])


def _refuse_busy(request: socket.socket, limit: int) -> None:
    body = f"LatentVJ serves at most {limit} clients at once; try again later\n".encode()
    answer = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 2\r\n"
              b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    try:
        request.setblocking(False)
        request.send(answer)  # small: fits the socket buffer; never waits
    except OSError:
        pass
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    request.close()


class GuardedHandler(BaseHTTPRequestHandler):
    """Checks the Host header and ends the header deadline; the subclass's ``do_GET`` runs only after."""

    server: GuardedHTTPServer

    def setup(self) -> None:
        self.timeout = self.server.io_timeout
        super().setup()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.server.headers_arrived(self.connection)
        if not host_allowed(self.headers.get("Host"), self.server.names):
            body = (f"this server answers to its IP address, localhost or {', '.join(sorted(self.server.names))}"
                    "; a page from another name is not let in (DNS rebinding)\n").encode()
            self.send_response(421, "Misdirected Request")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return False
        return True

    def log_message(self, format: str, *args) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
