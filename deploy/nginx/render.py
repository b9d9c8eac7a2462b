"""Render the top-level ``nginx.conf`` template for containers (compose, one DNS name per service).

The local fleet renders the same template with its replicas' ports (``service/fleet/render.py``);
here ``upstream_conf`` switches its upstream servers to a file that the image's
``upstreams.sh`` keeps equal to the app service's addresses, so both keep one set of proxy
settings. Needs only Jinja2, so the nginx image can run it in a build stage:

    python render.py nginx.conf > nginx.compose.conf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

#: Container paths, matching deploy/nginx/Dockerfile and deploy/nginx/entrypoint.sh.
CONTAINER_VARIABLES = {
    "worker_user": "www-data",
    "worker_processes": "auto",
    "run_dir": "/run",
    "log_dir": "/var/log/nginx",
    "nginx_temp": "/var/lib/nginx",
    "bind_host": "0.0.0.0",  # noqa: S104 - inside the container
    "port": 8080,
    "replicas": [],
    "upstream_conf": "/etc/nginx/linkfleet-upstream.conf",
}


def render(template: Path, **overrides: object) -> str:
    """The container config; ``overrides`` replace :data:`CONTAINER_VARIABLES` entries."""
    environment = Environment(
        loader=FileSystemLoader(str(template.parent)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - a config file, not HTML
    )
    return environment.get_template(template.name).render({**CONTAINER_VARIABLES, **overrides})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path, help="the top-level nginx.conf")
    parser.add_argument("--port", type=int, default=CONTAINER_VARIABLES["port"])
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.template, port=args.port))


if __name__ == "__main__":
    main()
