#!/usr/bin/env bash
# Starts the servers the tests and benchmarks need (and installs chromium for the browser
# test), if they are not already there.
# Idempotent: a running server is left alone. Exits non-zero if one cannot be reached.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do
    if up "$port"; then echo "$name is up on 127.0.0.1:$port"; return 0; fi
    sleep 0.5
  done
  echo "$name did not come up on 127.0.0.1:$port" >&2
  return 1
}

if ! up 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
wait_for PostgreSQL 5432

if ! up 3306; then
  echo "starting MariaDB"
  # Its socket's directory lives on a tmpfs that a restart empties.
  install -d -m 0755 -o mysql -g root /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for MariaDB 3306
# The tests connect as mysql://root@127.0.0.1:3306/test.
mariadb -h 127.0.0.1 -P 3306 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'

if ! up 6379; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis 6379

# The dashboard's browser test drives Debian's chromium.
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get install -y --no-install-recommends chromium ||
    { "${as_root[@]}" apt-get update && "${as_root[@]}" apt-get install -y --no-install-recommends chromium; }
fi
/usr/bin/chromium --version
