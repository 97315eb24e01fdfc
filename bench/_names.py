"""Shared pieces of the demo and benchmark data generators: names, contact numbers, ID numbers.

Both generators must produce data that passes the platform's own validation (valid ID numbers,
11-digit mobile numbers, unique people), and both must be deterministic: every random choice
goes through the ``random.Random`` the caller seeds. Keeping the pools and the makers here
means the demo tenants and the synthetic national data look alike and cannot drift apart.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the scripts run as ``python bench/x.py`` from the repository root
    sys.path.insert(0, str(ROOT))

from app.core.idcard import CHECK_CHARS, WEIGHTS

# --- people ---------------------------------------------------------------------------------------

#: Southern Fujian (闽南): a few clans dominate whole villages.
SURNAMES_MINNAN = (
    "蔡" * 9 + "王" * 7 + "陈" * 7 + "林" * 6 + "李" * 4 + "黄" * 4 + "吴" * 4 + "施" * 5 + "洪" * 3
    + "邱" * 3 + "许" * 3 + "张" * 3 + "郭" * 2 + "杨" * 2 + "苏" * 2 + "庄" * 2 + "颜" * 2 + "卢" * 2
    + "龚" + "高" + "曾" + "谢" + "郑" + "周" + "姚" + "柯" + "邓"
)
#: Western Guizhou, including Buyei (布依族) and Miao (苗族) family names.
SURNAMES_GUIZHOU = (
    "王" * 6 + "陈" * 5 + "李" * 5 + "杨" * 5 + "罗" * 4 + "张" * 4 + "刘" * 3 + "韦" * 4 + "黄" * 3
    + "伍" * 3 + "梁" * 2 + "吴" * 2 + "岑" * 2 + "班" * 2 + "卢" * 2 + "龙" * 2 + "杜" + "邓" + "周"
    + "蒙" + "陆" + "付" + "潘" + "熊" + "谢" + "郎" + "赵" + "胡"
)
SURNAMES_COMMON = (
    "王" * 8 + "李" * 8 + "张" * 8 + "刘" * 6 + "陈" * 6 + "杨" * 4 + "黄" * 3 + "赵" * 3 + "吴" * 3
    + "周" * 3 + "徐" * 2 + "孙" * 2 + "马" * 2 + "朱" * 2 + "胡" * 2 + "郭" * 2 + "何" * 2 + "高"
    + "林" + "罗" + "郑" + "梁" + "谢" + "宋" + "唐" + "许" + "韩" + "冯" + "邓" + "曹" + "彭" + "曾"
)
GIVEN_FEMALE = "秀丽美芳娟玲红霞燕琴兰凤英华梅萍艳丽婷静敏惠雪淑珍桂莉娜琳月春素碧瑜薇晓雅慧佳欣怡"
GIVEN_MALE = "伟强军建国明华志勇杰文斌辉平东海峰林波忠荣福贵永金生宏俊鹏宇成亮祥顺德"
GIVEN_ANY = "小晓丽建春秋玉金海明清红云晨新安家泽"


class NameMaker:
    """Chinese personal names, unique within one maker (one roster)."""

    def __init__(self, rng: random.Random, surnames: str):
        self.rng = rng
        self.surnames = surnames
        self.used: set[str] = set()

    def make(self, male: bool) -> str:
        rng = self.rng
        pool = GIVEN_MALE if male else GIVEN_FEMALE
        for _ in range(1000):
            surname = rng.choice(self.surnames)
            if rng.random() < 0.2:
                given = rng.choice(pool)
            else:
                given = rng.choice(GIVEN_ANY if rng.random() < 0.3 else pool) + rng.choice(pool)
            name = surname + given
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name pool exhausted")


#: Ordered levels (DOMAIN §8).
EDUCATION = ("小学", "初中", "高中", "中专", "大专", "本科", "研究生")


def pick_education(rng: random.Random, weights: Sequence[float]) -> str:
    return rng.choices(EDUCATION, weights=weights)[0]


# --- contact numbers ------------------------------------------------------------------------------

# Mobile prefixes in use (1[3-9]x); the other 8 digits come from a permutation, so never collide.
MOBILE_PREFIXES = tuple(
    f"{p}" for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 172, 173, 175,
                     176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 198, 199)
)
# UnionPay debit BINs of the big state banks; cards are BIN + account digits + Luhn check digit.
CARD_BINS = ("621700", "622848", "621226", "622202", "621661", "622700", "621483", "623052", "622908")
_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_check(digits: str) -> str:
    """Luhn check digit to append to ``digits`` (bank card numbers end with one)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _LUHN_DOUBLE[d] if i % 2 == 0 else d
    return str((10 - total % 10) % 10)


class ContactMaker:
    """Mobile and bank card numbers, unique across everything one maker produces.

    The variable digits are ``(A * n + B) mod 10**k`` of a running counter ``n``: a permutation
    when ``A`` is coprime to 10, so numbers look scattered yet never repeat, at no cost per row.
    """

    _A, _B = 7_654_321, 13_579_246

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.n = 0

    def next(self) -> tuple[str, str]:
        """(phone, bank_card) for the next person."""
        self.n += 1
        rng = self.rng
        tail8 = (self._A * self.n + self._B) % 100_000_000
        tail9 = (self._A * self.n + self._B * 3) % 1_000_000_000
        phone = f"{rng.choice(MOBILE_PREFIXES)}{tail8:08d}"
        if rng.random() < 0.8:  # 19-digit cards are the common case
            body = f"{rng.choice(CARD_BINS)}{rng.randrange(1000):03d}{tail9:09d}"
        else:
            body = f"{rng.choice(CARD_BINS)}{tail9:09d}"
        return phone, body + luhn_check(body)


