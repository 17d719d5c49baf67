"""Where a debtor may be: the time zones and regions of every known location (pure, cached).

Locations are the address (country, region, explicit zone) and each of the debtor's own phone numbers
(`phonenumbers` gives a number's zones and, for North American numbers, its state). A rule about local
time must hold in every zone found; a jurisdiction applies when any location is inside it.
"""

from __future__ import annotations

import functools
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as pn_timezone

from dunline.compliance.model import Account

# The address zone when only country and region are known. States spanning zones list every zone.
US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",), "AK": ("America/Anchorage", "America/Adak"), "AZ": ("America/Phoenix",),
    "AR": ("America/Chicago",), "CA": ("America/Los_Angeles",), "CO": ("America/Denver",),
    "CT": ("America/New_York",), "DE": ("America/New_York",), "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"), "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",), "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",), "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",), "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"), "LA": ("America/Chicago",), "ME": ("America/New_York",),
    "MD": ("America/New_York",), "MA": ("America/New_York",), "MI": ("America/Detroit", "America/Chicago"),
    "MN": ("America/Chicago",), "MS": ("America/Chicago",), "MO": ("America/Chicago",),
    "MT": ("America/Denver",), "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles",), "NH": ("America/New_York",), "NJ": ("America/New_York",),
    "NM": ("America/Denver",), "NY": ("America/New_York",), "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"), "OH": ("America/New_York",), "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"), "PA": ("America/New_York",),
    "RI": ("America/New_York",), "SC": ("America/New_York",), "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"), "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",), "VT": ("America/New_York",), "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",), "WV": ("America/New_York",), "WI": ("America/Chicago",),
    "WY": ("America/Denver",), "PR": ("America/Puerto_Rico",),
}  # fmt: skip


@functools.cache
def _zone_tab() -> dict[str, tuple[str, ...]]:
    """Country -> every zone in it, from the IANA `zone.tab` shipped in the `tzdata` package."""
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text("utf-8")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                out.setdefault(parts[0], []).append(parts[2])
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (the IANA `iso3166.tab`)."""
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text("utf-8")
    return frozenset(line.split("\t")[0] for line in text.splitlines() if line and not line.startswith("#"))


# Where the legal time differs from zone.tab's list: China has one legal time (Beijing time); zone.tab
# also lists Asia/Urumqi, the informal Xinjiang time.
LEGAL_ZONES: dict[str, tuple[str, ...]] = {"CN": ("Asia/Shanghai",)}


def country_zones(country: str) -> tuple[str, ...]:
    """Every zone of a country (a country spanning zones gives all of them: the strict reading)."""
    code = country.upper()
    names = LEGAL_ZONES.get(code) or _zone_tab().get(code, ())
    return tuple(z for z in names if zone(z) is not None)


US_STATE_NAMES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "washington d.c.": "DC", "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID",
    "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY",
    "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE",
    "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
    "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "washington state": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "puerto rico": "PR",
}  # fmt: skip
NYC_NAMES = frozenset(
    {"new york", "new york city", "nyc", "manhattan", "brooklyn", "queens", "bronx", "the bronx",
     "staten island"}
)  # fmt: skip


@functools.cache
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _area(number: str) -> str:
    """The part of a number its zones and region depend on: +1 NPA-NXX for North America (the
    geocoding data go no deeper), the whole number elsewhere. Keys the caches below, so a portfolio
    of a million numbers parses each area once, not each number."""
    return number[:8] if number.startswith("+1") and len(number) == 12 else number


_AREA_ZONES: dict[str, tuple[str, ...]] = {}
_AREA_LOCATION: dict[str, tuple[str | None, str | None]] = {}


def phone_zones(number: str) -> tuple[str, ...]:
    """The IANA zones of a number's area (empty when unknown or unparseable)."""
    key = _area(number)
    hit = _AREA_ZONES.get(key)
    if hit is None:
        hit = _phone_zones(number)
        if hit and len(_AREA_ZONES) < 200_000:  # an unknown answer is not cached for the whole area
            _AREA_ZONES[key] = hit
    return hit


def _phone_zones(number: str) -> tuple[str, ...]:
    try:
        num = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    names = pn_timezone.time_zones_for_number(num)
    return tuple(n for n in names if n != pn_timezone.UNKNOWN_TIMEZONE and zone(n) is not None)


def phone_location(number: str) -> tuple[str | None, str | None]:
    """(country, region) of a number: region is the US state for North American numbers, else None."""
    key = _area(number)
    hit = _AREA_LOCATION.get(key)
    if hit is None:
        hit = _phone_location(number)
        if hit[0] is not None and len(_AREA_LOCATION) < 200_000:
            _AREA_LOCATION[key] = hit
    return hit


def _phone_location(number: str) -> tuple[str | None, str | None]:
    try:
        num = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, None
    country = phonenumbers.region_code_for_number(num)
    if country != "US":
        return country, None
    text = geocoder.description_for_number(num, "en").strip()
    if len(text) > 4 and text[-4:-2] == ", " and text[-2:].isalpha() and text[-2:].isupper():
        return country, text[-2:]
    return country, US_STATE_NAMES.get(text.casefold())


@functools.cache
def valid_number(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def address_zones(account: Account) -> tuple[str, ...]:
    if account.timezone:
        return (account.timezone,) if zone(account.timezone) is not None else ()
    if account.country == "US":
        # the state's zones; with no state the address gives no zone (the numbers still do)
        return US_STATE_ZONES.get((account.region or "").upper(), ())
    return country_zones(account.country)


@functools.lru_cache(maxsize=65536)
def account_zones(account: Account) -> tuple[str, ...]:
    """Every zone the debtor may be in: the address and each of the debtor's own numbers."""
    found = list(address_zones(account))
    for p in account.phones:
        if p.role == "debtor" and not p.wrong_number:
            found.extend(phone_zones(p.number))
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=65536)
def primary_zone(account: Account) -> str | None:
    """The zone for what the debtor said in their own local time (the address, else the first phone)."""
    zones = address_zones(account) or account_zones(account)
    return zones[0] if zones else None


@functools.lru_cache(maxsize=65536)
def locations(account: Account) -> tuple[tuple[str, str | None, str | None], ...]:
    """(country, region, city) of the address and of each of the debtor's numbers."""
    out = [(account.country.upper(), account.region.upper() if account.region else None, account.city)]
    for p in account.phones:
        if p.role == "debtor" and not p.wrong_number:
            country, region = phone_location(p.number)
            if country:
                out.append((country, region, None))
    return tuple(dict.fromkeys(out))


def is_nyc(city: str | None) -> bool:
    return city is not None and city.strip().casefold() in NYC_NAMES
