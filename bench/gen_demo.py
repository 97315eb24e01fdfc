"""Write the demo data of the two reference tenants: Shishi (石狮市) and Guanling (关岭自治县).

    python bench/gen_demo.py

rewrites ``tenants/shishi/`` and ``tenants/guanling/`` ``orgunits.csv``, ``population.csv`` and
``roster.csv``, byte for byte the same on every run (one seeded ``random.Random``, no clock).
The tenant folders hold data only, so the generator lives here.

What the data is for, beyond looking plausible:

* The real towns and streets of both counties; village and community names are invented in the
  local style (闽南 厝/埔/垵 in Shishi, 寨/坡/冲 in Guanling), not taken from an official list.
* Population is given for 2024 and 2025 and changes between the years, so "facts per period,
  never overwritten" is visible.
* Populations hit every bracket edge of the staffing rules: Shishi ``resident_pop`` (SS-1, one
  assistant per 1,500, under 1,500 counts as 1,500) and Guanling ``registered_pop`` (GL-1, ≤ 2,000
  → 1, 2,001-5,000 → 2, > 5,000 → 3). ``PINS`` below says which village carries which value.
* Rosters include people just inside and just outside the age and education limits (SS-2, GL-2),
  dismissed workers with their replacements (SS-3, SS-4, GL-3; one Guanling refill is late), and
  workers whose term has ended, so eligibility, quota and vacancy screens have something to show.
* Demo time is 2025: Shishi's current batch runs 2023-01-01 to 2025-12-31 (SS-3).
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from _names import (
    ROOT,
    SURNAMES_GUIZHOU,
    SURNAMES_MINNAN,
    ContactMaker,
    IdMaker,
    NameMaker,
    birth_for_age,
    group_name,
    pick_education,
    place_pool,
    term_end,
)

SEED = 20200108  # the date of the Shishi scheme (狮人口领〔2020〕1号)
PERIODS = ("2024", "2025")

ORG_HEADER = ("code", "parent_code", "level", "name")
POP_HEADER = ("org_code", "period", "registered_pop", "resident_pop", "floating_pop", "married_women",
              "households", "groups")
ROSTER_HEADER = ("id_number", "name", "education", "phone", "bank_card", "position_code", "org_code",
                 "start", "end", "status")

# Bracket edges the staffing rules must get right; placed on different villages each year.
PINS = {
    "shishi": {"2025": (800, 1500, 1501, 3000, 3001, 3200, 4500, 4501, 12000),
               "2024": (800, 1500, 1501, 3000, 3001, 3200, 4500, 4501)},
    "guanling": {"2025": (600, 2000, 2001, 5000, 5001, 9000),
                 "2024": (2000, 2001, 5000, 5001)},
}

# Shishi: (town code suffix, name, communities, villages). 街道 001-, 镇 100-, as in the statistical codes.
SHISHI_TOWNS = (
    ("001", "湖滨街道", "长福 八卦 新湖 金山 三欢 大港 石光 奎霞 湖滨 港塘 振狮", ""),
    ("002", "凤里街道", "凤里 宽仁 大仑 古厝 北门 新华 杆头 仑后 德辉 五星 玉浦 南环", ""),
    ("100", "灵秀镇", "灵秀新城 华联", "灵秀 钞坑 古卿 华山 塘后 石渚 曾坑 后宅 厝上 郭坑 石菌 园边"),
    ("101", "宝盖镇", "宝盖 科技园",
     "龟湖 塔前 后垵 前园 坑东 苏厝 杆柄 型厝 郭坑 湖边 霞坑 玉湖 仑后 铺锦 塘园 坑口 前坑"),
    ("102", "蚶江镇", "蚶江新城", "蚶江 石壁 水头 锦江 莲埭 古垵 洋下 西埔 东石 港口 大堡 前垵"),
    ("103", "祥芝镇", "祥渔", "祥芝 大堡 古浮 莲坂 下宅 东店 钞岱 渔港 后湖 塘头 溪前"),
    ("104", "鸿山镇", "鸿港", "鸿山 东埔 伍堡 邱下 茂亭 科任 埔头 西港 后厝 山仔 溪头"),
    ("105", "锦尚镇", "锦尚", "锦尚 卢厝 高厝 深埕 谢厝 沙堤 前店 后埔 洋坑"),
    ("106", "永宁镇", "永宁 黄金海岸",
     "永宁 子英 沙美 岑兜 港边 梅林 霞泽 西岑 前埔 后杆柄 下埭 外高 观山 新沙堤 郭厝"),
)

# Guanling: (town code suffix, name, communities, villages); names are drawn from the local pool.
GUANLING_TOWNS = (
    ("001", "关索街道", 4, 5), ("002", "顶云街道", 3, 5), ("003", "百合街道", 2, 5),
    ("101", "花江镇", 1, 9), ("102", "岗乌镇", 0, 7), ("103", "上关镇", 1, 8), ("104", "坡贡镇", 0, 8),
    ("105", "永宁镇", 1, 7), ("106", "新铺镇", 0, 8), ("107", "断桥镇", 1, 8),
    ("201", "八德乡", 0, 6), ("202", "沙营乡", 0, 6), ("203", "普利乡", 0, 5),
)


@dataclass
class Village:
    code: str
    name: str
    community: bool
    groups: int = 0
    pop: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> field -> value


@dataclass
class County:
    slug: str
    code: str
    name: str
    orgs: list[tuple[str, str, str, str]] = field(default_factory=list)
    villages: list[Village] = field(default_factory=list)
    roster: list[tuple[str, ...]] = field(default_factory=list)


# --- org tree -------------------------------------------------------------------------------------


def build_tree(county: County, towns: list[tuple[str, str, list[tuple[str, bool]]]]) -> None:
    """County, towns and villages, sorted by code: a parent comes before its children."""
    county.orgs.append((county.code, "", "county", county.name))
    for suffix, town_name, villages in towns:
        town_code = county.code + suffix
        county.orgs.append((town_code, county.code, "town", town_name))
        next_community, next_village = 1, 201
        for name, community in villages:
            if community:
                code, next_community = f"{town_code}{next_community:03d}", next_community + 1
            else:
                code, next_village = f"{town_code}{next_village:03d}", next_village + 1
            village = Village(code, name + ("社区" if community else "村"), community)
            county.villages.append(village)
            county.orgs.append((code, town_code, "village", village.name))
    county.orgs.sort(key=lambda row: row[0])  # by code = parents first, villages grouped by town


def add_groups(county: County, rng: random.Random, size_field: str, per_group: int, style: str) -> None:
    """3-12 groups per village, more for bigger villages; rows go right after their village."""
    rows: list[tuple[str, str, str, str]] = []
    by_parent: dict[str, list[tuple[str, str, str, str]]] = {}
    for v in county.villages:
        size = v.pop["2025"][size_field]
        v.groups = max(3, min(12, round(size / per_group) + rng.randint(-1, 1)))
        for period in PERIODS:  # the groups are org units, the same in both years
            v.pop[period]["groups"] = v.groups
        by_parent[v.code] = [
            (f"{v.code}{g:02d}", v.code, "group", group_name(g, v.community, style)) for g in range(1, v.groups + 1)
        ]
    for row in county.orgs:
        rows.append(row)
        rows.extend(by_parent.get(row[0], ()))
    county.orgs = rows


# --- population -----------------------------------------------------------------------------------


def pin(county: County, rng: random.Random, base: dict[str, list[int]]) -> None:
    """Put each bracket-edge value of ``PINS`` on its own village, different villages per period."""
    order = rng.sample(range(len(county.villages)), len(county.villages))
    taken = 0
    for period in ("2025", "2024"):
        for value in PINS[county.slug][period]:
            base[period][order[taken]] = value
            taken += 1
    for i in range(len(county.villages)):  # a village's value must change between the years
        if base["2024"][i] == base["2025"][i]:
            base["2024"][i] -= 7


def shishi_population(county: County, rng: random.Random) -> None:
    res25 = [round(rng.triangular(2500, 11800, 5500) if v.community else rng.triangular(900, 8000, 2800))
             for v in county.villages]
    res24 = [round(r / rng.uniform(0.96, 1.07)) for r in res25]
    base = {"2025": res25, "2024": res24}
    pin(county, rng, base)
    for i, v in enumerate(county.villages):
        share = rng.uniform(0.4, 0.72) if v.community else rng.uniform(0.08, 0.45)
        outflow = rng.uniform(1.02, 1.15)
        shape = _shape(rng)
        for period in PERIODS:
            resident = base[period][i]
            floating = max(100, min(8000, round(resident * share * rng.uniform(0.93, 1.07))))
            floating = min(floating, resident - 300)
            registered = round((resident - floating) * outflow * rng.uniform(0.99, 1.01))
            v.pop[period] = _derived(rng, shape, registered, resident, floating)


def guanling_population(county: County, rng: random.Random) -> None:
    reg25 = [round(rng.triangular(800, 8600, 2400)) for _ in county.villages]
    reg24 = [round(r * rng.uniform(0.98, 1.05)) for r in reg25]
    base = {"2025": reg25, "2024": reg24}
    pin(county, rng, base)
    for i, v in enumerate(county.villages):
        stay = rng.uniform(0.72, 0.95)  # Guizhou villages lose working-age people to the coast
        shape = _shape(rng)
        for period in PERIODS:
            registered = base[period][i]
            floating = rng.randint(80, 300) if v.community else rng.randint(0, 120)
            resident = round(registered * stay * rng.uniform(0.98, 1.02)) + floating
            v.pop[period] = _derived(rng, shape, registered, resident, floating)


def _derived(rng: random.Random, shape: tuple[float, float], registered: int, resident: int,
             floating: int) -> dict[str, int]:
    """The other facts follow registered population with the village's own ratios, give or take 1 %."""
    women_share, household_size = shape
    return {
        "registered_pop": registered,
        "resident_pop": resident,
        "floating_pop": floating,
        "married_women": round(registered * women_share * rng.uniform(0.99, 1.01)),
        "households": round(registered / household_size * rng.uniform(0.99, 1.01)),
        "groups": 0,
    }


