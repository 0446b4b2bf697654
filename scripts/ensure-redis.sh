#!/bin/sh
# ensure-redis.sh: make sure redis-server is installed (for the Redis
# integration tests, which start their own server on a free port).
# Exit 0 when redis-server is on PATH; install it with apt-get when running as
# root on Debian/Ubuntu; otherwise print the install line and exit 1.
# It never starts a server.
set -u

INSTALL='apt-get update && apt-get install -y redis-server'

if command -v redis-server >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-redis: installing redis-server" >&2
	# RUNLEVEL=1 asks invoke-rc.d not to start the packaged service (best
	# effort): the tests start their own server.
	if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
		RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; then
		if command -v redis-server >/dev/null 2>&1; then
			exit 0
		fi
	fi
	echo "ensure-redis: installing redis-server failed" >&2
fi

echo "ensure-redis: redis-server not found; install it with: $INSTALL" >&2
exit 1