# --- ID numbers -----------------------------------------------------------------------------------


class IdMaker:
    """Valid, unique 18-character ID numbers for one region code, cheaply.

    Same result as :func:`app.core.idcard.make_id_number`, but the weighted sums of the region
    and of each birth date are computed once, so a million numbers cost a few seconds.
    """

    def __init__(self, region_code: str):
        if len(region_code) != 6 or not region_code.isdigit():
            raise ValueError(f"region code must be 6 digits: {region_code!r}")
        self.region = region_code
        self.region_sum = sum(int(c) * w for c, w in zip(region_code, WEIGHTS[:6]))
        self._dates: dict[int, tuple[str, int]] = {}
        self._next_seq: dict[tuple[int, bool], int] = {}

    def make(self, birth: date, male: bool) -> str:
        key = birth.toordinal()
        cached = self._dates.get(key)
        if cached is None:
            text = f"{birth.year:04d}{birth.month:02d}{birth.day:02d}"
            cached = (text, sum(int(c) * w for c, w in zip(text, WEIGHTS[6:14])))
            self._dates[key] = cached
        count = self._next_seq.get((key, male), 0)
        if count > 499:
            raise ValueError(f"more than 500 people of one sex born on {birth} in {self.region}")
        self._next_seq[(key, male)] = count + 1
        seq = (key * 37 + count) % 500  # start somewhere in the range, as real order codes do
        order = 2 * seq + (1 if male else 0)
        o1, o2, o3 = order // 100, order // 10 % 10, order % 10
        total = self.region_sum + cached[1] + o1 * WEIGHTS[14] + o2 * WEIGHTS[15] + o3 * WEIGHTS[16]
        return f"{self.region}{cached[0]}{order:03d}{CHECK_CHARS[total % 11]}"


def birth_for_age(rng: random.Random, age: int, on: date) -> date:
    """A birth date such that the person is exactly ``age`` full years old on ``on``."""
    latest = _replace_year(on, on.year - age)  # the last birthday that still gives ``age``
    earliest = _replace_year(on, on.year - age - 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def _replace_year(d: date, year: int) -> date:
    try:
        return d.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def term_end(start: date, years: int = 3) -> date:
    """Last day of a term of ``years`` years starting on ``start`` (2023-01-01 → 2025-12-31)."""
    return _replace_year(start, start.year + years) - timedelta(days=1)


# --- places ---------------------------------------------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1-99)."""
    if not 1 <= n <= 99:
        raise ValueError(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
    return head + (_CN_DIGITS[ones] if ones else "")


def group_name(n: int, community: bool, style: str = "long") -> str:
    """村民小组 / 居民小组 names: ``第三村民小组`` (style ``long``) or ``三组`` (style ``short``)."""
    if style == "short":
        return f"{cn_number(n)}组"
    return f"第{cn_number(n)}{'居民' if community else '村民'}小组"


# Two-character place names: a descriptive first character and a landform second character.
_PLACE_FIRST_SOUTH = "东西南北前后上下大小新古洋莲霞塘石龟湖溪坑埔港鸿锦沙梅岑凤金玉林郭苏蔡卢吴洪"
_PLACE_SECOND_SOUTH = "厝埔垵埭坑浦头山湖塘港边美兜宅园亭堡店前后林尾"
_PLACE_FIRST_WEST = "大小新老高上下中前后东西南北龙凤马牛羊石木竹花桃李杨黄白红青岩坡沙田永顺"
_PLACE_SECOND_WEST = "坪寨坡冲坝田湾沟岭山河桥营屯堡哨关院场箐井头院庄岩"


def place_pool(style: str) -> list[str]:
    """All two-character place names of a style (``south`` for Fujian, ``west`` for Guizhou)."""
    if style == "south":
        first, second = _PLACE_FIRST_SOUTH, _PLACE_SECOND_SOUTH
    else:
        first, second = _PLACE_FIRST_WEST, _PLACE_SECOND_WEST
    return sorted({a + b for a in first for b in second if a != b})


def apportion(total: int, parts: int, rng: random.Random, spread: float = 0.5, minimum: int = 1) -> list[int]:
    """Split ``total`` into ``parts`` integers, each ≥ ``minimum``, uneven by about ``spread``."""
    if parts <= 0 or total < parts * minimum:
        raise ValueError(f"cannot split {total} into {parts} parts of at least {minimum}")
    weights = [rng.uniform(1 - spread, 1 + spread) for _ in range(parts)]
    free = total - parts * minimum
    scale = free / sum(weights)
    shares = [int(w * scale) for w in weights]
    for i in rng.sample(range(parts), free - sum(shares)):
        shares[i] += 1
    return [minimum + s for s in shares]
