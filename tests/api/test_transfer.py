"""Import (LinkFleet, Shlink, YOURLS; CSV, JSON, NDJSON) and streamed export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.api.conftest import assert_problem
from tests.fixtures.accounts import Account, ApiClient

IMPORT = "/api/v1/links/import"


def post_file(
    api: ApiClient, body: str | bytes, content_type: str, query: str = "", **kw: Any
) -> Any:
    return api.post(f"{IMPORT}{query}", data=body, content_type=content_type, **kw)


def report_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def future() -> str:
    return (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0).isoformat()


def test_import_our_csv(api: ApiClient) -> None:
    body = (
        "slug,url,title,tags,redirect_type,expires_at,max_visits\r\n"
        f'one,https://one.example/,One,"a,b",301,{future()},10\r\n'
        "two,https://two.example/,,,,,\r\n"
        ",https://random.example/,No slug,,,,\r\n"
    )
    report = report_of(post_file(api, body, "text/csv"))
    assert report["format"] == "linkfleet"
    assert (report["rows"], report["created"], report["failed"]) == (3, 3, 0)
    assert report["complete"] is True
    one = api.get("/api/v1/links/one").get_json()
    assert one["tags"] == ["a", "b"]
    assert one["redirect_type"] == 301
    assert one["max_visits"] == 10
    two = api.get("/api/v1/links/two").get_json()
    assert two["redirect_type"] == 302
    assert two["max_visits"] is None
    assert two["title"] == ""
    listed = api.get("/api/v1/links?q=No+slug").get_json()
    assert len(listed) == 1
    assert api.client.get("/one").status_code == 301


def test_import_reports_bad_rows_and_keeps_the_good_ones(api: ApiClient, bob: Account) -> None:
    api.post("/api/v1/links", key=bob.key, json={"url": "https://bob.example/", "slug": "bobs"})
    body = (
        "slug,url,redirect_type,max_visits,expires_at\n"
        "good,https://ok.example/,,,\n"
        "bad slug,https://ok.example/,,,\n"
        "noscheme,example.com,,,\n"
        "api,https://ok.example/,,,\n"
        "bobs,https://ok.example/,,,\n"
        "redir,https://ok.example/,303,,\n"
        "visits,https://ok.example/,,-4,\n"
        "old,https://ok.example/,,,2001-01-01T00:00:00Z\n"
        "when,https://ok.example/,,,someday\n"
        "\n"
        "last,https://ok.example/,,,\n"
    )
    report = report_of(post_file(api, body, "text/csv"))
    assert report["rows"] == 10  # the blank line is not a row
    assert report["created"] == 2
    assert report["failed"] == 8
    by_row = {error["row"]: error for error in report["errors"]}
    assert set(by_row) == {2, 3, 4, 5, 6, 7, 8, 9}
    assert "slug" in by_row[2]["errors"]
    assert by_row[2]["slug"] == "bad slug"
    assert "url" in by_row[3]["errors"]
    assert "slug" in by_row[4]["errors"]  # reserved
    assert "taken" in by_row[5]["errors"]["slug"][0]  # someone else's slug
    assert "redirect_type" in by_row[6]["errors"]
    assert "max_visits" in by_row[7]["errors"]
    assert "expires_at" in by_row[8]["errors"]
    assert "expires_at" in by_row[9]["errors"]
    assert api.get("/api/v1/links/bobs", key=bob.key).get_json()["url"] == "https://bob.example/"


def test_import_is_idempotent_by_slug(api: ApiClient) -> None:
    body = "slug,url,title\nsame,https://v1.example/,First\n"
    assert report_of(post_file(api, body, "text/csv"))["created"] == 1
    again = report_of(post_file(api, body.replace("v1", "v2"), "text/csv"))
    assert (again["created"], again["skipped"], again["updated"]) == (0, 1, 0)
    assert api.get("/api/v1/links/same").get_json()["url"] == "https://v1.example/"
    updated = report_of(post_file(api, body.replace("v1", "v2"), "text/csv", "?on_conflict=update"))
    assert (updated["created"], updated["skipped"], updated["updated"]) == (0, 0, 1)
    assert api.get("/api/v1/links/same").get_json()["url"] == "https://v2.example/"


def test_duplicate_slugs_inside_one_file(api: ApiClient) -> None:
    body = "slug,url\ndup,https://a.example/\ndup,https://b.example/\n"
    report = report_of(post_file(api, body, "text/csv"))
    assert (report["created"], report["skipped"]) == (1, 1)
    assert api.get("/api/v1/links/dup").get_json()["url"] == "https://a.example/"


def test_import_shlink_csv(api: ApiClient) -> None:
    body = (
        "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\n"
        "2024-05-01T10:00:00+00:00,s.example,abc123,https://s.example/abc123,"
        "https://shlink.example/page,Shlink page,one|two,42\n"
        "2024-05-02T10:00:00+00:00,s.example,def456,https://s.example/def456,"
        "https://shlink.example/other,,,0\n"
    )
    report = report_of(post_file(api, body, "text/csv"))
    assert report["format"] == "shlink"
    assert (report["created"], report["failed"]) == (2, 0)
    assert report["ignored_columns"] == []
    link = api.get("/api/v1/links/abc123").get_json()
    assert link["url"] == "https://shlink.example/page"
    assert link["title"] == "Shlink page"
    assert link["tags"] == ["one", "two"]


@pytest.mark.parametrize(
    "body",
    [
        # a dump of the yourls_url table
        "keyword,url,title,timestamp,ip,clicks\n"
        "yr1,https://yourls.example/a,Title A,2020-01-01 10:00:00,127.0.0.1,12\n"
        "yr2,https://yourls.example/b,,2020-01-02 10:00:00,127.0.0.1,0\n",
        # the Import/Export plugin
        "source,target,hits\n/yr1/,https://yourls.example/a,12\n/yr2/,https://yourls.example/b,0\n",
    ],
)
def test_import_yourls_csv(api: ApiClient, body: str) -> None:
    report = report_of(post_file(api, body, "text/csv"))
    assert report["format"] == "yourls"
    assert (report["created"], report["failed"]) == (2, 0)
    assert api.get("/api/v1/links/yr1").get_json()["url"] == "https://yourls.example/a"


def test_unknown_columns_are_reported(api: ApiClient) -> None:
    report = report_of(post_file(api, "url,colour\nhttps://a.example/,red\n", "text/csv"))
    assert report["ignored_columns"] == ["colour"]
    assert report["created"] == 1


def test_import_json_array_and_ndjson(api: ApiClient) -> None:
    items = [
        {"slug": "j1", "url": "https://j.example/1", "tags": ["x"], "visits": 5, "short_url": "x"},
        {"slug": "j2", "url": "https://j.example/2", "expires_at": future(), "max_visits": 3},
        {"slug": "j3", "url": "https://j.example/3", "surprise": True},
        "not an object",
    ]
    report = report_of(post_file(api, json.dumps(items), "application/json"))
    assert (report["rows"], report["created"], report["failed"]) == (4, 2, 2)
    assert {error["row"] for error in report["errors"]} == {3, 4}
    assert "surprise" in report["errors"][0]["errors"]
    ndjson = "\n".join(
        json.dumps({"slug": f"n{i}", "url": f"https://n.example/{i}"}) for i in range(3)
    )
    report = report_of(post_file(api, ndjson + "\n", "application/x-ndjson"))
    assert report["created"] == 3
    assert api.get("/api/v1/links/n2").status_code == 200


def test_import_a_multipart_upload(api: ApiClient) -> None:
    data = {"file": (io.BytesIO(b"slug,url\nup1,https://up.example/\n"), "links.csv")}
    response = api.post(IMPORT, data=data, content_type="multipart/form-data")
    assert report_of(response)["created"] == 1
    missing = api.post(IMPORT, data={"other": "x"}, content_type="multipart/form-data")
    assert "file" in assert_problem(missing, 400)["errors"]


def test_a_broken_file_stops_with_what_was_read_so_far(api: ApiClient) -> None:
    body = '[{"slug": "ok1", "url": "https://a.example/"}, {"slug": "broken", "url": '
    report = report_of(post_file(api, body, "application/json"))
    assert report["created"] == 1
    assert report["complete"] is False
    assert "file" in report["errors"][-1]["errors"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("", "text/csv"),
        ("slug,title\nx,y\n", "text/csv"),
        ('{"links": []}', "application/json"),
        ("not json", "application/json"),
        (b"\xff\xfe\x00bad", "text/csv"),
        (b"\x89PNG\r\n\x1a\n", "application/x-ndjson"),
        (b"[\x89PNG]", "application/json"),
    ],
)
def test_unusable_files_are_400(api: ApiClient, body: str | bytes, content_type: str) -> None:
    body_json = assert_problem(post_file(api, body, content_type), 400)
    assert "file" in body_json["errors"]


def test_unknown_formats_are_415(api: ApiClient) -> None:
    assert_problem(post_file(api, b"<xml/>", "application/xml"), 415)
    assert_problem(post_file(api, b"x", "text/csv", "?format=yaml"), 422)


def test_too_large_imports_are_413(api: ApiClient, app: Flask) -> None:
    app.config["API_IMPORT_MAX_BYTES"] = 1000
    body = "url\n" + "https://example.com/\n" * 100
    assert_problem(post_file(api, body, "text/csv"), 413)


def test_errors_listed_are_capped(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.api import importer

    monkeypatch.setattr(importer, "MAX_REPORTED_ERRORS", 3)
    body = "slug,url\n" + "".join(f"s{i},not a url\n" for i in range(10))
    report = report_of(post_file(api, body, "text/csv"))
    assert report["failed"] == 10
    assert len(report["errors"]) == 3
    assert report["errors_truncated"] is True


def test_small_batches_commit_as_they_go(api: ApiClient, app: Flask) -> None:
    app.config["API_IMPORT_BATCH_SIZE"] = 7
    body = "url,tags\n" + "".join(f"https://b.example/{i},t{i % 3}\n" for i in range(50))
    report = report_of(post_file(api, body, "text/csv"))
    assert report["created"] == 50
    assert api.get("/api/v1/links?per_page=1").headers["X-Total-Count"] == "50"
    assert api.get("/api/v1/links?tag=t1&per_page=1").headers["X-Total-Count"] == "17"


# -- export -----------------------------------------------------------------------------------


def test_export_csv_and_json_round_trip(api: ApiClient, bob: Account, make_account: Any) -> None:
    api.create(
        slug="e1",
        title='Comma, and "quotes"',
        tags=["a", "b"],
        max_visits=4,
        forward_query=True,
        crawlable=True,
    )
    api.create(slug="e2", expires_at=future(), password="pw")
    api.post("/api/v1/links", key=bob.key, json={"url": "https://bob.example/", "slug": "b1"})

    response = api.get("/api/v1/links/export?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="linkfleet-links.csv"'
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["slug"] for row in rows] == ["e1", "e2"]
    assert rows[0]["title"] == 'Comma, and "quotes"'
    assert rows[0]["tags"] == "a,b"
    assert rows[1]["has_password"] == "true"
    assert (rows[0]["forward_query"], rows[0]["crawlable"]) == ("true", "true")
    assert (rows[1]["forward_query"], rows[1]["crawlable"]) == ("false", "false")

    exported = api.get("/api/v1/links/export?format=json")
    assert exported.mimetype == "application/json"
    items = exported.get_json()
    assert [item["slug"] for item in items] == ["e1", "e2"]
    assert items[0] == api.get("/api/v1/links/e1").get_json()

    # both files import back into another account as the same links
    carol = make_account("carol@example.com")
    api.delete("/api/v1/links/e1")
    api.delete("/api/v1/links/e2")
    report = report_of(
        api.post(IMPORT, key=carol.key, data=response.get_data(), content_type="text/csv")
    )
    assert (report["created"], report["failed"]) == (2, 0)
    again = report_of(
        api.post(IMPORT, key=carol.key, data=exported.get_data(), content_type="application/json")
    )
    assert (again["skipped"], again["failed"]) == (2, 0)
    e1 = api.get("/api/v1/links/e1", key=carol.key).get_json()
    assert e1["title"] == 'Comma, and "quotes"'
    assert e1["tags"] == ["a", "b"]
    assert e1["max_visits"] == 4
    assert (e1["forward_query"], e1["crawlable"]) == (True, True)
    e2 = api.get("/api/v1/links/e2", key=carol.key).get_json()
    assert (e2["forward_query"], e2["crawlable"]) == (False, False)


def test_import_reads_the_switches_cells(api: ApiClient) -> None:
    body = (
        "slug,url,forward_query,crawlable\r\n"
        "yes,https://one.example/,yes,1\r\n"
        "no,https://two.example/,0,\r\n"
        "bad,https://three.example/,maybe,TRUE\r\n"
    )
    report = report_of(post_file(api, body, "text/csv"))
    assert (report["created"], report["failed"]) == (2, 1)
    assert report["errors"][0]["slug"] == "bad"
    assert "forward_query" in report["errors"][0]["errors"]
    one = api.get("/api/v1/links/yes").get_json()
    assert (one["forward_query"], one["crawlable"]) == (True, True)
    two = api.get("/api/v1/links/no").get_json()
    assert (two["forward_query"], two["crawlable"]) == (False, False)


def test_export_of_many_links_comes_in_chunks(
    api: ApiClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.api import exporter

    monkeypatch.setattr(exporter, "CHUNK", 4)
    body = "url\n" + "".join(f"https://c.example/{i}\n" for i in range(10))
    report_of(post_file(api, body, "text/csv"))
    items = api.get("/api/v1/links/export?format=json").get_json()
    assert len(items) == 10
    assert len({item["slug"] for item in items}) == 10


def test_export_arguments_are_checked(api: ApiClient) -> None:
    assert "format" in assert_problem(api.get("/api/v1/links/export?format=xml"), 422)["errors"]
