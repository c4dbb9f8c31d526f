"""The one price lookup: dated on-demand list prices (components/prices.json) turned into USD per
month, for the plan's estimate (planner/costs.py) and the sweep's leftovers (cli/sweep/).

prices.json is a subset of ../shared/prices/prices.json, plus the log rates (read from the same
infracost snapshot's golden files, which that table has none of): each item has its price, unit,
source, date and status; `hours_per_month` (730) turns an hourly price into a month.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources as package_files
from typing import Any, Optional


@lru_cache(maxsize=None)
def table() -> dict[str, Any]:
    return json.loads(package_files.files(__package__).joinpath("prices.json").read_text(encoding="utf-8"))


def hours_per_month() -> float:
    return float(table()["hours_per_month"])


def price(cloud: str, key: str) -> Optional[float]:
    """The unit price of `key` on `cloud`; None when the table has none."""
    item = table()["clouds"][cloud]["items"].get(key)
    return None if item is None else float(item["price"])


def monthly_hourly(cloud: str, key: str, quantity: float = 1) -> Optional[float]:
    """USD per month of `quantity` units priced by the hour, running all month."""
    unit = price(cloud, key)
    return None if unit is None else round(unit * quantity * hours_per_month(), 2)


def monthly_flat(cloud: str, key: str, quantity: float, factor: float = 1.0) -> Optional[float]:
    """USD per month of `quantity` units priced by the month (GB-month, key-month), times `factor`."""
    unit = price(cloud, key)
    return None if unit is None else round(unit * quantity * factor, 2)
