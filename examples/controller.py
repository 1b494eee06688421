"""Drive a running `latentvj serve` from Python over OSC: status, a sweep, presets.

    latentvj serve &                      # in another terminal
    python examples/controller.py [--port 9000] [--seconds 4]

It asks for the server's status, sweeps the truncation down and back up while the walk loops, stores what
is on screen as preset 1, wanders off to another seed, and recalls preset 1. It subscribes, so every change
(its own, the engine's, other controllers'), every error and the status come back to its own socket.
Needs python-osc (installed with latentvj).
"""

import argparse
import math
import socket
import time

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

STATUS_FIELDS = ("model", "device", "width", "height", "target_fps", "fps", "frame", "mode", "seed", "preset")


class Controller:
    def __init__(self, host: str, port: int):
        self.server = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1" if host in ("127.0.0.1", "localhost") else "0.0.0.0", 0))

    def send(self, address: str, *args) -> None:
        message = OscMessageBuilder(address)
        for arg in args:
            message.add_arg(arg)
        self.sock.sendto(message.build().dgram, self.server)

    def wait_for(self, address: str, timeout: float = 5.0) -> list:
        """The arguments of the next message with this address; errors on the way are printed."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                raise SystemExit(f"no {address} from {self.server[0]}:{self.server[1]} within {timeout} s: "
                                 "is `latentvj serve` running?") from None
            message = OscMessage(data)
            if message.address == "/lvj/error":
                print("server says:", *message.params)
            if message.address == address:
                return message.params

    def status(self) -> dict:
        self.send("/lvj/status")
        return dict(zip(STATUS_FIELDS, self.wait_for("/lvj/status")))

    def subscribe(self) -> dict:
        """Follow the server: it sends every current value, then its status, then each change as it happens."""
        self.send("/lvj/subscribe", self.sock.getsockname()[1])
        return dict(zip(STATUS_FIELDS, self.wait_for("/lvj/status")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="the server's OSC port")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the sweep")
    args = parser.parse_args()
    lvj = Controller(args.host, args.port)

    status = lvj.subscribe()
    print(f"connected: '{status['model']}' on {status['device']}, {status['width']}x{status['height']} "
          f"at {status['fps']:.1f} fps")

    lvj.send("/lvj/walk/mode", "loop")
    lvj.send("/lvj/walk/period", 8.0)
    steps = max(2, int(args.seconds * 20))
    for i in range(steps + 1):  # truncation 1 -> 0.4 -> 1, twenty changes a second
        lvj.send("/lvj/truncation", 0.7 + 0.3 * math.cos(2 * math.pi * i / steps))
        time.sleep(1 / 20)
    print(f"swept truncation 1 -> 0.4 -> 1 over {args.seconds:g} s")

    lvj.send("/lvj/preset/store", 1)
    print("stored preset", lvj.wait_for("/lvj/preset/current")[0])
    lvj.send("/lvj/seed", 1234)
    print("morphing to seed", lvj.wait_for("/lvj/seed")[0])
    lvj.send("/lvj/preset/recall", 1)
    print("back to seed", lvj.wait_for("/lvj/seed")[0])  # the recall sets the preset's seed again
    status = lvj.status()
    lvj.send("/lvj/unsubscribe", lvj.sock.getsockname()[1])
    print(f"recalled preset {status['preset']}: walk {status['mode']} around seed {status['seed']}, "
          f"frame {status['frame']}")


if __name__ == "__main__":
    main()
