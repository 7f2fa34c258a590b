"""A TCP proxy to a test server that loses answers: the server did the work, the client
never hears of it, and must retry without doubling anything (shared by the remote tests).

Which answers are lost is decided per request, when it passes: every answer while ``drop`` is
set; the next ``drop_next`` answers; and the answer to each request for which ``choose`` (given
the first bytes of the request) returns True. Losing an answer hangs up the connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class DroppingProxy:
    def __init__(self, target: str, choose: Callable[[bytes], bool] | None = None) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.choose = choose
        self.drop = False
        self.drop_next = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _lose(self, head: bytes) -> bool:
        with self._lock:
            if self.choose is not None and self.choose(head):
                return True
            if self.drop:
                return True
            if self.drop_next > 0:
                self.drop_next -= 1
                return True
            return False

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pending: list[bool] = []  # per request on this connection: lose its answer?
            threading.Thread(
                target=self._requests, args=(conn, upstream, pending), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(upstream, conn, pending), daemon=True
            ).start()

    def _requests(self, source: socket.socket, dest: socket.socket, pending: list[bool]) -> None:
        try:
            while data := source.recv(65536):
                if data[:1].isalpha() and b" HTTP/1.1\r\n" in data[:2100]:  # a new request
                    pending.append(self._lose(data[:2100]))
                dest.sendall(data)
        except OSError:
            pass
        _close(source, dest)

    def _answers(self, source: socket.socket, dest: socket.socket, pending: list[bool]) -> None:
        try:
            while data := source.recv(65536):
                if pending and pending.pop(0):
                    with self._lock:
                        self.dropped += 1
                    break
                dest.sendall(data)
        except OSError:
            pass
        _close(source, dest)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
