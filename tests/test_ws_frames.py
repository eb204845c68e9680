"""The server-to-client frame decoder of ``adapters.bitget.ws_reader``, against websocket-client's
own frame encoder (``ABNF.format`` with the mask off, as a server sends) and hand-built bytes."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websocket import ABNF

from adapters.bitget.ws_reader import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, FrameDecoder, ProtocolError


def encode(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A frame as a server sends it: unmasked."""
    return ABNF(int(fin), 0, 0, 0, opcode, 0, payload).format()  # type: ignore[no-untyped-call]


def feed_all(chunks: list[bytes], decoder: FrameDecoder | None = None) -> list[tuple[int, bytes]]:
    decoder = decoder or FrameDecoder()
    return [frame for chunk in chunks for frame in decoder.feed(chunk)]


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` split at ``points`` (any positions, in any order, repeats allowed)."""
    bounds = [0, *sorted(p % (len(data) + 1) for p in points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --- what a server may send, as messages and the frames that carry them -----------------------------

payloads = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([125, 126, 127, 65_535, 65_536, 70_000]).map(
        lambda n: bytes(range(256)) * (n // 256) + b"x" * (n % 256)
    ),
)
controls = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125))


@st.composite
def messages(draw: st.DrawFn) -> tuple[list[bytes], list[tuple[int, bytes]]]:
    """Frames (one per list item) and the ``(opcode, payload)`` the decoder must give for them."""
    frames: list[bytes] = []
    expected: list[tuple[int, bytes]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        payload = draw(payloads)
        pieces = cut(payload, draw(st.lists(st.integers(min_value=0), max_size=3)))
        for i, piece in enumerate(pieces):
            frames.append(encode(piece, opcode if i == 0 else CONTINUATION, fin=i == len(pieces) - 1))
            if i < len(pieces) - 1 and draw(st.booleans()):  # a control frame between fragments
                control = draw(controls)
                frames.append(encode(control[1], control[0]))
                expected.append(control)
        expected.append((opcode, payload))
        if draw(st.booleans()):
            control = draw(controls)
            frames.append(encode(control[1], control[0]))
            expected.append(control)
    return frames, expected


@settings(max_examples=300, deadline=None)
@given(stream=messages(), points=st.lists(st.integers(min_value=0), max_size=12))
def test_the_decoder_gives_every_message_whole_and_in_order_however_the_bytes_are_cut(stream, points):
    frames, expected = stream
    data = b"".join(frames)

    assert feed_all(cut(data, points)) == expected


@settings(max_examples=50, deadline=None)
@given(stream=messages())
def test_bytes_fed_one_at_a_time_decode_like_all_at_once(stream):
    frames, _ = stream
    data = b"".join(frames)[:3000]  # byte by byte: keep it short
    whole = FrameDecoder()

    one_by_one = feed_all([data[i : i + 1] for i in range(len(data))])

    assert one_by_one == whole.feed(data)


def test_a_frame_comes_out_only_once_its_last_byte_has_arrived():
    decoder = FrameDecoder()
    frame = encode(b'{"a":1}')

    assert decoder.feed(frame[:1]) == []
    assert decoder.feed(frame[1:-1]) == []
    assert decoder.feed(frame[-1:] + frame[:3]) == [(TEXT, b'{"a":1}')]
    assert decoder.feed(frame[3:]) == [(TEXT, b'{"a":1}')]


@pytest.mark.parametrize(
    ("header", "length"),
    [
        (b"\x81\x7d", 125),
        (b"\x81\x7e\x00\x7e", 126),
        (b"\x81\x7e\xff\xff", 65_535),
        (b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 65_536),
        (b"\x82\x7f" + struct.pack("!Q", 300_000), 300_000),
    ],
    ids=["7-bit", "16-bit-smallest", "16-bit-largest", "64-bit-smallest", "64-bit"],
)
def test_7_16_and_64_bit_lengths_are_read(header, length):
    payload = bytes(i % 251 for i in range(length))

    assert FrameDecoder().feed(header + payload) == [(header[0] & 0x0F, payload)]


def test_a_large_frame_arriving_in_many_reads_comes_out_whole():
    payload = b"y" * 1_000_000
    data = encode(payload, BINARY)

    assert feed_all([data[i : i + 4096] for i in range(0, len(data), 4096)]) == [(BINARY, payload)]


def test_a_fragmented_message_comes_out_whole_with_a_ping_between_fragments_first():
    data = (
        encode(b'{"action":', TEXT, fin=False)
        + encode(b"hello", PING)
        + encode(b'"snapshot",', CONTINUATION, fin=False)
        + encode(b'"data":[]}', CONTINUATION, fin=True)
    )

    assert FrameDecoder().feed(data) == [(PING, b"hello"), (TEXT, b'{"action":"snapshot","data":[]}')]


def test_close_ping_and_pong_frames_come_out_with_their_payloads():
    data = encode(b"\x03\xe8bye", CLOSE) + encode(b"p1", PING) + encode(b"", PONG)

    assert FrameDecoder().feed(data) == [(CLOSE, b"\x03\xe8bye"), (PING, b"p1"), (PONG, b"")]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x81\x82abcd" + b"xy", "masked"),
        (b"\x83\x00", "reserved opcode"),
        (b"\x8b\x00", "reserved opcode"),
        (b"\xc1\x00", "reserved bits"),
        (b"\x80\x01x", "continuation"),
        (b"\x09\x00", "control frame"),
        (b"\x89\x7e\x00\x7e" + b"p" * 126, "control frame"),
        (b"\x01\x01a\x81\x01b", "inside a fragmented"),
        (b"\x01\x01a\x01\x01b", "inside a fragmented"),
        (b"\x81\x7f\x80" + b"\x00" * 7, "most significant bit"),
    ],
    ids=[
        "masked",
        "opcode-3",
        "opcode-0xb",
        "rsv1",
        "continuation-first",
        "fragmented-ping",
        "long-ping",
        "whole-inside-fragmented",
        "fragment-inside-fragmented",
        "64-bit-msb",
    ],
)
def test_what_a_server_must_not_send_is_a_protocol_error(data, match):
    with pytest.raises(ProtocolError, match=match):
        FrameDecoder().feed(data)


def test_a_protocol_error_is_a_connection_error():
    assert issubclass(ProtocolError, ConnectionError)
