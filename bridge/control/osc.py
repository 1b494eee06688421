"""OSC control: the protocol works on datagram bytes, the UDP server is a thin adapter around it.

Datagrams are decoded (bounded, by plugin/oscwire.py) and each message handed to the one command path
(commands.py), which validates it against the parameter registry and applies it. A message that cannot be
applied (malformed packet, unknown address, wrong type, out of range, NaN) is answered with ``/lvj/error s``
("ADDRESS: reason") to its sender and to subscribers, and logged; nothing a controller sends can stop
rendering or the handling of later messages.

Two-way: every accepted change, whoever made it (a controller, a preset recall, the engine), is echoed as
the same address with the new value to the subscribers and to the controller that asked. Echoes are
coalesced: after a burst of messages only the newest value of each address goes out.

Bundles are honoured: a bundle whose timetag lies in the future is held in a schedule and applied when
due, by the receive loop's own timer; the receive path never sleeps.
"""

from __future__ import annotations

import collections
import heapq
import ipaddress
import itertools
import logging
import math
import select
import socket
import threading
import time
from typing import Any, Callable, Iterable, Sequence

from latentvj.plugin.oscwire import Message, OscDecodeError, decode_packet, timed_messages

from .commands import (  # noqa: F401 - the replies' addresses and helpers, as the OSC layer's own
    ERROR_ADDRESS,
    MAX_SHOWN,
    MODEL_LIST_ADDRESS,
    STATUS_ADDRESS,
    STATUS_FIELDS,
    WARNING_ADDRESS,
    Command,
    Commands,
    Subscribers,
    build_message,
    clip,
    osc_args,
)
from .problems import ProblemLog, describe_source
from .state import Change, ControlState, Live

log = logging.getLogger("latentvj.osc")

# Bundles timetagged in the future wait in a schedule. It is bounded by messages and by memory, overall and
# per sender, so that one sender's flood of future bundles never refuses another sender's.
SCHEDULE_HORIZON_S = 60.0
"""Furthest ahead a bundle may be timetagged; later ones are refused (a clock set wrong, or an attack)."""
SCHEDULED_PER_SENDER = 1_000
SCHEDULED_BYTES_PER_SENDER = 2 << 20
"""Memory one sender's scheduled messages may hold (as estimated by :func:`_footprint`)."""
SCHEDULED_TOTAL = 10_000
SCHEDULED_BYTES_TOTAL = 32 << 20
Address = tuple[str, int]
Reply = tuple[bytes, Address]


class Schedule:
    """Messages of future-timetagged bundles, waiting for their time. Thread-safe and bounded: by count and
    estimated memory, overall and per sender, and by how far ahead a timetag may lie."""

    def __init__(self, *, horizon: float = SCHEDULE_HORIZON_S, per_sender: int = SCHEDULED_PER_SENDER,
                 bytes_per_sender: int = SCHEDULED_BYTES_PER_SENDER, total: int = SCHEDULED_TOTAL,
                 bytes_total: int = SCHEDULED_BYTES_TOTAL):
        self.horizon = horizon
        self.per_sender = per_sender
        self.bytes_per_sender = bytes_per_sender
        self.total = total
        self.bytes_total = bytes_total
        self._heap: list[tuple[float, int, Message, Address, int]] = []
        self._held: dict[Address, list[int]] = {}  # sender -> [messages, bytes]
        self._bytes = 0
        self._lock = threading.Lock()  # UDP and OSCQuery WebSocket threads both schedule
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def bytes(self) -> int:
        return self._bytes

    def add(self, when: float, now: float, message: Message, sender: Address) -> str | None:
        """Hold ``message`` until ``when``; None when it is scheduled, else why it is refused."""
        ahead = when - now
        if ahead > self.horizon:
            return (f"timetagged {ahead:,.0f} s in the future; bundles may be scheduled at most "
                    f"{self.horizon:g} s ahead (is the sender's clock right?)")
        size = _footprint(message)
        with self._lock:
            held = self._held.setdefault(sender, [0, 0])
            if held[0] >= self.per_sender or held[1] + size > self.bytes_per_sender:
                refused = (f"{describe_source(sender)} already has {held[0]:,} scheduled messages "
                           f"({held[1] // 1024:,} KiB); at most {self.per_sender:,} or "
                           f"{self.bytes_per_sender >> 20} MiB per sender")
            elif len(self._heap) >= self.total or self._bytes + size > self.bytes_total:
                refused = (f"the schedule is full ({len(self._heap):,} messages, {self._bytes >> 20} MiB from "
                           f"{len(self._held)} senders)")
            else:
                refused = None
                heapq.heappush(self._heap, (when, next(self._order), message, sender, size))
                held[0] += 1
                held[1] += size
                self._bytes += size
            if not held[0]:
                del self._held[sender]
        return refused

    def next_due(self) -> float | None:
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[Message, Address] | None:
        """The next message whose time has come (timetag order), or None."""
        with self._lock:
            if not (self._heap and self._heap[0][0] <= now):
                return None
            _, _, message, sender, size = heapq.heappop(self._heap)
            held = self._held[sender]
            held[0] -= 1
            held[1] -= size
            self._bytes -= size
            if not held[0]:
                del self._held[sender]
        return message, sender