def _shape(rng: random.Random) -> tuple[float, float]:
    """(married women per registered person, people per household) of one village."""
    return rng.uniform(0.15, 0.20), rng.uniform(3.3, 3.7)


# --- roster ---------------------------------------------------------------------------------------


@dataclass
class PersonSpec:
    org: str
    position: str
    start: date
    end: date
    status: str
    age: int | None = None  # age at start; None draws one
    birth: date | None = None  # exact birth date for edge cases
    education: str | None = None


class RosterMaker:
    def __init__(self, county: County, rng: random.Random, contacts: ContactMaker, surnames: str,
                 female_share: float, ages: tuple[int, int, int], education_weights: tuple[float, ...]):
        self.county, self.rng, self.contacts = county, rng, contacts
        self.names = NameMaker(rng, surnames)
        self.ids = IdMaker(county.code)
        self.female_share, self.ages, self.education_weights = female_share, ages, education_weights

    def add(self, spec: PersonSpec) -> None:
        rng = self.rng
        male = rng.random() >= self.female_share
        birth = spec.birth or birth_for_age(rng, spec.age or round(rng.triangular(*self.ages)), spec.start)
        phone, card = self.contacts.next()
        self.county.roster.append((
            self.ids.make(birth, male), self.names.make(male),
            spec.education or pick_education(rng, self.education_weights),
            phone, card, spec.position, spec.org, spec.start.isoformat(), spec.end.isoformat(), spec.status,
        ))


