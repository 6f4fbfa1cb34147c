"""Speed-ups that reach into a library's internals, kept in one place. Each is applied only
to the library versions it was measured and tested on (`TESTED`); on any other version it is
refused, the library runs as shipped, and the log says so once. Why each one pays is in
bench/RESULTS.md."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

log = logging.getLogger(__name__)

# The releases (by major.minor) each speed-up was measured on; requirements/*.lock pins one.
TESTED = {"gidgethub": ("6.0",), "psycopg": ("3.2", "3.3")}


def tested(package: str) -> bool:
    """The installed `package` is a release its speed-up was tested on."""
    try:
        installed = version(package)
    except PackageNotFoundError:
        return False
    if ".".join(installed.split(".")[:2]) in TESTED[package]:
        return True
    log.warning(
        "%s %s is not a version sla-bot's speed-up for it was tested on (%s): left off",
        package,
        installed,
        ", ".join(TESTED[package]),
    )
    return False


@functools.cache
def gidgethub_urls() -> bool:
    """gidgethub joins and parses every URL as a URI template, even one with no variables: for
    the label and comment writes every issue gets, that parse was a fifth of a call's CPU. A
    relative path with no template and no variables (gidgethub's verbs pass `{}` when none are
    given) is appended to the base URL (what the join gives), and the answer's content-type
    parse (the same for every answer) is remembered. Installed in gidgethub's module, where
    its `_make_request` looks both up on each call."""
    if not tested("gidgethub"):
        return False
    from gidgethub import sansio

    shipped = sansio.format_url

    def format_url(
        url: str, url_vars: Mapping[str, Any] | None, *, base_url: str = sansio.DOMAIN
    ) -> str:
        if not url_vars and url.startswith("/") and "{" not in url:
            return base_url.removesuffix("/") + url
        return shipped(url, url_vars, base_url=base_url)

    format_url.shipped = shipped  # type: ignore[attr-defined]
    sansio.format_url = format_url
    sansio._parse_content_type = functools.lru_cache(maxsize=32)(sansio._parse_content_type)
    return True


@functools.cache
def psycopg_group_inserts() -> bool:
    """psycopg caches its parse of a query's %(name)s placeholders only for queries up to
    4 KB and 50 parameters (psycopg discussion #628). Our group inserts are longer but come
    in few shapes, one per batch size, and were parsed again on every commit; the cache
    stays an LRU of 128 queries."""
    if not tested("psycopg"):
        return False
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 64 * 1024)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 1000)
    return True