def _footprint(message: Message) -> int:
    """Roughly the memory a decoded message holds: a Python object per argument."""
    return 200 + len(message.address) + _args_footprint(message.args)


def _args_footprint(args: list) -> int:
    size = 8 * len(args)
    for arg in args:
        if isinstance(arg, (str, bytes)):
            size += 50 + len(arg)
        elif isinstance(arg, list):
            size += 56 + _args_footprint(arg)
        else:
            size += 32
    return size


class OscProtocol:
    """Turns datagrams into state changes and the replies to send back. No sockets."""

    def __init__(
        self,
        state: ControlState,
        *,
        status: Callable[[], dict],
        models: Callable[[], list[str]] = lambda: [],
        subscribers: Subscribers | None = None,
        clock: Callable[[], float] = time.time,
        problems: ProblemLog | None = None,
        schedule: Schedule | None = None,
        commands: dict[str, Command] | None = None,
        live: Callable[[], Iterable[Live]] = tuple,
    ):
        """
        Args:
            state, status, models, subscribers, problems: for the command path (see :class:`Commands`).
            clock: Unix time (bundle timetags are wall-clock times).
            schedule: where future-timetagged messages wait.
            commands: commands besides the built-in ones, by parameter name (the server's model loads and
                encodes).
            live: the values that move too fast to echo (see :class:`Live`): they follow every status,
                asked for or periodic.
        """
        self.commands = Commands(state, status=status, models=models, subscribers=subscribers,
                                 problems=problems, table=commands, live=live)
        self.state = state
        self.subscribers = self.commands.subscribers
        self.problems = self.commands.problems
        self.clock = clock
        self.schedule = schedule if schedule is not None else Schedule()
        self.handle_message = self.commands.call
        self.status_message = self.commands.status_message
        self.dump = self.commands.dump
        self.error_replies = self.commands.error_replies
        self.status_messages = self.commands.status_messages

    @property
    def errors(self) -> int:
        """Messages answered with /lvj/error since start (answered or, under a flood, only counted)."""
        return self.commands.errors

    # ---- receiving ---------------------------------------------------------------------------------

    def handle(self, data: bytes, sender: Address) -> list[Reply]:
        """Apply one datagram now (or schedule its future-timetagged bundle contents); the replies.
        Bounded in time for any bytes: decoding is (see plugin/oscwire.py), and so is everything after."""
        now = self.clock()
        try:
            timed = timed_messages(decode_packet(data), now)
        except OscDecodeError as exc:
            return self.commands.refuse(sender, "(packet)", f"malformed OSC packet of {len(data)} bytes: {exc}")
        replies: list[Reply] = []
        for when, message in timed:
            if when > now + 0.001:
                replies += self._schedule(when, now, message, sender)
            else:
                replies += self.handle_message(message.address, message.args, sender)
        return replies

    def _schedule(self, when: float, now: float, message: Message, sender: Address) -> list[Reply]:
        if self.state.registry.find(message.address) is None:  # answered now, not in a minute
            return self.commands.unknown(sender, message.address)
        refused = self.schedule.add(when, now, message, sender)
        return [] if refused is None else self.commands.refuse(sender, message.address, refused)

    def next_due(self) -> float | None:
        """Clock time of the next scheduled message, if any."""
        return self.schedule.next_due()

    def run_due(self, budget: float | None = None) -> list[Reply]:
        """Apply the scheduled messages whose time has come, in timetag order; with a ``budget``, for about
        that many seconds at most (the rest stays due for the next call)."""
        replies: list[Reply] = []
        now = self.clock()
        start = time.perf_counter()
        while (budget is None or time.perf_counter() - start < budget) and \
                (due := self.schedule.pop_due(now)) is not None:
            message, sender = due
            replies += self.handle_message(message.address, message.args, sender)
        return replies

    def summaries(self) -> list[Reply]:
        """For every sender whose errors went partly unanswered in the last window: one /lvj/error saying how
        many (the summaries are logged too)."""
        replies = []
        for summary in self.problems.summaries():
            if summary.unanswered and isinstance(summary.source, tuple) and summary.source[1]:
                text = (f"(flood): {summary.unanswered:,} more errors in the last {summary.seconds:.0f} s were "
                        f"not answered; the latest: {clip(summary.latest, 2 * MAX_SHOWN)}")
                replies.append((build_message(ERROR_ADDRESS, text), summary.source))
        return replies