def month_start(rng: random.Random, first: date, last: date) -> date:
    months = (last.year - first.year) * 12 + last.month - first.month
    k = rng.randint(0, months)
    return date(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1)


def shishi_roster(county: County, rng: random.Random, contacts: ContactMaker) -> None:
    #               小学 初中 高中 中专 大专 本科 研究生
    maker = RosterMaker(county, rng, contacts, SURNAMES_MINNAN, 0.7, (25, 55, 40), (0, 25, 30, 15, 22, 7, 1))
    batch_start, batch_end = date(2023, 1, 1), date(2025, 12, 31)
    villages = county.villages
    picks = rng.sample(range(len(villages)), len(villages))
    dismissed, ended = picks[:5], picks[5:13]
    # Edge cases of SS-2 (age 25-55 on the approval date, education ≥ 初中), on the primary post.
    edges = {
        picks[13]: PersonSpec("", "", batch_start, batch_end, "", birth=date(1998, 1, 1)),  # turns 25 that day
        picks[14]: PersonSpec("", "", batch_start, batch_end, "", birth=date(1967, 1, 2)),  # 55, 56 tomorrow
        picks[15]: PersonSpec("", "", batch_start, batch_end, "", birth=date(1967, 1, 1)),  # turns 56: too old
        picks[16]: PersonSpec("", "", batch_start, batch_end, "", age=24),
        picks[17]: PersonSpec("", "", batch_start, batch_end, "", age=57),
        picks[18]: PersonSpec("", "", batch_start, batch_end, "", education="小学"),
        picks[19]: PersonSpec("", "", batch_start, batch_end, "", education="小学"),
    }
    dismissal_dates = (date(2024, 3, 15), date(2024, 5, 10), date(2024, 6, 30), date(2024, 8, 20), date(2024, 10, 31))
    for i, v in enumerate(villages):
        if i in ended:  # the 2020 batch, not renewed in 2023
            maker.add(PersonSpec(v.code, "XGY", date(2020, 1, 1), date(2022, 12, 31), "ended"))
        if i in dismissed:  # SS-4; the filler's term ends with the batch (SS-3)
            gone = dismissal_dates[dismissed.index(i)]
            maker.add(PersonSpec(v.code, "XGY", batch_start, gone, "dismissed"))
            filler = month_start(rng, gone + timedelta(days=45), gone + timedelta(days=120))
            maker.add(PersonSpec(v.code, "XGY", filler, batch_end, "active"))
            continue
        edge = edges.get(i)
        if edge:
            maker.add(PersonSpec(v.code, "XGY", batch_start, batch_end, "active", edge.age, edge.birth,
                                 edge.education))
        else:
            maker.add(PersonSpec(v.code, "XGY", batch_start, batch_end, "active"))
    # A second assistant in 17 of the villages whose SS-1 quota is 3 or more.
    big = [i for i, v in enumerate(villages) if math.ceil(v.pop["2025"]["resident_pop"] / 1500) >= 3]
    for i in sorted(rng.sample(big, min(17, len(big)))):
        maker.add(PersonSpec(villages[i].code, "XGY", batch_start, batch_end, "active"))


