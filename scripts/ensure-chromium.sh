#!/bin/sh
# ensure-chromium.sh: make sure Chromium is installed (for the browser tests
# of the dashboard, host/server/dashboard_browser_test.go, which start their
# own headless Chromium).
# Exit 0 when chromium (or $CHROMIUM) is found; install Debian's chromium with
# apt-get when running as root on Debian/Ubuntu; otherwise print the install
# line and exit 1. It never starts a browser.
set -u

INSTALL='apt-get update && apt-get install -y chromium'

if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
	exit 0
fi
for b in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: installing chromium" >&2
	if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
		if command -v chromium >/dev/null 2>&1; then
			exit 0
		fi
	fi
	echo "ensure-chromium: installing chromium failed" >&2
fi

echo "ensure-chromium: chromium not found; install it with: $INSTALL (or set CHROMIUM to a Chromium binary)" >&2
exit 1
