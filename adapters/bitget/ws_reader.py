"""WebSocket connections read by one thread: a frame decoder for what servers send, and the loop.

websocket-client reads a frame in pure Python with several small ``recv`` calls and a few objects,
and needs a blocked thread per connection; with tens of connections most of a frame's CPU went
there and to the GIL passing between the threads. Here one thread waits on every socket of a
family (``selectors``), takes whatever a socket holds in one ``recv`` and cuts it into frames with
a decoder that knows only what a server may send: unmasked frames, no extensions.

websocket-client still makes each connection (handshake, TLS) and sends on it, from any thread:
its send is locked, and over TLS the reader reads under that lock too (OpenSSL must never read
and write one connection at once). Once a socket is handed over it is non-blocking, so a send that
would wait for a peer that reads nothing fails instead, and the connection is as good as lost then.

The reader keeps each link's time too, so no thread per connection is needed once it is reading:
it sends the link's ping text every ``ping_s``, and a link that has sent nothing for
``silence_s`` is lost just like a closed one. A link's owner runs on this thread for every message
and holds up the family's other links meanwhile: it has to be quick and must never wait on the
network. The thread starts with a family's first link and ends with its last, so nothing lingers
once every connection has stopped.
"""

from __future__ import annotations

import contextlib
import math
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

import websocket
from loguru import logger

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
READ_SIZE = 262_144
MAX_READS = 16
"""Reads of one socket in a row before the others get their turn (TLS gives a record per read)."""
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class ProtocolError(ConnectionError):
    """The server broke the framing rules (RFC 6455 section 5): the connection cannot be trusted."""


