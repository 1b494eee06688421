"""LatentVJ control from a TouchDesigner Base COMP: parameters built from OSCQuery, sent as OSC, echoes followed.

Use as the extension of a Base COMP (Extensions page: Object ``op('./latentvj_ext').module.LatentVJExt(me)``,
Name ``LatentVJExt``), with a Parameter Execute DAT (``parexec_callbacks.py``) and an Execute DAT
(``execute_callbacks.py``) inside the COMP; see docs/touchdesigner.md.

- On its own page "Connection" the COMP gets Host, OSCQuery port, OSC port, Reply port, Server command, and
  the pulses Connect, Start server, Stop server, plus a read-only Status line.
- ``Connect()`` fetches the OSCQuery tree (``http://HOST:9002/``) and builds page "LatentVJ": one parameter
  per OSC address, with the server's ranges, menus and current values. Moving one sends it over OSC (UDP).
- It subscribes (``/lvj/subscribe PORT``) on a non-blocking UDP socket; ``Update()``, called every frame,
  reads the echoes (changes made by anyone: another controller, a preset recall) and sets the parameters
  without sending them back, and asks for ``/lvj/status`` once a second for the status line (ten times a
  second while the tree has meters: audio features, what routes draw). A route made or removed later
  refetches the tree, so its meter comes and goes without another Connect. Page "Learn" has a pulse per
  parameter a MIDI control can play, which sends ``/lvj/midi/learn ADDRESS``.
- ``StartServer()`` / ``StopServer()`` run ``latentvj serve`` as a child process (terminate, then kill
  after a timeout).

Runs inside TouchDesigner's Python: standard library only, plus ``oscwire.py`` from LatentVJ's ``plugin/``
folder, found as ``latentvj.plugin.oscwire`` or as a plain ``oscwire`` module (a folder on the Python
path, or a Text DAT named ``oscwire`` next to this one).

TouchDesigner API used (the whole surface; the tests use stand-ins with exactly this):

- ``ownerComp.par.<Name>`` -> Par (read with ``getattr(..., None)``); ``ownerComp.customPages`` -> [Page];
  ``ownerComp.appendCustomPage(name)`` -> Page; ``ownerComp.storage`` (a dict saved with the project)
- ``page.name``, ``page.pars``, ``page.appendFloat/appendToggle/appendStr/appendMenu/appendPulse(name, label=)``
  and ``page.appendInt(name, label=, size=2)`` -> a list-like of Par (``Name``; ``Name1``, ``Name2`` for size 2)
- ``par.name``, ``par.style``, ``par.eval()``, and set: ``par.val``, ``par.label``, ``par.default``, ``par.min``,
  ``par.max``, ``par.normMin``, ``par.normMax``, ``par.clampMin``, ``par.clampMax``, ``par.menuNames``,
  ``par.menuLabels``, ``par.readOnly``, ``par.help`` (skipped where a build lacks it); ``par.destroy()``
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, NamedTuple

try:
    from latentvj.plugin import oscwire
except ImportError:  # inside TouchDesigner: oscwire.py on the module path, or a Text DAT named oscwire
    import oscwire

PREFIX = "/lvj"
PAGE = "LatentVJ"
SETUP_PAGE = "Connection"
LEARN_PAGE = "Learn"
LEARN = "Learn"
"""A pulse per parameter that a MIDI control can play (a float, a toggle, a trigger): /lvj/midi/learn."""
HTTP_TIMEOUT = 2.0
"""Seconds Connect() waits for the OSCQuery server (it runs on TouchDesigner's main thread)."""
STATUS_INTERVAL = 1.0
"""Seconds between /lvj/status requests while connected."""
METER_INTERVAL = 0.1
"""... and while the tree has meters: the values that move too fast to echo (an audio feature, what a route
draws) come with each status reply to a subscriber (as this COMP is), and update their read-only parameters."""
METERS = ("/lvj/audio/feature/", "/lvj/mod/value/")
REFRESH_INTERVAL = 1.0
"""Seconds between refetches of the tree when the meters changed after Connect (a value arrives for a meter
with no parameter yet: a route made since), so that a meter the tree lacks does not refetch every frame."""
REFRESH_SETTLE = 0.25
"""Seconds after the route list's echo changed before the tree is refetched: a meter is in the tree once a
frame has drawn the new routes (a removed route's meter leaves then)."""
SILENT_AFTER = 3.0
"""Seconds without any reply before the status line says the server is gone."""
ECHO_HOLDOFF = 0.25
"""Seconds after sending an address during which its echoes are ignored: while a slider is being dragged
the server's echoes of the earlier positions arrive late and would make it jitter."""
STOP_TIMEOUT = 5.0
"""Seconds StopServer() waits after asking the server to stop before killing it."""
MAX_DATAGRAMS = 512
"""Replies read per Update(); the rest wait for the next frame."""
STORAGE_KEY = "latentvj_bindings"
"""Key of the name <-> address map in ownerComp.storage."""
SKIPPED = (f"{PREFIX}/subscribe", f"{PREFIX}/unsubscribe", f"{PREFIX}/z", f"{PREFIX}/deck/a/z", f"{PREFIX}/deck/b/z")
"""Addresses (and everything below them) that get no parameter: the subscription is this extension's own
business, and the latent point (/lvj/z, /lvj/z/N and each deck's: one float per latent dimension, often
128 or 512) is better driven from a CHOP through an OSC Out CHOP."""

# name, label, kind, default
SETUP_PARS = (
    ("Host", "Host", "str", "127.0.0.1"),
    ("Queryport", "OSCQuery Port", "int", 9002),
    ("Oscport", "OSC Port", "int", 9000),
    ("Replyport", "Reply Port (0: any)", "int", 0),
    ("Servercommand", "Server Command", "str", "latentvj serve"),
    ("Connect", "Connect", "pulse", None),
    ("Startserver", "Start Server", "pulse", None),
    ("Stopserver", "Stop Server", "pulse", None),
    ("Serverstatus", "Status", "str", "not connected"),
)


class Binding(NamedTuple):
    """One OSC address and the parameters that stand for it."""

    address: str
    tags: str  # OSC type tags of its arguments ("f", "ii", "" for a pulse)
    kind: str  # float, int, toggle, menu, str, pulse
    pars: tuple  # parameter names, one per argument (one for a pulse)
    writeonly: bool  # a command with a value (preset/store): sent by its Send pulse, not on every change
    send_par: str | None  # that Send pulse's name


def par_name(address: str) -> str:
    """The TouchDesigner parameter name for an address: ``/lvj/walk/speed`` -> ``Walkspeed``.

    TouchDesigner wants custom parameter names to start with a capital letter and go on in lower-case
    letters and digits."""
    path = address[len(PREFIX) + 1:] if address.startswith(PREFIX + "/") else address.lstrip("/")
    name = "".join(ch for ch in path.lower() if ch.isascii() and ch.isalnum())
    if not name or not name[0].isalpha():
        name = "P" + name
    return name[0].upper() + name[1:]


def par_label(address: str) -> str:
    """A short label from the address: ``/lvj/walk/speed`` -> ``Walk Speed`` (the description goes to help)."""
    path = address[len(PREFIX) + 1:] if address.startswith(PREFIX + "/") else address.lstrip("/")
    return " ".join(word[:1].upper() + word[1:] for word in path.replace("_", " ").split("/") if word)


def fetch_json(url: str, *, timeout: float = HTTP_TIMEOUT) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.loads(reply.read().decode("utf-8"))


def leaves(tree: dict):
    """Every node of an OSCQuery tree that carries a TYPE, depth first, in the server's order."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if "TYPE" in node:
            yield node
        children = list(node.get("CONTENTS", {}).values())
        stack.extend(reversed(children))


def _names(name: str, size: int) -> list[str]:
    """The names TouchDesigner gives the parameters of ``appendX(name, size=size)``."""
    return [name] if size == 1 else [f"{name}{i}" for i in range(1, size + 1)]


def _skipped(address: str) -> bool:
    return any(address == s or address.startswith(s + "/") for s in SKIPPED)


class LatentVJExt:
    """The extension object of the LatentVJ Base COMP."""

    def __init__(self, ownerComp, *, clock=time.monotonic):
        """
        Args:
            ownerComp: the COMP this extension belongs to (TouchDesigner passes ``me``).
            clock: monotonic seconds; the tests pass their own.
        """
        self.ownerComp = ownerComp
        self.clock = clock
        self.bindings: dict[str, Binding] = {}
        """Address -> Binding, for every parameter built by Connect()."""
        self.addresses: dict[str, str] = {}
        """Parameter name -> address (Send pulses included)."""
        self.skipped: list[str] = []
        """Addresses Connect() made no parameter for, and why."""
        self.sock: socket.socket | None = None
        self.osc_target: tuple[str, int] | None = None
        self.process: subprocess.Popen | None = None
        self.log_path = os.path.join(tempfile.gettempdir(), "latentvj-serve.log")
        self.status: dict[str, Any] = {}
        """The last /lvj/status reply, by field."""
        self.last_error = ""
        self.sent = 0
        self.received = 0
        self._suppress: dict[str, Any] = {}  # par name -> value we set it to ourselves (not to be sent)
        self._sent_at: dict[str, float] = {}  # address -> when we last sent it
        self._next_status = 0.0
        self._last_reply = 0.0
        self._silent = False
        self._kill_at: float | None = None
        self._connect_when_up = False
        self._next_connect = 0.0
        self._next_refresh = 0.0  # the earliest tree refetch (meters changed)
        self._refresh_at: float | None = None  # a refetch due (the route list changed)
        self._ensure_setup_page()
        self._restore()

    # ---- the setup page ----------------------------------------------------------------------------

    def _ensure_setup_page(self) -> None:
        if getattr(self.ownerComp.par, "Serverstatus", None) is not None:
            return
        page = self._page(SETUP_PAGE) or self.ownerComp.appendCustomPage(SETUP_PAGE)
        for name, label, kind, default in SETUP_PARS:
            if getattr(self.ownerComp.par, name, None) is not None:
                continue
            if kind == "pulse":
                page.appendPulse(name, label=label)
                continue
            par = (page.appendInt if kind == "int" else page.appendStr)(name, label=label)[0]
            par.default = default
            par.val = default
            if name == "Serverstatus":
                par.readOnly = True

    def _page(self, name: str):
        for page in self.ownerComp.customPages:
            if page.name == name:
                return page
        return None

    def _setting(self, name: str, default):
        par = getattr(self.ownerComp.par, name, None)
        if par is None:
            return default
        value = par.eval()
        if isinstance(default, int):
            try:
                return int(value)
            except (TypeError, ValueError):
                return default
        return str(value).strip() or default

    def _set_status(self, text: str) -> None:
        par = getattr(self.ownerComp.par, "Serverstatus", None)
        if par is not None and par.eval() != text:
            par.val = text

    # ---- connecting ----------------------------------------------------------------------------------

    def Connect(self) -> bool:
        """Fetch the OSCQuery tree, (re)build page "LatentVJ", subscribe to echoes. False (and a status
        line saying why) when no server answers."""
        host = self._setting("Host", "127.0.0.1")
        base = self._tree_url()
        try:
            tree = fetch_json(base + "/", timeout=HTTP_TIMEOUT)
        except (OSError, ValueError) as exc:  # refused, timed out, not JSON
            reason = getattr(exc, "reason", None) or exc
            self._set_status(f"no OSCQuery server at {base}/ ({reason}): is latentvj serve running?")
            return False
        osc_port = self._setting("Oscport", 9000)
        try:
            info = fetch_json(base + "/?HOST_INFO", timeout=HTTP_TIMEOUT)
            osc_port = int(info.get("OSC_PORT", osc_port))
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # HOST_INFO is optional in the proposal: keep the OSC Port parameter
        oscport_par = getattr(self.ownerComp.par, "Oscport", None)
        if oscport_par is not None and oscport_par.eval() != osc_port:
            oscport_par.val = osc_port
        self.osc_target = (host, osc_port)
        self.build(tree)
        self._open_socket(host)
        self._subscribe()
        self._connect_when_up = False
        self._set_status(f"connected to {host}:{osc_port}, waiting for status")
        return True

    def _tree_url(self) -> str:
        return f"http://{self._setting('Host', '127.0.0.1')}:{self._setting('Queryport', 9002)}"

    def _refresh(self) -> None:
        """Rebuild page "LatentVJ" from a fresh tree, for meters made or gone since Connect (at most once per
        REFRESH_INTERVAL; a server that does not answer leaves the page as it is)."""
        now = self.clock()
        self._refresh_at = None
        if now < self._next_refresh:
            self._refresh_at = self._next_refresh
            return
        self._next_refresh = now + REFRESH_INTERVAL
        try:
            tree = fetch_json(self._tree_url() + "/", timeout=HTTP_TIMEOUT)
        except (OSError, ValueError):
            return
        self.build(tree)

    def Disconnect(self) -> None:
        """Unsubscribe and close the reply socket (the parameters stay)."""
        if self.sock is not None:
            if self.osc_target is not None:
                self._send(f"{PREFIX}/unsubscribe", self.sock.getsockname()[1])
            self.sock.close()
            self.sock = None
        self._set_status("not connected")

    def _open_socket(self, host: str) -> None:
        if self.sock is not None:
            self.sock.close()
        loopback = host in ("127.0.0.1", "localhost", "::1")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1" if loopback else "0.0.0.0", self._setting("Replyport", 0)))
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        self.sock.setblocking(False)

    def _subscribe(self) -> None:
        self._send(f"{PREFIX}/subscribe", self.sock.getsockname()[1])
        self._send(f"{PREFIX}/status")
        now = self.clock()
        self._next_status = now + self._status_interval()
        self._last_reply = now
        self._silent = False

    def _status_interval(self) -> float:
        return METER_INTERVAL if any(a.startswith(METERS) for a in self.bindings) else STATUS_INTERVAL

    # ---- building parameters from the tree -----------------------------------------------------------

    def build(self, tree: dict) -> None:
        """Build page "LatentVJ" from an OSCQuery tree (the JSON of ``GET /``).

        Parameters that already exist with the right type are kept and updated in place, so that
        expressions, exports and bindings set on them survive a reconnect; those the server no longer
        has are removed."""
        page = self._page(PAGE) or self.ownerComp.appendCustomPage(PAGE)
        existing = {par.name: par for par in page.pars}
        self.bindings.clear()
        self.addresses.clear()
        self.skipped = []
        self._suppress.clear()
        used = {name for name, *_ in SETUP_PARS}
        for node in leaves(tree):
            address = node.get("FULL_PATH", "")
            if _skipped(address):
                continue
            binding = self._make(page, node, used, existing)
            if binding is None:
                continue
            self.bindings[address] = binding
            for name in binding.pars:
                self.addresses[name] = address
            if binding.send_par:
                self.addresses[binding.send_par] = address
        for name, par in existing.items():
            if name not in self.addresses:
                par.destroy()
        self._build_learn()
        self._remember()

    def _build_learn(self) -> None:
        """Page "Learn": ``Learn<Name>`` for each parameter a MIDI control can play. Pressing it sends
        ``/lvj/midi/learn ADDRESS``; the next CC or note on the server's --midi controller is mapped to it."""
        page = self._page(LEARN_PAGE) or self.ownerComp.appendCustomPage(LEARN_PAGE)
        existing = {par.name: par for par in page.pars}
        wanted = self._learnable()
        for name, address in wanted.items():
            self._append(page, existing, "Pulse", name, f"Learn {par_label(address)}")
        for name, par in existing.items():
            if name not in wanted:
                par.destroy()

    def _learnable(self) -> dict[str, str]:
        """Learn pulse name -> address, for the parameters a MIDI control can play."""
        learnable = {}
        for address, binding in self.bindings.items():
            if binding.kind not in ("float", "toggle", "pulse") or binding.writeonly:
                continue
            par = getattr(self.ownerComp.par, binding.pars[0], None)
            if par is None or par.readOnly:
                continue  # set by LatentVJ (a meter, the model's name)
            learnable[LEARN + binding.pars[0].lower()] = address  # TouchDesigner: one capital, then lower case
        return learnable

    def _remember(self) -> None:
        """Keep the name <-> address map in the COMP's storage (saved with the project, plain data), so
        that a re-created extension (after an edit, or on opening the project) knows its parameters."""
        self.ownerComp.storage[STORAGE_KEY] = {a: list(b) for a, b in self.bindings.items()}

    def _restore(self) -> None:
        stored = self.ownerComp.storage.get(STORAGE_KEY)
        if not isinstance(stored, dict):
            return
        for address, fields in stored.items():
            try:
                binding = Binding(*fields)
            except TypeError:
                return  # written by another version of this file: Connect builds it again
            if not all(getattr(self.ownerComp.par, name, None) is not None for name in binding.pars):
                continue
            self.bindings[address] = binding._replace(pars=tuple(binding.pars))
            for name in binding.pars:
                self.addresses[name] = address
            if binding.send_par:
                self.addresses[binding.send_par] = address

    def _append(self, page, existing: dict, style: str, name: str, label: str, size: int = 1) -> list:
        """The parameters ``name`` (``name1``, ``name2`` for size 2): reused when they exist with this
        style, else (re)created."""
        names = _names(name, size)
        found = [existing.get(n) for n in names]
        if all(par is not None and par.style == style for par in found):
            for par in found:
                par.label = label
            return found
        for par in found:
            if par is not None:
                par.destroy()
                existing.pop(par.name, None)
        append = getattr(page, f"append{style}")
        return list(append(name, label=label, size=size) if size > 1 else append(name, label=label))

    def _make(self, page, node: dict, used: set, existing: dict) -> Binding | None:
        address, tags, access = node["FULL_PATH"], node.get("TYPE", ""), node.get("ACCESS", 3)
        ranges = node.get("RANGE") or []
        first = ranges[0] if ranges and isinstance(ranges[0], dict) else {}
        value = node.get("VALUE")
        size = len(tags) if tags in ("ii", "ff") else 1
        name = par_name(address)
        while any(n in used for n in _names(name, size)) or name + "send" in used:
            name += "x"  # two addresses that differ only in case or punctuation
        label = par_label(address)
        writeonly = access == 2 and tags not in ("", "I", "N")
        if tags in ("I", "N", ""):
            kind, style = "pulse", "Pulse"
        elif tags in ("f", "ff"):
            kind, style = "float", "Float"
        elif tags in ("i", "ii"):
            kind, style = "int", "Int"
        elif tags in ("T", "F"):
            kind, style = "toggle", "Toggle"
        elif tags == "s" and first.get("VALS"):
            kind, style = "menu", "Menu"
        elif tags == "s":
            kind, style = "str", "Str"
        else:
            self.skipped.append(f"{address}: arguments {tags!r} have no parameter type here")
            return None
        pars = self._append(page, existing, style, name, label, size)
        for i, par in enumerate(pars):
            self._describe(par, node, kind, ranges[i] if i < len(ranges) and isinstance(ranges[i], dict) else {})
            par.readOnly = access == 1
            if isinstance(value, list) and i < len(value) and kind != "pulse":
                par.default = self._convert(kind, value[i])
                self._set_quietly(par, self._convert(kind, value[i]), kind)
        names = tuple(par.name for par in pars)
        used.update(names)
        send_par = None
        if writeonly:
            send_par = name + "send"
            self._append(page, existing, "Pulse", send_par, f"Send {label}")
            used.add(send_par)
        return Binding(address, "" if kind == "pulse" else tags, kind, names, writeonly, send_par)

    @staticmethod
    def _describe(par, node: dict, kind: str, rng: dict) -> None:
        description = node.get("DESCRIPTION")
        if description:
            try:
                par.help = description
            except AttributeError:
                pass  # a TouchDesigner build without Par.help
        if kind in ("float", "int") and "MIN" in rng and "MAX" in rng:
            convert = float if kind == "float" else int
            par.min = par.normMin = convert(rng["MIN"])
            par.max = par.normMax = convert(rng["MAX"])
            par.clampMin = par.clampMax = True
        if kind == "menu":
            names = [str(v) for v in rng.get("VALS", [])]
            par.menuNames = names
            par.menuLabels = names

    @staticmethod
    def _convert(kind: str, value):
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
        if kind == "toggle":
            return bool(value)
        return "" if value is None else str(value)

    def _value_of(self, binding: Binding, name: str):
        return self._convert(binding.kind, getattr(self.ownerComp.par, name).eval())

    def _set_quietly(self, par, value, kind: str) -> None:
        """Set a parameter without the change being sent back to the server."""
        if self._convert(kind, par.eval()) == value:
            return
        self._suppress[par.name] = value
        par.val = value

    # ---- parameter callbacks (from the Parameter Execute DAT) ----------------------------------------

    def OnParValueChange(self, par) -> None:
        """A parameter of the COMP changed (by the user, an export, or this extension)."""
        name = par.name
        address = self.addresses.get(name)
        if address is None:
            return  # a setup parameter or something else on the COMP
        binding = self.bindings[address]
        if name in self._suppress:
            expected = self._suppress.pop(name)
            if self._value_of(binding, name) == expected:
                return  # this extension set it from an echo or from the tree
        if binding.kind == "pulse" or binding.writeonly or name == binding.send_par:
            return
        self.send_binding(binding)

    def OnParPulse(self, par) -> None:
        """A pulse parameter of the COMP was pressed."""
        name = par.name
        if name == "Connect":
            self.Connect()
        elif name == "Startserver":
            self.StartServer()
        elif name == "Stopserver":
            self.StopServer()
        elif name in self.addresses:
            self.send_binding(self.bindings[self.addresses[name]])
        elif name.startswith(LEARN) and (address := self._learnable().get(name)):
            self._send(f"{PREFIX}/midi/learn", address[len(PREFIX) + 1:])

    def send_binding(self, binding: Binding) -> None:
        """Send the binding's address with its parameters' current values."""
        if binding.kind == "pulse":
            self._send(binding.address)
            return
        values = [self._value_of(binding, name) for name in binding.pars]
        if binding.kind == "float":
            args = [oscwire.Arg("f", v) for v in values]
        elif binding.kind == "int":
            args = [oscwire.Arg("i", v) for v in values]
        elif binding.kind == "toggle":
            args = [bool(v) for v in values]
        else:
            args = [str(v) for v in values]
        self._send(binding.address, *args)

    def _send(self, address: str, *args) -> None:
        if self.sock is None or self.osc_target is None:
            self._set_status("not connected: press Connect")
            return
        try:
            self.sock.sendto(oscwire.encode_message(address, *args), self.osc_target)
        except OSError as exc:
            self._set_status(f"could not send {address} to {self.osc_target[0]}:{self.osc_target[1]}: {exc}")
            return
        self.sent += 1
        self._sent_at[address] = self.clock()

    # ---- every frame (from the Execute DAT) ----------------------------------------------------------

    def Update(self) -> None:
        """Read replies and echoes, ask for status, watch the server process. Never blocks."""
        self._watch_process()
        if self.sock is None:
            return
        for _ in range(MAX_DATAGRAMS):
            try:
                data, _sender = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:
                continue  # Windows reports an earlier datagram's "port unreachable" here
            except OSError as exc:
                self._set_status(f"reply socket failed: {exc}")
                break
            self.received += 1
            self.handle_datagram(data)
        now = self.clock()
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh()
        if now >= self._next_status:
            self._next_status = now + self._status_interval()
            self._send(f"{PREFIX}/status")
        if not self._silent and now - self._last_reply > SILENT_AFTER:
            self._silent = True
            self._set_status(f"no reply from {self.osc_target[0]}:{self.osc_target[1]} for "
                             f"{SILENT_AFTER:.0f} s: is the server running?")

    def handle_datagram(self, data: bytes) -> None:
        """Apply one datagram from the server: echoes, status, errors."""
        try:
            messages = oscwire.decode(data)
        except oscwire.OscDecodeError as exc:
            print(f"LatentVJ: ignored a malformed reply of {len(data)} bytes: {exc}")
            return
        self._last_reply = self.clock()
        if self._silent:  # the server is back (perhaps a new one): subscribe again
            self._silent = False
            self._subscribe()
        for message in messages:
            self.handle_message(message.address, message.args)

    def handle_message(self, address: str, args: list) -> None:
        if address == f"{PREFIX}/status":
            self._on_status(args)
            return
        if address == f"{PREFIX}/error":
            self.last_error = str(args[0]) if args else ""
            self._set_status(f"error: {self.last_error}")
            return
        binding = self.bindings.get(address)
        if binding is None and address.startswith(METERS):
            self._refresh()  # a meter made since Connect: a route to a new target
            binding = self.bindings.get(address)
        if binding is None or binding.kind == "pulse" or len(args) < len(binding.pars):
            return
        if address == f"{PREFIX}/mod/routes" and args[:1] != [self._value_of(binding, binding.pars[0])]:
            self._refresh_at = self.clock() + REFRESH_SETTLE  # routes made or removed: their meters too
        if self.clock() - self._sent_at.get(address, -1e9) < ECHO_HOLDOFF:
            return  # most likely our own earlier value coming back while the user still moves it
        for name, value in zip(binding.pars, args):
            try:
                par = getattr(self.ownerComp.par, name)
                self._set_quietly(par, self._convert(binding.kind, value), binding.kind)
            except (TypeError, ValueError) as exc:  # an echo that does not fit the parameter
                print(f"LatentVJ: echo {address} {args!r} does not fit parameter {name}: {exc}")

    def _on_status(self, args: list) -> None:
        fields = ("model", "device", "width", "height", "target_fps", "fps", "frame", "mode", "seed",
                  "preset", "latent_dim", "oscquery_port", "kind", "bpm", "tempo_source", "recording",
                  "recorded_s")  # the server's STATUS_FIELDS; an older server sends fewer
        self.status = dict(zip(fields, args))
        s = self.status
        try:
            line = (f"{s.get('model') or '(no model)'} on {s.get('device', '?')}, {s.get('width')}x{s.get('height')}, "
                    f"{float(s.get('fps', 0)):.1f}/{float(s.get('target_fps', 0)):.0f} fps")
            if s.get("recording"):
                seconds = int(float(s.get("recorded_s", 0)))
                line += f", REC {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        except (TypeError, ValueError):
            line = f"status {args!r}"
        self._set_status(line)

    # ---- the server process --------------------------------------------------------------------------

    def StartServer(self) -> bool:
        """Start ``Server Command`` (default ``latentvj serve``) as a child process; Connect once it answers.

        Its output goes to ``self.log_path`` (latentvj-serve.log in the temp folder)."""
        if self.process is not None and self.process.poll() is None:
            self._set_status(f"server already running (pid {self.process.pid})")
            return False
        command = self._setting("Servercommand", "latentvj serve")
        try:
            args = shlex.split(command, posix=os.name != "nt")
        except ValueError as exc:
            self._set_status(f"cannot read the server command {command!r}: {exc}")
            return False
        if not args:
            self._set_status("the server command is empty")
            return False
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, creationflags=flags)
        except OSError as exc:
            self._set_status(f"cannot start {args[0]!r}: {exc}")
            return False
        self._kill_at = None
        self._connect_when_up = True
        self._next_connect = self.clock() + 0.5
        self._set_status(f"server starting (pid {self.process.pid}; log: {self.log_path})")
        return True

    def StopServer(self, wait: bool = False, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the server this extension started to stop; kill it if it is still there after ``timeout``
        seconds. With ``wait`` this blocks until it is gone (for onExit); otherwise Update() finishes it."""
        self._connect_when_up = False
        process = self.process
        if process is None or process.poll() is not None:
            self._set_status("no server started from here is running")
            return
        process.terminate()
        self._kill_at = self.clock() + timeout
        self._set_status(f"server stopping (pid {process.pid})")
        if wait:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self._watch_process()

    def _watch_process(self) -> None:
        process = self.process
        if process is None:
            return
        code = process.poll()
        if code is None:
            if self._kill_at is not None and self.clock() >= self._kill_at:
                process.kill()
                self._kill_at = None
            elif self._connect_when_up and self.clock() >= self._next_connect:
                self._next_connect = self.clock() + 0.5
                self._try_connect()
            return
        self.process = None
        self._kill_at = None
        self._connect_when_up = False
        self._set_status(f"server exited with code {code} (log: {self.log_path})")

    def _try_connect(self) -> None:
        host = self._setting("Host", "127.0.0.1")
        try:  # a cheap check first, so that Connect's status line does not flicker while the server loads
            fetch_json(f"http://{host}:{self._setting('Queryport', 9002)}/?HOST_INFO", timeout=0.2)
        except (OSError, ValueError):
            return
        self.Connect()

    # ---- TouchDesigner lifecycle ---------------------------------------------------------------------

    def onDestroyTD(self) -> None:
        """TouchDesigner calls this before the extension is re-created (the DAT was edited) or deleted.
        The socket is closed; a server started from here keeps running (stop it first if you want)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
