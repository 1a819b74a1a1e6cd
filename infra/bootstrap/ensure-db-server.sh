#!/usr/bin/env bash
# Makes sure a MySQL-compatible server binary exists (the tests and the demo start their
# own private server from it; nothing here starts or touches a system service).
# Found on PATH or in /usr/sbin: done. Else, as root on Debian: install mariadb-server.
set -euo pipefail
for name in mariadbd mysqld; do
  if command -v "$name" >/dev/null 2>&1 || [ -x "/usr/sbin/$name" ]; then
    exit 0
  fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "no MySQL-compatible server found: installing Debian's mariadb-server" >&2
  apt-get update -qq
  # In a container without an init system the package's own service does not start,
  # which is what we want; policy-rc.d may say so on stderr.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  exit 0
fi
echo "error: no mariadbd or mysqld found. Install MariaDB (Debian: sudo apt-get install mariadb-server)" >&2
echo "       or put a mariadbd binary on PATH." >&2
exit 1
