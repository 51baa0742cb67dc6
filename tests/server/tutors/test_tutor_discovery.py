"""GET /tutors: filters, sorting and keyset pagination over real PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
import httpx
import pytest

from models.tutor import rating_score
from server.settings import Settings
from tests.server.tutors.support import make_tutor

LIST = "/api/v1/tutors"


async def listing(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get(LIST, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def walk(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await listing(client, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= params.get("limit", 20)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def set_rating(db: asyncpg.Pool, tutor: dict[str, Any], rating: float, count: int = 10) -> None:
    """Totals as if ``count`` reviews averaged ``rating`` (the sum rounded; the score from it)."""
    total = min(max(round(rating * count), count), 5 * count)
    await db.execute("UPDATE tutor_profiles SET rating_avg = $2, rating_count = $3, rating_sum = $4, "
                     "rating_score = $5 WHERE user_id = $1", tutor["uuid"], rating, count, total,
                     rating_score(total, count))


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> list[dict[str, Any]]:
    """17 tutors with repeated ratings and rates, so ties must be broken by id."""
    subjects = [["Mathematics"], ["Physics", "Mathematics"], ["Computer Science"], ["French"], ["Chemistry"]]
    tutors = []
    for i in range(17):
        tutor = await make_tutor(client, db, settings, name=f"Tutor {i:02d}", subjects=subjects[i % 5],
                                 hourly_rate_cents=[3000, 4500, 6000][i % 3],
                                 headline=f"Headline {i}", bio="Friendly and patient.")
        await set_rating(db, tutor, [4.5, 4.8, 3.9, 5.0][i % 4], count=i)
        tutors.append(tutor)
    return tutors


async def expected_ids(db: asyncpg.Pool, order: str, where: str = "true") -> list[str]:
    rows = await db.fetch(f"SELECT user_id FROM tutor_profiles WHERE is_active AND {where} ORDER BY {order}")
    return [str(r["user_id"]) for r in rows]


async def test_sort_by_rating_walks_every_page_without_duplicates_or_gaps(
        client: httpx.AsyncClient, db: asyncpg.Pool, catalogue: list[dict[str, Any]]) -> None:
    items = await walk(client, sort="rating", limit=4)
    ids = [t["id"] for t in items]
    assert len(ids) == len(set(ids)) == 17
    assert ids == await expected_ids(db, "rating_score DESC, user_id ASC")


async def test_sort_by_price_walks_every_page_without_duplicates_or_gaps(
        client: httpx.AsyncClient, db: asyncpg.Pool, catalogue: list[dict[str, Any]]) -> None:
    items = await walk(client, sort="price", limit=3)
    ids = [t["id"] for t in items]
    assert len(ids) == len(set(ids)) == 17
    assert ids == await expected_ids(db, "hourly_rate_cents ASC, user_id ASC")


@pytest.mark.parametrize("limit", [1, 5, 16, 17, 100])
async def test_page_sizes_tile_the_listing(client: httpx.AsyncClient, db: asyncpg.Pool,
                                           catalogue: list[dict[str, Any]], limit: int) -> None:
    ids = [t["id"] for t in await walk(client, sort="price", limit=limit)]
    assert ids == await expected_ids(db, "hourly_rate_cents ASC, user_id ASC")


async def test_default_sort_is_rating_and_default_limit_is_20(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                              settings: Settings,
                                                              catalogue: list[dict[str, Any]]) -> None:
    for i in range(5):
        await make_tutor(client, db, settings, name=f"Extra {i}")
    page = await listing(client)
    assert len(page["items"]) == 20 and page["next_cursor"] is not None
    assert [t["id"] for t in page["items"]] == (await expected_ids(db, "rating_score DESC, user_id ASC"))[:20]
    rest = await listing(client, cursor=page["next_cursor"])
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None


async def test_filter_by_subject_slug_or_name(client: httpx.AsyncClient, db: asyncpg.Pool,
                                              catalogue: list[dict[str, Any]]) -> None:
    maths = {t["id"] for t in catalogue if "mathematics" in t["profile"]["subjects"]}
    assert {t["id"] for t in await walk(client, subject="mathematics", limit=2)} == maths
    cs = {t["id"] for t in catalogue if t["profile"]["subjects"] == ["computer-science"]}
    assert {t["id"] for t in await walk(client, subject="Computer Science")} == cs
    assert (await listing(client, subject="astrology"))["items"] == []


async def test_filter_by_max_rate(client: httpx.AsyncClient, catalogue: list[dict[str, Any]]) -> None:
    items = await walk(client, max_rate_cents=4500, currency="USD", sort="price", limit=5)
    assert {t["id"] for t in items} == {t["id"] for t in catalogue if t["profile"]["hourly_rate_cents"] <= 4500}
    assert all(t["hourly_rate_cents"] <= 4500 for t in items)
    assert (await listing(client, max_rate_cents=0, currency="USD"))["items"] == []


async def test_max_rate_compares_only_within_the_chosen_currency(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                 settings: Settings) -> None:
    pounds = await make_tutor(client, db, settings, hourly_rate_cents=4500, currency="GBP")
    euros = await make_tutor(client, db, settings, hourly_rate_cents=5000, currency="EUR")
    dollars = await make_tutor(client, db, settings, hourly_rate_cents=4000, currency="USD")
    # A bare 48 once let the £45 tutor through and kept the €50 one out: now each currency is its own scale.
    assert [t["id"] for t in await walk(client, max_rate_cents=4800, currency="EUR")] == []
    assert [t["id"] for t in await walk(client, max_rate_cents=5000, currency="EUR")] == [euros["id"]]
    assert [t["id"] for t in await walk(client, max_rate_cents=4800, currency="GBP")] == [pounds["id"]]
    assert [t["id"] for t in await walk(client, currency="USD")] == [dollars["id"]]
    # Without currency the first version's bare comparison stands (the contract's clients use it).
    bare = {t["id"] for t in await walk(client, max_rate_cents=4800)}
    assert {pounds["id"], dollars["id"]} <= bare and euros["id"] not in bare


async def test_subjects_lists_what_active_tutors_teach_with_counts(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                   settings: Settings) -> None:
    await make_tutor(client, db, settings, subjects=["Physics", "Mathematics"])
    await make_tutor(client, db, settings, subjects=["Mathematics"])
    gone = await make_tutor(client, db, settings, subjects=["Astrology", "Mathematics"])
    await db.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1", gone["uuid"])
    r = await client.get(f"{LIST}/subjects")
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [{"slug": "mathematics", "name": "Mathematics", "tutors": 2},
                                  {"slug": "physics", "name": "Physics", "tutors": 1}]}


async def test_text_query_matches_name_headline_bio_and_subject(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                settings: Settings) -> None:
    by_name = await make_tutor(client, db, settings, name="Grace Hopper")
    by_headline = await make_tutor(client, db, settings, headline="Compilers made HOPPING simple")
    by_bio = await make_tutor(client, db, settings, bio="I once met a grasshopper.")
    by_subject = await make_tutor(client, db, settings, subjects=["Hopscotch Theory"])
    await make_tutor(client, db, settings, name="Nobody Special", headline="Algebra", bio="Nothing")
    found = {t["id"] for t in await walk(client, q="hop")}
    assert found == {by_name["id"], by_headline["id"], by_bio["id"], by_subject["id"]}
    assert {t["id"] for t in await walk(client, q="GRACE")} == {by_name["id"]}


async def test_text_query_treats_wildcards_literally(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                     settings: Settings) -> None:
    percent = await make_tutor(client, db, settings, headline="100% pass rate")
    await make_tutor(client, db, settings, headline="Pass rate is high")
    await make_tutor(client, db, settings, headline="snake_case fan")
    assert [t["id"] for t in await walk(client, q="%")] == [percent["id"]]
    assert len(await walk(client, q="_")) == 1


async def test_filters_combine_and_paginate(client: httpx.AsyncClient, db: asyncpg.Pool,
                                            catalogue: list[dict[str, Any]]) -> None:
    items = await walk(client, subject="mathematics", max_rate_cents=4500, currency="USD", sort="rating", limit=2)
    expected = await expected_ids(
        db, "rating_score DESC, user_id ASC",
        "hourly_rate_cents <= 4500 AND user_id IN (SELECT tutor_id FROM tutor_subjects ts "
        "JOIN subjects s ON s.id = ts.subject_id WHERE s.slug = 'mathematics')")
    assert [t["id"] for t in items] == expected and expected


async def test_inactive_profiles_are_not_listed(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                catalogue: list[dict[str, Any]]) -> None:
    hidden = catalogue[3]
    await db.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1", hidden["uuid"])
    ids = [t["id"] for t in await walk(client, limit=50)]
    assert hidden["id"] not in ids and len(ids) == 16


async def test_empty_listing(client: httpx.AsyncClient) -> None:
    assert await listing(client) == {"items": [], "next_cursor": None}


async def test_listed_items_are_public_profiles(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, subjects=["Physics", "Art"])
    await set_rating(db, tutor, 4.666666, 3)
    (item,) = (await listing(client))["items"]
    assert item == {**tutor["profile"], "rating": 4.67, "rating_count": 3}
    assert item["subjects"] == ["art", "physics"]


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


SOME_ID = "6f1c2a9e-3d4b-4c5a-8e7f-0a1b2c3d4e5f"
BAD_CURSORS = ["garbage!!", _b64({"not": "a list"}), _b64(["rating", 4.5]),
               _b64(["rating", "high", SOME_ID]), _b64(["rating", 4.5, "not-a-uuid"]),
               _b64(["rating", True, SOME_ID]), _b64(["price", 3000, SOME_ID])]
# Keys no row can have, out of the columns' range: refused, never sent to PostgreSQL.
OUT_OF_RANGE_CURSORS = [("price", _b64(["price", 7585213302, SOME_ID])), ("price", _b64(["price", 4.5, SOME_ID])),
                        ("rating", _b64(["rating", 10**309, SOME_ID]))]


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=range(len(BAD_CURSORS)))
async def test_invalid_cursor_is_422(client: httpx.AsyncClient, cursor: str) -> None:
    r = await client.get(LIST, params={"cursor": cursor, "sort": "rating"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "query.cursor"


@pytest.mark.parametrize(("sort", "cursor"), OUT_OF_RANGE_CURSORS, ids=range(len(OUT_OF_RANGE_CURSORS)))
async def test_cursor_key_out_of_the_columns_range_is_422(client: httpx.AsyncClient, sort: str, cursor: str) -> None:
    r = await client.get(LIST, params={"cursor": cursor, "sort": sort})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_cursor"


async def test_cursor_from_another_sort_order_is_422(client: httpx.AsyncClient,
                                                     catalogue: list[dict[str, Any]]) -> None:
    cursor = (await listing(client, sort="price", limit=2))["next_cursor"]
    r = await client.get(LIST, params={"cursor": cursor, "sort": "rating"})
    assert r.status_code == 422


@pytest.mark.parametrize(("param", "value"), [("limit", "0"), ("limit", "101"), ("limit", "ten"),
                                              ("sort", "name"), ("max_rate_cents", "-1"), ("max_rate_cents", "x"),
                                              ("max_rate_cents", "7585213302"), ("q", "x" * 101),
                                              ("currency", "usd")])
async def test_bad_query_parameter_is_422_naming_it(client: httpx.AsyncClient, param: str, value: str) -> None:
    r = await client.get(LIST, params={param: value, **({"currency": "USD"} if param == "max_rate_cents" else {})})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["details"][0]["field"] == f"query.{param}"
