"""Text files as Chinese editors save them: UTF-8 (with or without BOM) strictly, else GBK when it reads
as Chinese, or the encoding the user stated; never a guess that turns names into mojibake.

Why in core: every reader of incoming text (tenant folders, uploads, the bounded YAML reader of
core) needs the same rule, and core sits below all of them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

UNKNOWN_ENCODING = "文件编码无法识别：请在 Excel/WPS 中另存为 UTF-8 编码的 CSV（或 .xlsx）"
ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}
"""Encodings a user may state (upload screen, CLI) → the codec; stated, they are used without guessing."""
CHUNK = 1 << 20


def codec_for(encoding: str | None) -> str | None:
    """The codec of an encoding a user stated; None when none was stated; ValueError for an unknown one."""
    if not encoding:
        return None
    codec = ENCODINGS.get(encoding.strip().lower().replace("_", "-"))
    if codec is None:
        raise ValueError(f"不支持的编码「{encoding}」：请选择 UTF-8 或 GBK")
    return codec


class _GbkTally:
    """Whether text decoded as GBK reads as Chinese: few characters outside GBK's GB2312 zone.

    Why a tally: GBK (GB18030 even more) decodes most byte strings without error, so decoding alone
    proves nothing. Text a Chinese editor saved as GBK is almost all in the GB2312 zone (symbols A1–A9,
    the 6,763 common hanzi B0–F7) with a rare place-name character now and then (垵, 厝: a fraction of a
    percent), while Shift-JIS, Latin-1 or Big5 bytes read as GBK land mostly in the extension zones
    (trail byte below A1): nearly every character. So at most ``OUTSIDE_SHARE`` of the non-ASCII
    characters may lie outside the zone; none may be NUL (UTF-16) or private-use. A file refused
    here loads when saved as UTF-8, or when its encoding is stated (``gbk``).
    Known blind spot: EUC-KR/EUC-JP bytes share the zone; such files are not expected here.
    """

    OUTSIDE_SHARE = 0.05

    def __init__(self) -> None:
        self.non_ascii = 0
        self.outside = 0
        self.impossible = False

    def add(self, text: str) -> None:
        if "\x00" in text:
            self.impossible = True
        for char in text:
            if char < "\x80":
                continue
            self.non_ascii += 1
            if "\ue000" <= char <= "\uf8ff":
                self.impossible = True
                continue
            raw = char.encode("gbk")
            if len(raw) != 2 or not (0xA1 <= raw[0] <= 0xA9 or 0xB0 <= raw[0] <= 0xF7) or raw[1] < 0xA1:
                self.outside += 1

    @property
    def plausible(self) -> bool:
        return not self.impossible and self.outside <= self.OUTSIDE_SHARE * self.non_ascii


def _decodes(chunks: Iterable[bytes], codec: str, check_gbk: bool) -> bool:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    tally = _GbkTally()
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            if check_gbk:
                tally.add(text)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return tally.plausible


def read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def sniff_codec(path: Path, encoding: str | None = None) -> str:
    """The codec to read ``path`` with: the stated one (checked strictly), UTF-8, or plausible GBK."""
    stated = codec_for(encoding)
    candidates = [(stated, False)] if stated else [("utf-8-sig", False), ("gbk", True)]
    for codec, check in candidates:
        with path.open("rb") as stream:
            if _decodes(read_chunks(stream), codec, check):
                return codec
    raise ValueError(UNKNOWN_ENCODING if stated is None else f"文件不是 {encoding} 编码：{UNKNOWN_ENCODING}")


def decode_text(raw: bytes, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM) strictly, else GBK when plausible (see ``_GbkTally``); never a guess."""
    stated = codec_for(encoding)
    if stated:
        try:
            return raw.decode(stated)
        except UnicodeDecodeError:
            raise ValueError(f"文件不是 {encoding} 编码：{UNKNOWN_ENCODING}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError:
        raise ValueError(UNKNOWN_ENCODING) from None
    tally = _GbkTally()
    tally.add(text)
    if not tally.plausible:
        raise ValueError(UNKNOWN_ENCODING)
    return text
