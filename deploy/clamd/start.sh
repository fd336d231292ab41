#!/bin/sh
# The signatures first (minutes on an empty volume, seconds after; a
# failed update is fine while older signatures are there), then freshclam
# as a daemon that checks 12 times a day (ClamAV's default), and clamd in
# the foreground.
set -e
if ! freshclam --stdout; then
	ls /var/lib/clamav/*.c[lv]d >/dev/null 2>&1 || { echo "clamd-start: no signatures yet and freshclam failed" >&2; exit 1; }
	echo "clamd-start: freshclam failed; starting on the signatures there" >&2
fi
freshclam --stdout --daemon --checks=12
exec clamd --foreground --config-file=/etc/clamav/clamd.conf
