"""Synthetic but well-formed identifiers for seed and test data.

Every value passes the same check-digit validation as real input, and the
mapping from index to value is deterministic, so that loading twice creates the
same people and the same enterprises.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from stdnum.cn import ric, uscc

# County-level divisions of Guizhou. python-stdnum checks that a county existed
# in the holder's birth year, so a candidate that fails is skipped deterministically.
GUIZHOU_COUNTIES = [
    "520102", "520103", "520111", "520112", "520113", "520121", "520122", "520123",  # 贵阳
    "520203", "520281",  # 六盘水
    "520302", "520303", "520322", "520323",  # 遵义
    "520402", "520422",  # 安顺
    "520502", "520521", "520522",  # 毕节
    "520602", "520621", "520622",  # 铜仁
    "522301", "522322", "522323",  # 黔西南
    "522601", "522622", "522623", "522624",  # 黔东南
    "522701", "522722", "522723",  # 黔南
]  # fmt: skip

_BIRTH_EPOCH = dt.date(1986, 1, 1)
_BIRTH_SPAN_DAYS = 19 * 365  # born 1986–2004: of working age in 2026


def _with_check_digit(body: str) -> str:
    # stdnum's calc_check_digit expects a placeholder where the check digit goes.
    return body + ric.calc_check_digit(body + "0")


@lru_cache(maxsize=4096)
def _county_existed(county: str, year: int) -> bool:
    return ric.is_valid(_with_check_digit(f"{county}{year}0101000"))


def synthetic_id_card(index: int) -> str:
    """The ``index``-th synthetic resident ID-card number (unique per index).

    Index → (birth day, 3-digit sequence, county): distinct indexes give
    distinct (birth day, sequence) pairs for up to ~6.9 million people.
    """
    birth = _BIRTH_EPOCH + dt.timedelta(days=index % _BIRTH_SPAN_DAYS)
    sequence = (index // _BIRTH_SPAN_DAYS) % 1000
    for step in range(len(GUIZHOU_COUNTIES)):
        county = GUIZHOU_COUNTIES[(index + step) % len(GUIZHOU_COUNTIES)]
        if _county_existed(county, birth.year):
            return _with_check_digit(f"{county}{birth:%Y%m%d}{sequence:03d}")
    raise ValueError(f"no Guizhou county valid for birth year {birth.year}")


def synthetic_credit_code(index: int, *, division: str = "520100") -> str:
    """A unified social credit code of valid format (registration authority 9,
    enterprise type 1) for the ``index``-th sample enterprise."""
    body = f"91{division}{'MA' + format(index, '07d')}"
    return body + uscc.calc_check_digit(body)


def synthetic_phone(index: int) -> str:
    return f"13{(index * 7 + 1) % 10}{index % 100_000_000:08d}"
