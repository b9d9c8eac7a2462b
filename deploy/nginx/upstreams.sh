#!/bin/sh
# Keep nginx's upstream list equal to the addresses of the app service, stale on error.
#
# nginx 1.22 (Debian's) resolves the servers of an `upstream` block only when it loads its
# config, so this loop asks the container's DNS (Docker's, podman's aardvark-dns, kube-dns)
# for the service every LINKFLEET_UPSTREAM_REFRESH seconds and, when the set of addresses
# changed, rewrites the servers file and reloads nginx (graceful: in-flight requests finish).
# When the lookup fails or answers nothing, the last list stays: a DNS server that misses a
# query while it reloads (aardvark-dns before 1.11 tears down its sockets whenever a
# container joins the network, containers/aardvark-dns#389) must not turn into 502s, which it
# did with nginx resolving at request time.
#
#   upstreams.sh once   write the servers file (a placeholder when nothing resolves), no reload
#   upstreams.sh watch  refresh forever, reloading nginx on a change
set -u
service="${LINKFLEET_APP_SERVICE:-app:8000}"
servers_file="${LINKFLEET_UPSTREAM_CONF:-/etc/nginx/linkfleet-upstream.conf}"
interval="${LINKFLEET_UPSTREAM_REFRESH:-2}"
pid_file="${LINKFLEET_NGINX_PID:-/run/nginx.pid}"
host="${service%:*}"
port="${service##*:}"

# The service's IPv4 addresses, sorted, one per line; nothing when the lookup fails.
addresses() {
  getent ahostsv4 "$host" 2>/dev/null | awk '{ print $1 }' | sort -u
}

# Write the servers for $1 (addresses); "true" when the file changed.
write_servers() {
  if [ -n "$1" ]; then
    body=$(printf '%s\n' "$1" | awk -v port="$port" \
      '{ printf "server %s:%s max_fails=1 fail_timeout=2s;\n", $1, port }')
  else
    # No replica known yet: a server marked down keeps the config valid (nginx answers 502).
    body="server 127.0.0.1:9 down;"
  fi
  if [ -f "$servers_file" ] && [ "$(cat "$servers_file")" = "$body" ]; then
    return 1
  fi
  printf '%s\n' "$body" > "$servers_file.new" && mv "$servers_file.new" "$servers_file"
}

case "${1:-watch}" in
  once)
    current=$(addresses)
    write_servers "$current" || true
    ;;
  watch)
    while sleep "$interval"; do
      current=$(addresses)
      [ -n "$current" ] || continue  # lookup failed: keep the last list
      if write_servers "$current"; then
        echo "linkfleet-nginx: upstream now $(printf '%s' "$current" | tr '\n' ' ')" >&2
        kill -HUP "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null || true  # nginx -s reload
      fi
    done
    ;;
  *)
    echo "usage: upstreams.sh once|watch" >&2
    exit 2
    ;;
esac