class AllowList:
    """Which senders may control LatentVJ: loopback always, plus the networks given (``--allow``)."""

    def __init__(self, networks: Sequence[str] = ()):
        self.any = "any" in networks
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks if n != "any"]

    def __call__(self, host: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return ip.is_loopback or any(ip in network for network in self.networks)


class Inbox:
    """Datagrams received but not yet handled, queued per sender and handled round-robin, so that a flood
    from one sender delays another's messages by one datagram per round at most, never by the flood.

    Bounded: per sender by count and bytes (past that, the sender's oldest datagram goes: latest wins), and
    overall by senders and bytes (past that, new datagrams are dropped). A sender whose queue backs up
    (``coalesce_above`` waiting) is flooding: from then until it has sent nothing for ``calm`` seconds, a
    message replaces any older one of that sender to the same address before either is parsed (latest wins),
    so a flood to a few addresses costs a few messages a round; bundles are always kept whole. No sockets.
    """

    def __init__(self, *, per_sender: int = 512, bytes_per_sender: int = 1 << 20, senders: int = 256,
                 bytes_total: int = 16 << 20, coalesce_above: int = 64, calm: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        self.per_sender = per_sender
        self.bytes_per_sender = bytes_per_sender
        self.senders = senders
        self.bytes_total = bytes_total
        self.coalesce_above = coalesce_above
        self.calm = calm
        self.clock = clock
        self.coalesced = 0
        """Datagrams replaced by a later one to the same address from the same sender (latest wins)."""
        self.overflowed = 0
        """Datagrams dropped because their sender's queue, or the inbox, was full."""
        self._queues: dict[Address, collections.OrderedDict] = {}
        self._flooding: dict[Address, float] = {}  # sender -> when its flood counts as over
        self._bytes: dict[Address, int] = {}
        self._turns: collections.deque[Address] = collections.deque()  # senders with datagrams, in turn
        self._total = 0
        self._order = itertools.count()

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def __bool__(self) -> bool:
        return bool(self._turns)

    def put(self, data: bytes, sender: Address) -> None:
        now = self.clock()
        flooding = self._flooding.get(sender, -math.inf) > now
        queue = self._queues.get(sender)
        if queue is None:
            if len(self._queues) >= self.senders or self._total + len(data) > self.bytes_total:
                self.overflowed += 1
                return
            queue = self._queues[sender] = collections.OrderedDict()
            self._bytes[sender] = 0
            self._turns.append(sender)
        if not flooding and len(queue) >= self.coalesce_above:
            if len(self._flooding) >= self.senders:
                self._flooding = {s: t for s, t in self._flooding.items() if t > now}
            flooding = True
            self._coalesce(sender, queue)
        if flooding:
            self._flooding[sender] = now + self.calm
        if flooding and not data.startswith(b"#bundle"):
            key: object = data.split(b"\0", 1)[0]
            older = queue.pop(key, None)
            if older is not None:
                self.coalesced += 1
                self._forget(sender, older)
        else:
            key = next(self._order)
        while queue and (len(queue) >= self.per_sender or self._bytes[sender] + len(data) > self.bytes_per_sender
                         or self._total + len(data) > self.bytes_total):
            _, oldest = queue.popitem(last=False)
            self.overflowed += 1
            self._forget(sender, oldest)
        if self._total + len(data) > self.bytes_total:
            self.overflowed += 1
            return
        queue[key] = data
        self._bytes[sender] += len(data)
        self._total += len(data)

    def _coalesce(self, sender: Address, queue: collections.OrderedDict) -> None:
        """Key a sender's waiting messages by address, keeping the newest of each (in its place)."""
        items = list(queue.items())
        queue.clear()
        for key, data in items:
            if not data.startswith(b"#bundle"):
                key = data.split(b"\0", 1)[0]
                older = queue.pop(key, None)
                if older is not None:
                    self.coalesced += 1
                    self._forget(sender, older)
            queue[key] = data

    def take(self) -> tuple[bytes, Address] | None:
        """The next datagram: the oldest of the sender whose turn it is."""
        while self._turns:
            sender = self._turns.popleft()
            queue = self._queues[sender]
            if not queue:
                self._drop(sender)
                continue
            _, data = queue.popitem(last=False)
            self._forget(sender, data)
            if queue:
                self._turns.append(sender)
            else:
                self._drop(sender)
            return data, sender
        return None

    def _drop(self, sender: Address) -> None:
        del self._queues[sender], self._bytes[sender]

    def _forget(self, sender: Address, data: bytes) -> None:
        self._bytes[sender] -= len(data)
        self._total -= len(data)


class OscServer:
    """UDP socket + receive thread around an :class:`OscProtocol`.

    Binds in the constructor, so a port in use is reported before the model is loaded. The thread drains
    the socket, applies due scheduled messages, sends coalesced echoes and periodic status, and sleeps
    in select() in between, woken early when the engine makes a change that must be echoed.
    """

    RECV_BUFFER = 1024 * 1024
    """Kernel receive buffer asked for: a burst of a few thousand messages queues, and a full buffer after a
    flood is read in a fraction of a second (a bigger one would hold seconds of stale messages)."""
    DRAIN = 4096  # most datagrams taken from the socket per round
    READ_SLICE = 0.002
    """Seconds of reading the socket into the inbox per round (reading is cheap: ~1 us a datagram)."""
    SLICE = 0.002
    """Seconds of handling per round. A round then pauses BATCH_PAUSE while messages keep coming, so under
    any flood the OSC thread holds the GIL for at most ~35% of the time and the render loop keeps its frame
    rate. What is not handled yet waits in the inbox, bounded per sender (see :class:`Inbox`)."""
    BATCH_PAUSE = 0.005  # seconds between rounds while messages keep coming (well under a frame)

    def __init__(self, protocol: OscProtocol, *, host: str = "127.0.0.1", port: int = 9000,
                 allow: AllowList | None = None):
        self.protocol = protocol
        self.allow = allow or AllowList()
        self.dropped = 0
        """Datagrams from senders outside the allow list, dropped unanswered."""
        self.received = 0

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A burst of controller messages must queue in the kernel, not be dropped there.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RECV_BUFFER)
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        granted = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if granted < self.RECV_BUFFER // 2:  # Linux reports twice what it grants; caps at net.core.rmem_max
            log.info("OSC receive buffer is %d KiB (asked for %d KiB; raise net.core.rmem_max to queue more "
                     "of a burst)", granted // 1024, self.RECV_BUFFER // 1024)
        self.sock.setblocking(False)
        self.address: Address = self.sock.getsockname()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stopping = threading.Event()
        self._pending_lock = threading.Lock()
        self._pending: dict[str, tuple[Change, set]] = {}
        self._next_status = 0.0
        self.inbox = Inbox()
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)
        protocol.state.listen(self._on_change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.sock.close()
        self._wake_r.close()
        self._wake_w.close()

    # ---- echo --------------------------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        """State listener (any thread): queue the echo; the OSC thread sends it."""
        param = self.protocol.state.registry[change.name]
        if param.access == "w":
            return  # triggers and commands have no value to echo
        with self._pending_lock:
            previous = self._pending.get(change.address)
            sources = previous[1] if previous else set()
            if change.source is not None:
                sources.add(change.source)
            self._pending[change.address] = (change, sources)
        if threading.current_thread() is not self._thread:
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (buffer full) or closing

    def _flush_echoes(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        subscribers = list(self.protocol.subscribers)
        for address, (change, sources) in pending.items():
            message = build_message(address, *osc_args(change.value))
            for target in set(subscribers) | sources:
                self.send(message, target)

    # ---- the loop ----------------------------------------------------------------------------------

    def _timeout(self) -> float:
        if self.inbox:
            return 0.0  # the pause between rounds is taken in _drain
        timeout = 0.25
        due = self.protocol.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, due - self.protocol.clock()))
        rate = self.protocol.state.get("status/rate") or 0.0
        if rate > 0:
            timeout = min(timeout, max(0.0, self._next_status - time.monotonic()))
        return timeout

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([self.sock, self._wake_r], [], [], self._timeout())
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            if self._wake_r in readable:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            if self.sock in readable or self.inbox:
                self._drain()
            self._run_guarded(lambda: self.protocol.run_due(self.SLICE))
            self._run_guarded(self.protocol.summaries)
            self._flush_echoes()
            self._periodic_status()

    @property
    def coalesced(self) -> int:
        """Messages superseded by a later one to the same address from the same sender (latest wins)."""
        return self.inbox.coalesced

    def _drain(self) -> None:
        """One round: read what waits in the socket into the inbox, handle some of it, pause."""
        self._receive()
        start = time.perf_counter()
        handled = False
        while time.perf_counter() - start < self.SLICE and (item := self.inbox.take()) is not None:
            data, sender = item
            self._run_guarded(lambda: self.protocol.handle(data, sender))
            handled = True
        if handled:
            # Let a burst gather in the kernel's buffer and take it in one round (a flood then costs a few
            # hundred wake-ups a second instead of one per message), and leave the GIL to the render thread.
            self._stopping.wait(self.BATCH_PAUSE)

    def _receive(self) -> None:
        """Datagrams waiting in the socket, from allowed senders, into the inbox (for READ_SLICE at most)."""
        start = time.perf_counter()
        for n in range(self.DRAIN):
            if n % 64 == 63 and time.perf_counter() - start > self.READ_SLICE:
                return
            try:
                data, sender = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. ICMP port unreachable from an earlier reply, on some OSes
                log.debug("OSC receive: %s", exc)
                continue
            if not self.allow(sender[0]):
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("dropped %d OSC packet(s) from outside the allow list (latest from %s)",
                                self.dropped, sender[0])
                continue
            self.received += 1
            self.inbox.put(data, sender)

    def _run_guarded(self, work: Callable[[], list[Reply]]) -> None:
        try:
            replies = work()
        except Exception as exc:  # a bug here must not end control; log it (not a flood of it), go on
            self.protocol.problems.report("internal", f"OSC handling failed: {type(exc).__name__}: {exc}",
                                          exc_info=exc)
            return
        for reply, destination in replies:
            self.send(reply, destination)

    def _periodic_status(self) -> None:
        rate = self.protocol.state.get("status/rate") or 0.0
        now = time.monotonic()
        if rate <= 0 or now < self._next_status:
            return
        self._next_status = now + 1.0 / rate
        messages = self.protocol.status_messages()
        for target in self.protocol.subscribers:
            for message in messages:
                self.send(message, target)

    def send(self, data: bytes, destination: Address) -> None:
        try:
            self.sock.sendto(data, destination)
        except OSError as exc:
            log.debug("could not send to %s:%d: %s", *destination, exc)
