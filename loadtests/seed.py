"""Seed a fleet's database with a bench user and N links, and write their slugs to a file.

Runs against the database the fleet in LINKFLEET_RUN_DIR (default .run/) uses. Links are
inserted in bulk through SQLAlchemy Core: seeding 10,000 links takes about a second.
With --env-file it also creates a read-write API key for the bench user and writes the
settings ``MixedUser`` reads (slugs file, API key, dashboard account) as shell exports.
"""

from __future__ import annotations

import argparse
import secrets
import string
from pathlib import Path

from flask import Flask
from sqlalchemy import insert, select

from service import create_app
from service.accounts.services import create_user, find_user
from service.api.keys import create_api_key
from service.config import config_with_env_file, default_run_dir
from service.extensions import db
from service.extensions.types import utcnow
from service.links.services import create_link, update_link
from service.models import Link

ALPHABET = string.ascii_letters + string.digits
#: A deliverable-looking address: sign-in refuses special-use domains such as ``.test``.
BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-123"  # noqa: S105 - a local benchmark account


def seed(
    count: int,
    slugs_file: Path,
    batch: int = 2000,
    env_file: Path | None = None,
    run_dir: Path | None = None,
) -> list[str]:
    """Create (or reuse) the bench user and ``count`` bench links; return their slugs.

    The database and Redis are those of the fleet in ``run_dir`` (default: the local one).
    With ``env_file``, also a fresh API key for that user, and every MixedUser setting
    written there as shell exports.
    """
    fleet_env = (run_dir or default_run_dir()) / "linkfleet.env"
    app = create_app(config_with_env_file(fleet_env))
    with app.app_context():
        user = find_user(BENCH_EMAIL) or create_user(BENCH_EMAIL, BENCH_PASSWORD)
        if env_file is not None:
            _, key = create_api_key(user.id, "locust")
            write_locust_env(env_file, slugs_file, key)
        existing = list(
            db.session.scalars(
                select(Link.slug).where(Link.owner_id == user.id, Link.slug.like("b%"))
            )
        )
        slugs = existing[:count]
        now = utcnow()
        while len(slugs) < count:
            rows = []
            for _ in range(min(batch, count - len(slugs))):
                slug = "b" + "".join(secrets.choice(ALPHABET) for _ in range(8))
                rows.append(
                    {
                        "slug": slug,
                        "url": f"https://example.org/articles/{slug}",
                        "title": "",
                        "redirect_type": 302,
                        "disabled": False,
                        "owner_id": user.id,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            db.session.execute(insert(Link), rows)
            db.session.commit()
            slugs.extend(str(row["slug"]) for row in rows)
    slugs_file.parent.mkdir(parents=True, exist_ok=True)
    slugs_file.write_text("\n".join(slugs) + "\n")
    return slugs


#: The hot path's link with redirect rules: five rules, each of another condition type; the
#: bench's request (``RULES_QUERY``, no user agent, no country, from the loopback) matches
#: only the last, so every condition is evaluated before the target is known.
RULES_SLUG = "bench-rules"
RULES_QUERY = "variant=b"
RULES_TARGET = "https://example.org/articles/variant-b"
RULES = [
    {"url": "https://example.org/ios", "conditions": [{"type": "device", "value": "ios"}]},
    {"url": "https://example.org/jp", "conditions": [{"type": "country", "value": "JP"}]},
    {"url": "https://example.org/fr", "conditions": [{"type": "language", "value": "fr"}]},
    {
        "url": "https://example.org/office",
        "conditions": [{"type": "network", "value": "203.0.113.0/24"}],
    },
    {"url": RULES_TARGET, "conditions": [{"type": "query", "name": "variant", "value": "b"}]},
]


def rules_link(app: Flask) -> str:
    """Create (or reset) the bench user's :data:`RULES_SLUG` link in ``app``; its slug."""
    with app.app_context():
        user = find_user(BENCH_EMAIL) or create_user(BENCH_EMAIL, BENCH_PASSWORD)
        link = db.session.scalar(select(Link).where(Link.slug == RULES_SLUG))
        if link is None:
            link = create_link(user, url="https://example.org/articles/rules", slug=RULES_SLUG)
        return update_link(link, rules=RULES).slug


def seed_rules_link(run_dir: Path | None = None) -> str:
    """:func:`rules_link` in the database of the fleet in ``run_dir`` (default: the local one)."""
    fleet_env = (run_dir or default_run_dir()) / "linkfleet.env"
    return rules_link(create_app(config_with_env_file(fleet_env)))


def write_locust_env(env_file: Path, slugs_file: Path, api_key: str) -> None:
    """Every MixedUser setting as shell exports; owner-only, since it holds a key."""
    env_file.write_text(
        f"export LINKFLEET_BENCH_SLUGS={slugs_file}\n"
        f"export LINKFLEET_BENCH_API_KEY={api_key}\n"
        f"export LINKFLEET_BENCH_EMAIL={BENCH_EMAIL}\n"
        f"export LINKFLEET_BENCH_PASSWORD={BENCH_PASSWORD}\n"
    )
    env_file.chmod(0o600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=10_000, help="how many links (10,000)")
    parser.add_argument("--slugs-file", type=Path, default=default_run_dir() / "bench-slugs.txt")
    parser.add_argument("--env-file", type=Path, help="also write Locust's settings here")
    args = parser.parse_args()
    slugs = seed(args.links, args.slugs_file, env_file=args.env_file)
    print(f"{len(slugs)} links seeded; slugs in {args.slugs_file}")
    print(f"dashboard account: {BENCH_EMAIL} / {BENCH_PASSWORD}")
    if args.env_file:
        print(f"Locust settings (with a new API key) in {args.env_file}")


if __name__ == "__main__":
    main()
