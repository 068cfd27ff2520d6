"""Dashboard pages for project managers. Views only assemble: the figures come
from ``selectors``, the panels from ``panels``; ``?csv=<table>`` on any page
returns that table's numbers, ``?table=<table>`` a folded table's HTML."""

from .common import about
from .headcount import facility, park, province, region
from .programme import programme
from .work import work

__all__ = ["about", "facility", "park", "programme", "province", "region", "work"]