class FrameDecoder:
    """Server-to-client frames out of a byte stream cut anywhere.

    ``feed`` takes bytes as they arrive and returns, in order, each message and control frame they
    complete as ``(opcode, payload)``. A fragmented message comes out whole under its first
    frame's opcode; a control frame sent between its fragments comes out where it was. No
    extension is ever negotiated, so a reserved bit is an error, and so is a masked frame (only
    clients mask).
    """

    __slots__ = ("_held", "_need", "_opcode", "_parts")

    def __init__(self) -> None:
        self._held = bytearray()
        """The start of a frame that has not all arrived."""
        self._need = 0
        """How long ``_held`` must grow before decoding it again can find a whole frame."""
        self._opcode = 0
        """The opcode of the fragmented message under way, 0 if none."""
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self._held:
            self._held += data
            if len(self._held) < self._need:  # one large frame in many reads: no copying until it is whole
                return []
            data = bytes(self._held)
            self._held.clear()
        out: list[tuple[int, bytes]] = []
        size = len(data)
        pos = 0
        need = 0
        while pos < size:
            left = size - pos
            if left < 2:
                need = 2
                break
            first, length = data[pos], data[pos + 1]
            if length & 0x80:
                raise ProtocolError("the server sent a masked frame")
            if length < 126:
                start = pos + 2
            elif length == 126:
                if left < 4:
                    need = 4
                    break
                length = data[pos + 2] << 8 | data[pos + 3]
                start = pos + 4
            else:
                if left < 10:
                    need = 10
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                if length >> 63:
                    raise ProtocolError("a frame length with its most significant bit set")
                start = pos + 10
            end = start + length
            if end > size:
                need = end - pos
                break
            if first in (0x81, 0x82):  # the common case, kept cheap: a whole text or binary message
                if self._opcode:
                    raise ProtocolError("a new message inside a fragmented one")
                out.append((first & 0x0F, data[start:end]))
            else:
                self._frame(first, data[start:end], out)
            pos = end
        if pos < size:
            self._held += memoryview(data)[pos:]
            self._need = need
        return out

    def _frame(self, first: int, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        """Any frame but a whole text or binary message."""
        if first & 0x70:
            raise ProtocolError(f"reserved bits set in 0x{first:02x}: no extension was negotiated")
        opcode, fin = first & 0x0F, first & 0x80
        if opcode in (CLOSE, PING, PONG):
            if not fin or len(payload) > 125:
                raise ProtocolError(f"control frame 0x{opcode:x} fragmented or longer than 125 bytes")
            out.append((opcode, payload))
        elif opcode == CONTINUATION:
            if not self._opcode:
                raise ProtocolError("a continuation frame with no message to continue")
            self._parts.append(payload)
            if fin:
                out.append((self._opcode, b"".join(self._parts)))
                self._opcode, self._parts = 0, []
        elif opcode in (TEXT, BINARY):  # the first fragment: a whole one took the fast path
            if self._opcode:
                raise ProtocolError("a new message inside a fragmented one")
            self._opcode, self._parts = opcode, [payload]
        else:
            raise ProtocolError(f"reserved opcode 0x{opcode:x}")


def _nothing_pending() -> int:
    return 0


class Link:
    """A connected WebSocket handed to a reader: who gets its messages, when it is pinged, and
    who is told (``on_lost(link, error)``, on the reader's thread) when it is lost."""

    def __init__(
        self,
        ws: websocket.WebSocket,
        on_message: Callable[[bytes, int], None],
        on_lost: Callable[[Link, Exception], None],
        *,
        ping: str,
        ping_s: float,
        silence_s: float,
    ) -> None:
        sock = ws.sock
        if sock is None:
            raise ConnectionError("the socket was closed before it could be read")
        sock.setblocking(False)
        self.ws = ws
        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        # Bytes TLS has already decrypted sit in the SSL object, where no selector sees them.
        self.pending: Callable[[], int] = sock.pending if isinstance(sock, ssl.SSLSocket) else _nothing_pending
        # OpenSSL must never read and write one connection at once (a write racing a read that
        # wants more makes that read look like the end of the stream): reads take the lock
        # websocket-client sends under. A plain socket reads and writes concurrently just fine.
        self.lock: contextlib.AbstractContextManager[object] = ws.lock if self.tls else contextlib.nullcontext()
        self.decoder = FrameDecoder()
        self.on_message = on_message
        self.on_lost = on_lost
        self.ping = ping
        self.ping_s = ping_s
        self.silence_s = silence_s
        self.last_heard = time.monotonic()
        self.next_ping = self.last_heard + ping_s
        self.open = False
        """Registered with the reader and being read; only the reader's thread changes it."""
        self.reader: Reader | None = None


_readers: dict[str, Reader] = {}
_readers_lock = threading.Lock()
"""Guards ``_readers`` and every reader's requests, so a request never reaches a reader that has
decided to end."""


def attach(link: Link, name: str) -> None:
    """Have the reader thread ``name`` read ``link``, starting one if none is running."""
    with _readers_lock:
        reader = _readers.get(name)
        if reader is None:
            reader = _readers[name] = Reader(name)
            reader.thread.start()
        link.reader = reader
        reader.request(link, None)


def detach(link: Link, timeout_s: float) -> None:
    """Stop reading ``link`` and close its socket. Returns once the reader has, so the owner hears
    from the link no more, and if it was the reader's last link, once the thread has ended too
    (each wait at most ``timeout_s``)."""
    reader = link.reader
    if reader is None:
        return
    if threading.current_thread() is reader.thread:
        reader.close(link)
        return
    done = threading.Event()
    with _readers_lock:
        if _readers.get(reader.name) is reader:
            reader.request(link, done)
        else:
            done.set()  # that reader has ended, and a reader ends only once it has no link left
    if done.wait(timeout_s) and reader.ended():
        reader.thread.join(timeout_s)


class Reader:
    """The thread reading every link of one family; requests come in through a socket pair."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ, None)
        self._requests: list[tuple[Link, threading.Event | None]] = []
        """``(link, None)`` to read a link, ``(link, done)`` to drop it; under ``_readers_lock``."""
        self._dropped: list[threading.Event] = []
        """Drop requests served, told so only once the thread knows whether it ends with them."""
        self._links: set[Link] = set()
        self._next_tick = math.inf

    def ended(self) -> bool:
        """Out of the registry: the thread is ending or has ended."""
        with _readers_lock:
            return _readers.get(self.name) is not self

    def request(self, link: Link, done: threading.Event | None) -> None:
        """Queue a request (the caller holds ``_readers_lock``) and wake the thread for it."""
        self._requests.append((link, done))
        with contextlib.suppress(BlockingIOError):  # full of wake-ups not yet read: the thread is awake
            self._wake_out.send(b"\0")

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:
            logger.exception("{}: the reader failed; its connections are dropped and made again", self.name)
        finally:
            with _readers_lock:
                if _readers.get(self.name) is self:
                    del _readers[self.name]
                requests, self._requests = self._requests, []
            for link, done in requests:
                if done is None:
                    self._lose(link, ConnectionError("the reader ended before reading this connection"))
                else:
                    self._dropped.append(done)
            for link in list(self._links):
                self._lose(link, ConnectionError("the reader ended"))
            self._selector.close()
            self._wake_in.close()
            self._wake_out.close()
            self._acknowledge()

    def _loop(self) -> None:
        select = self._selector.select
        while True:
            timeout = None if self._next_tick == math.inf else max(0.0, self._next_tick - time.monotonic())
            for key, _ in select(timeout):
                link = key.data
                if link is None:
                    self._serve_requests()
                elif link.open:
                    self._read(link)
            if time.monotonic() >= self._next_tick:
                self._tick()
            if not self._links and self._end():
                return
            self._acknowledge()

    def _end(self) -> bool:
        """With no link left and none asked for, leave the registry: the next link starts a new reader."""
        with _readers_lock:
            if self._requests:
                return False
            del _readers[self.name]
            return True

    def _acknowledge(self) -> None:
        for done in self._dropped:
            done.set()
        self._dropped.clear()

    def _serve_requests(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_in.recv(4096)
        with _readers_lock:
            requests, self._requests = self._requests, []
        for link, done in requests:
            if done is None:
                self._add(link)
            else:
                self.close(link)
                self._dropped.append(done)

    def _add(self, link: Link) -> None:
        try:
            self._selector.register(link.sock, selectors.EVENT_READ, link)
        except (OSError, ValueError) as exc:  # closed meanwhile
            self._lose(link, ConnectionError(f"the socket could not be watched: {exc}"))
            return
        link.open = True
        self._links.add(link)
        self._next_tick = min(self._next_tick, link.next_ping, link.last_heard + link.silence_s)
        self._read(link)  # what TLS decrypted during the handshake or login would not wake the selector

    def close(self, link: Link) -> None:
        """Stop watching ``link`` and close its socket (on the reader's thread)."""
        if link.open:
            link.open = False
            self._links.discard(link)
            self._selector.unregister(link.sock)
        link.ws.shutdown()  # type: ignore[no-untyped-call]

    def _lose(self, link: Link, error: Exception) -> None:
        self.close(link)
        try:
            link.on_lost(link, error)
        except Exception:
            logger.exception("{}: the owner of a lost connection failed to hear of it", self.name)

    def _read(self, link: Link) -> None:
        """Read what the socket holds and hand on the frames it completes; a TLS socket is read a
        record at a time until nothing is left, in the kernel or decrypted in the SSL object."""
        sock = link.sock
        reads = 0
        while True:
            try:
                with link.lock:
                    data = sock.recv(READ_SIZE)
                    pending = link.pending()
            except _WOULD_BLOCK:
                return
            except OSError as exc:
                self._lose(link, exc)
                return
            if not data:
                self._lose(link, ConnectionError("the server closed the connection"))
                return
            link.last_heard = time.monotonic()
            if not self._deliver(link, data):
                return
            reads += 1
            if not pending and (reads >= MAX_READS or (not link.tls and len(data) < READ_SIZE)):
                return

    def _deliver(self, link: Link, data: bytes) -> bool:
        """Hand on the frames ``data`` completes, answering pings; False once the link is lost."""
        recv_ns = time.perf_counter_ns()
        try:
            for opcode, payload in link.decoder.feed(data):
                if opcode <= BINARY:
                    link.on_message(payload, recv_ns)
                    if not link.open:  # the owner detached it
                        return False
                elif opcode == PING:
                    link.ws.pong(payload)
                elif opcode == CLOSE:
                    with contextlib.suppress(OSError, websocket.WebSocketException):
                        link.ws.send(payload[:2], CLOSE)  # the close handshake: echo the status code
                    raise ConnectionError("the server closed the connection")
        except (OSError, websocket.WebSocketException) as exc:  # the owner's ConnectionError among them
            self._lose(link, exc)
            return False
        except Exception as exc:
            logger.exception("{}: reading a connection failed; it is dropped and made again", self.name)
            self._lose(link, exc)
            return False
        return True

    def _tick(self) -> None:
        """Ping the links that are due and drop those that have been silent too long."""
        now = time.monotonic()
        next_tick = math.inf
        for link in list(self._links):
            silent_s = now - link.last_heard
            if silent_s >= link.silence_s:
                self._lose(link, ConnectionError(f"no message for {silent_s:.0f}s: a silent stream counts as dropped"))
                continue
            if now >= link.next_ping:
                try:
                    link.ws.send(link.ping)
                except (OSError, websocket.WebSocketException) as exc:
                    self._lose(link, exc)
                    continue
                link.next_ping = now + link.ping_s
            next_tick = min(next_tick, link.next_ping, link.last_heard + link.silence_s)
        self._next_tick = next_tick
