"""Synthetic tenants at province or national scale, for load and benchmark runs.

    python bench/generate.py --scale tiny|province|national --out DIR [--groups] [--seed N]

writes ``DIR/t00001/`` … one folder per tenant, each a tenant folder the platform can load:
``tenant.yaml`` (slug, name, region path, locale), ``orgunits.csv``, ``population.csv`` (period
``2025``) and ``roster.csv``, in the formats of ``tenants/shishi/``. The sizes are the ones the
design has to hold (see ``SCALES``); national is 2,800 counties, 600,000 villages and a million
staff, and must be written in well under two minutes, so rows are built with string joins and
the expensive parts (ID check characters, dates, name pools) are precomputed.

Same seed, same scale, same flags → byte-identical output.

Choices a reader of the data should know:

* Org and region codes are synthetic but well-formed: ``PP`` a real province prefix, ``CC`` a
  prefecture code of 71-89 and ``DD`` a county number, so ID numbers validate and cannot clash
  with the demo tenants or with most real counties.
* Without ``--groups`` no group rows are written and ``population.groups`` is 0, so the column
  always equals the number of group rows below the village, as in the demo data.
* Odd-numbered tenants use the Shishi position ``XGY`` (quota SS-1), even-numbered ones
  Guanling's ``RKZR`` (quota GL-1); ``tenant.yaml`` declares that one position with the same
  quota formula as the demo tenant, because the loader rejects roster rows of unknown positions.
* About 93 % of staff are active, 5 % ended and 2 % dismissed (an end date in 2024).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from _names import (
    EDUCATION,
    SURNAMES_COMMON,
    SURNAMES_GUIZHOU,
    SURNAMES_MINNAN,
    ContactMaker,
    IdMaker,
    NameMaker,
    apportion,
    group_name,
    place_pool,
    term_end,
)

from app.core.idcard import parse_id_number


@dataclass(frozen=True)
class Scale:
    tenants: int
    towns: int
    villages: int
    staff: int
    provinces: int


SCALES = {
    "tiny": Scale(tenants=3, towns=12, villages=60, staff=66, provinces=1),
    "province": Scale(tenants=85, towns=1_100, villages=15_000, staff=16_500, provinces=1),
    "national": Scale(tenants=2_800, towns=40_000, villages=600_000, staff=1_000_000, provinces=31),
}

# The 31 mainland provinces' GB/T 2260 prefixes, so generated ID numbers pass validation.
PROVINCE_CODES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                  "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65")
TENANTS_PER_CITY = 10
PERIOD = "2025"
ORG_HEADER = "code,parent_code,level,name"
POP_HEADER = "org_code,period,registered_pop,resident_pop,floating_pop,married_women,households,groups"
ROSTER_HEADER = "id_number,name,education,phone,bank_card,position_code,org_code,start,end,status"
#                    小学 初中 高中 中专 大专 本科 研究生
EDUCATION_WEIGHTS = (2, 22, 30, 16, 21, 8, 1)
# The position each tenant staffs, as a tenant.yaml block (same formulas as tenants/*/tenant.yaml).
POSITIONS = {
    "XGY": ("positions:\n  - code: XGY\n    name: 村级计生社保协管员\n    org_level: village\n"
            "    quota: MAX(1, CEILING(计生常住人口 / 1500))\n    term_years: 3\n"),
    "RKZR": ("positions:\n  - code: RKZR\n    name: 村级人口主任\n    org_level: village\n"
             "    quota: BRACKETS(户籍人口, 2000, 1, 5000, 2, 3)\n    term_years: 3\n"),
}


@dataclass(frozen=True)
class Tenant:
    number: int
    region_code: str
    province: int
    city: int
    style: str  # place-name style: "south" or "west"


def position(tenant: Tenant) -> str:
    return "XGY" if tenant.number % 2 else "RKZR"


def plan_tenants(scale: Scale, rng: random.Random) -> list[Tenant]:
    """Spread the tenants over provinces and prefectures and give each a unique region code."""
    per_province = apportion(scale.tenants, scale.provinces, rng, spread=0.4)
    tenants: list[Tenant] = []
    for p, count in enumerate(per_province):
        cities = max(1, -(-count // TENANTS_PER_CITY))
        if cities > 19:
            raise ValueError("too many prefectures in one province for codes 71-89")
        style = "south" if p % 2 == 0 else "west"
        for c, in_city in enumerate(apportion(count, cities, rng, spread=0.3)):
            for d in range(in_city):
                code = f"{PROVINCE_CODES[p]}{71 + c:02d}{d + 1:02d}"
                tenants.append(Tenant(len(tenants) + 1, code, p + 1, c + 1, style))
    return tenants


@dataclass
class Dates:
    """Term starts (first of a month, 2022-01 … 2025-10) with their ISO text, precomputed."""

    starts: list[tuple[int, str, str]]  # (ordinal, start iso, end iso)
    dismissals: list[str]  # ISO dates in 2024

    @classmethod
    def build(cls) -> Dates:
        starts = []
        for year in range(2022, 2026):
            for month in range(1, 13):
                if (year, month) > (2025, 10):
                    break
                d = date(year, month, 1)
                starts.append((d.toordinal(), d.isoformat(), term_end(d).isoformat()))
        dismissals = [date.fromordinal(date(2024, 1, 1).toordinal() + k).isoformat() for k in range(366)]
        return cls(starts, dismissals)


class Generator:
    def __init__(self, scale: Scale, out: Path, seed: int, groups: bool):
        self.scale, self.out, self.groups = scale, out, groups
        self.rng = random.Random(seed)
        self.contacts = ContactMaker(self.rng)
        self.dates = Dates.build()
        self.pools = {"south": place_pool("south"), "west": place_pool("west")}
        self.group_names = {c: [group_name(g, c) for g in range(1, 4)] for c in (False, True)}
        self.counts = {"tenants": 0, "towns": 0, "villages": 0, "groups": 0, "staff": 0, "bytes": 0}

    def run(self) -> None:
        rng, scale = self.rng, self.scale
        tenants = plan_tenants(scale, rng)
        towns_per_tenant = apportion(scale.towns, scale.tenants, rng, spread=0.5)
        villages_per_town = apportion(scale.villages, scale.towns, rng, spread=0.6)
        # Staff per village: everyone gets the floor, the remainder goes to villages drawn at random.
        base, extra = divmod(scale.staff, scale.villages)
        staff_per_village = [base] * scale.villages
        for i in rng.sample(range(scale.villages), extra):
            staff_per_village[i] += 1
        town_at = village_at = 0
        for tenant, n_towns in zip(tenants, towns_per_tenant):
            town_sizes = villages_per_town[town_at:town_at + n_towns]
            n_villages = sum(town_sizes)
            self.write_tenant(tenant, town_sizes, staff_per_village[village_at:village_at + n_villages])
            town_at += n_towns
            village_at += n_villages

    def write_tenant(self, tenant: Tenant, town_sizes: list[int], staff_per_village: list[int]) -> None:
        rng = self.rng
        slug = f"t{tenant.number:05d}"
        county = tenant.region_code
        pool = self.pools[tenant.style]
        org = [ORG_HEADER, f"{county},,county,合成县{tenant.number:05d}"]
        pop = [POP_HEADER]
        villages: list[str] = []
        n_groups = 3 if self.groups else 0
        for t, (town_name, size) in enumerate(zip(rng.sample(pool, len(town_sizes)), town_sizes), start=1):
            town = f"{county}{t:03d}"
            suffix = "街道" if t == 1 and len(town_sizes) > 3 else ("乡" if rng.random() < 0.2 else "镇")
            org.append(f"{town},{county},town,{town_name}{suffix}")
            communities = size // 5 if suffix == "街道" else 0
            for v, name in enumerate(rng.sample(pool, size), start=1):
                code = f"{town}{v:03d}"
                villages.append(code)
                community = v <= communities
                org.append(f"{code},{town},village,{name}{'社区' if community else '村'}")
                for g in range(n_groups):
                    org.append(f"{code}{g + 1:02d},{code},group,{self.group_names[community][g]}")
                registered = rng.randint(500, 9000)
                floating = rng.randint(0, registered // 3)
                resident = registered * rng.randint(80, 100) // 100 + floating
                pop.append(f"{code},{PERIOD},{registered},{resident},{floating},"
                           f"{registered * rng.randint(15, 20) // 100},{registered * 2 // 7},{n_groups}")
        roster = [ROSTER_HEADER, *self.roster(tenant, villages, staff_per_village)]
        folder = self.out / slug
        folder.mkdir(parents=True, exist_ok=True)
        yaml = (f"slug: {slug}\nname: 合成县{tenant.number:05d}\n"
                f"region: [合成省{tenant.province:02d}, 合成市{tenant.city:02d}]\nlocale: zh\n"
                + POSITIONS[position(tenant)])
        for name, text in (("tenant.yaml", yaml), ("orgunits.csv", "\n".join(org) + "\n"),
                           ("population.csv", "\n".join(pop) + "\n"), ("roster.csv", "\n".join(roster) + "\n")):
            data = text.encode("utf-8")
            (folder / name).write_bytes(data)
            self.counts["bytes"] += len(data)
        parse_id_number(roster[1].split(",", 1)[0])  # the fast ID maker must agree with the validator
        self.counts["tenants"] += 1
        self.counts["towns"] += len(town_sizes)
        self.counts["villages"] += len(villages)
        self.counts["groups"] += len(villages) * n_groups
        self.counts["staff"] += len(roster) - 1

    def roster(self, tenant: Tenant, villages: list[str], staff_per_village: list[int]) -> list[str]:
        rng = self.rng
        surnames = SURNAMES_MINNAN if tenant.style == "south" and rng.random() < 0.5 else (
            SURNAMES_GUIZHOU if tenant.style == "west" and rng.random() < 0.5 else SURNAMES_COMMON)
        names = NameMaker(rng, surnames)
        ids = IdMaker(tenant.region_code)
        code = position(tenant)
        starts, dismissals = self.dates.starts, self.dates.dismissals
        educations = rng.choices(EDUCATION, weights=EDUCATION_WEIGHTS, k=sum(staff_per_village))
        rows: list[str] = []
        for village, count in zip(villages, staff_per_village):
            for _ in range(count):
                male = rng.random() < 0.3
                ordinal, start, end = rng.choice(starts)
                born = date.fromordinal(ordinal - rng.randint(22 * 365 + 6, 55 * 365 + 13))
                roll = rng.random()
                if roll < 0.93:
                    status = "active"
                elif roll < 0.98:
                    status, start, end = "ended", "2019-01-01", "2021-12-31"
                else:
                    status, end = "dismissed", rng.choice(dismissals)
                    start = min(start, "2023-12-01")
                phone, card = self.contacts.next()
                rows.append(f"{ids.make(born, male)},{names.make(male)},{educations[len(rows)]},{phone},"
                            f"{card},{code},{village},{start},{end},{status}")
        return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", choices=sorted(SCALES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the tenant folders into")
    parser.add_argument("--groups", action="store_true", help="add 3 村民小组 rows under every village")
    parser.add_argument("--seed", type=int, default=2800)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generator = Generator(SCALES[args.scale], args.out, args.seed, args.groups)
    generator.run()
    c = generator.counts
    print(f"{args.scale}: wrote {c['tenants']:,} tenants, {c['towns']:,} towns, {c['villages']:,} villages, "
          f"{c['groups']:,} groups, {c['staff']:,} staff to {args.out} "
          f"({c['bytes'] / 1e6:,.1f} MB) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