def guanling_roster(county: County, rng: random.Random, contacts: ContactMaker) -> None:
    #               小学 初中 高中 中专 大专 本科 研究生
    maker = RosterMaker(county, rng, contacts, SURNAMES_GUIZHOU, 0.8, (22, 45, 32), (0, 20, 30, 20, 22, 7, 0.5))
    villages = county.villages
    picks = rng.sample(range(len(villages)), len(villages))
    dismissed, ended = picks[:4], picks[4:10]
    refill_months = (1, 2, 2, 4)  # GL-3: refill within two months; the last one is late
    # Edge cases of GL-2 (age ≤ 40 at first hire, education ≥ 高中/中专).
    edge_ages = {picks[10]: 40, picks[11]: 41, picks[12]: 47, picks[13]: 49, picks[14]: 20}
    edge_education = {picks[15]: "小学", picks[16]: "初中"}
    for i, v in enumerate(villages):
        if i in dismissed:
            start = month_start(rng, date(2022, 3, 1), date(2023, 6, 1))
            gone = date(2024, rng.randint(2, 10), rng.randint(1, 28))
            maker.add(PersonSpec(v.code, "RKZR", start, gone, "dismissed"))
            months = refill_months[dismissed.index(i)]
            refill = gone + timedelta(days=30 * months)
            maker.add(PersonSpec(v.code, "RKZR", refill, term_end(refill), "active"))
            continue
        if i in ended:  # served a full term; the successor starts the next day
            start = month_start(rng, date(2020, 12, 1), date(2021, 9, 1))
            maker.add(PersonSpec(v.code, "RKZR", start, term_end(start), "ended"))
            start = term_end(start) + timedelta(days=1)
        else:
            start = month_start(rng, date(2023, 12, 1), date(2025, 10, 1))
        maker.add(PersonSpec(v.code, "RKZR", start, term_end(start), "active", edge_ages.get(i),
                             education=edge_education.get(i)))
    # GL-1: a second director in villages above 2,000, a third in two above 5,000.
    two = [i for i, v in enumerate(villages) if v.pop["2025"]["registered_pop"] > 2000]
    three = [i for i, v in enumerate(villages) if v.pop["2025"]["registered_pop"] > 5000]
    for i in sorted(rng.sample(two, min(22, len(two)))) + sorted(rng.sample(three, min(2, len(three)))):
        start = month_start(rng, date(2023, 12, 1), date(2025, 10, 1))
        maker.add(PersonSpec(villages[i].code, "RKZR", start, term_end(start), "active"))
    # 特岗计生员: one per village where the post has been filled so far.
    for i in sorted(rng.sample(range(len(villages)), 28)):
        start = month_start(rng, date(2023, 12, 1), date(2025, 10, 1))
        maker.add(PersonSpec(villages[i].code, "TGJSY", start, term_end(start), "active"))


