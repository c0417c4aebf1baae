#!/bin/sh
# Compose secrets become environment variables: a file /run/secrets/NAME (NAME in capitals,
# e.g. TRACEHOP_SCREEN_TOKEN or PGPASSWORD) is exported as NAME, so secrets stay out of
# compose.yaml, `docker inspect` and the image. Then the command runs in place of this shell.
set -eu
if [ -d /run/secrets ]; then
	for file in /run/secrets/*; do
		[ -f "$file" ] || continue
		name=$(basename "$file")
		case "$name" in
			*[!A-Z0-9_]* | [0-9]*) continue ;;
		esac
		value=$(cat "$file")
		export "$name=$value"
	done
fi
exec "$@"
