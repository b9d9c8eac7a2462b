"""Seed a fleet's database with a bench user and N links, and write their slugs to a file.

Runs against the database the fleet in LINKFLEET_RUN_DIR (default .run/) uses. Links are
inserted in bulk through SQLAlchemy Core: seeding 10,000 links takes about a second.
"""

from __future__ import annotations

import argparse
import secrets
import string
from pathlib import Path

from dotenv import load_dotenv
from sqlalchemy import insert, select

from service import create_app
from service.config import default_run_dir
from service.extensions import db
from service.extensions.types import utcnow
from service.models import Link, User
from service.passwords import hash_password

ALPHABET = string.ascii_letters + string.digits
BENCH_EMAIL = "bench@linkfleet.test"
BENCH_PASSWORD = "bench-password-123"  # noqa: S105 - a local benchmark account


def seed(count: int, slugs_file: Path, batch: int = 2000) -> list[str]:
    """Create (or reuse) the bench user and ``count`` bench links; return their slugs."""
    load_dotenv(default_run_dir() / "linkfleet.env", override=False)
    app = create_app()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == BENCH_EMAIL))
        if user is None:
            user = User(email=BENCH_EMAIL, password_hash=hash_password(BENCH_PASSWORD))
            db.session.add(user)
            db.session.commit()
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
            slugs.extend(row["slug"] for row in rows)
    slugs_file.parent.mkdir(parents=True, exist_ok=True)
    slugs_file.write_text("\n".join(slugs) + "\n")
    return slugs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=10_000, help="how many links (10,000)")
    parser.add_argument("--slugs-file", type=Path, default=default_run_dir() / "bench-slugs.txt")
    args = parser.parse_args()
    slugs = seed(args.links, args.slugs_file)
    print(f"{len(slugs)} links seeded; slugs in {args.slugs_file}")
    print(f"dashboard account: {BENCH_EMAIL} / {BENCH_PASSWORD}")


if __name__ == "__main__":
    main()
