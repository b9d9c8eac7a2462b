#!/bin/sh
# Write the upstream servers of the app service (LINKFLEET_APP_SERVICE, default app:8000) once,
# keep them current in the background (deploy/nginx/upstreams.sh), then run nginx.
set -eu
/bin/sh /usr/local/bin/linkfleet-nginx-upstreams once
/bin/sh /usr/local/bin/linkfleet-nginx-upstreams watch &
exec "$@"
