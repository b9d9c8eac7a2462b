#!/bin/sh
# Point nginx's resolver at the container's DNS server (Docker: 127.0.0.11; podman: the
# network's aardvark-dns), which knows every replica of the app service. NGINX_RESOLVER
# overrides it (e.g. kube-dns.kube-system.svc.cluster.local in Kubernetes).
set -eu
resolver="${NGINX_RESOLVER:-}"
if [ -z "$resolver" ]; then
  resolver=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
fi
[ -n "$resolver" ] || { echo "linkfleet-nginx: no nameserver in /etc/resolv.conf" >&2; exit 1; }
case "$resolver" in *:*:*) case "$resolver" in \[*) ;; *) resolver="[$resolver]" ;; esac ;; esac
printf 'resolver %s valid=5s ipv6=off;\nresolver_timeout 2s;\n' "$resolver" \
  > /etc/nginx/linkfleet-resolver.conf
exec "$@"