# --- output ---------------------------------------------------------------------------------------


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def write_county(county: County) -> None:
    folder = ROOT / "tenants" / county.slug
    pop_rows = [(v.code, period, *(v.pop[period][f] for f in POP_HEADER[2:])) for v in county.villages
                for period in PERIODS]
    roster = sorted(county.roster, key=lambda r: (r[6], r[5], r[7], r[0]))
    counts = {
        "orgunits.csv": write_csv(folder / "orgunits.csv", ORG_HEADER, list(county.orgs)),
        "population.csv": write_csv(folder / "population.csv", POP_HEADER, pop_rows),
        "roster.csv": write_csv(folder / "roster.csv", ROSTER_HEADER, list(roster)),
    }
    levels = {lvl: sum(1 for r in county.orgs if r[2] == lvl) for lvl in ("county", "town", "village", "group")}
    print(f"{folder.relative_to(ROOT)}: " + ", ".join(f"{k} {v} rows" for k, v in counts.items())
          + f"  (levels: {levels})")


def shishi(rng: random.Random, contacts: ContactMaker) -> County:
    county = County("shishi", "350581", "石狮市")
    towns = [(suffix, name, [(c, True) for c in communities.split()] + [(x, False) for x in villages.split()])
             for suffix, name, communities, villages in SHISHI_TOWNS]
    build_tree(county, towns)
    shishi_population(county, rng)
    add_groups(county, rng, "resident_pop", 900, "long")
    shishi_roster(county, rng, contacts)
    return county


def guanling(rng: random.Random, contacts: ContactMaker) -> County:
    county = County("guanling", "520424", "关岭布依族苗族自治县")
    pool = place_pool("west")
    total = sum(c + v for _, _, c, v in GUANLING_TOWNS)
    names = rng.sample(pool, total)  # unique across the county, so unique within each town
    towns = []
    for suffix, town_name, communities, villages in GUANLING_TOWNS:
        mine, names = names[: communities + villages], names[communities + villages:]
        towns.append((suffix, town_name, [(n, i < communities) for i, n in enumerate(mine)]))
    build_tree(county, towns)
    guanling_population(county, rng)
    add_groups(county, rng, "registered_pop", 550, "short")
    guanling_roster(county, rng, contacts)
    return county


def main() -> None:
    rng = random.Random(SEED)
    contacts = ContactMaker(rng)  # one maker: no phone or card number repeats across the tenants
    for county in (shishi(rng, contacts), guanling(rng, contacts)):
        write_county(county)


if __name__ == "__main__":
    main()
