#!/usr/bin/env bash
# What tests/integration/test_jasmin.py needs: Redis and RabbitMQ (Debian packages; the test starts its
# own instances on loopback, so no service is started or enabled here) and Jasmin 0.11.0 (PyPI) in its
# own virtualenv, outside the repository: ${DUNLINE_CACHE:-~/.cache/dunline}/jasmin-venv.
# Pinned: 0.11.1 never hands receipts or replies to an SMPP user ('SubmitSM' object has no attribute
# 'response', jookies/jasmin#1236).
# The wheel carries no configuration: the sdist's misc/config (jasmin.cfg and resource/amqp0-9-1.xml)
# is copied to <venv>/share/jasmin. Idempotent: a finished setup is left as it is. Prints the venv path.
set -euo pipefail
version="0.11.0"
cache="${DUNLINE_CACHE:-$HOME/.cache/dunline}"
venv="$cache/jasmin-venv"
share="$venv/share/jasmin"
stamp="$venv/.dunline-jasmin-$version"

fail() {
  echo "setup-jasmin: $*" >&2
  exit 1
}
ready() {
  [ -f "$stamp" ] && [ -x "$venv/bin/jasmind.py" ] && [ -f "$share/resource/amqp0-9-1.xml" ] \
    && [ -f "$share/jasmin.cfg" ]
}

# 1. the Python for the virtualenv
# Jasmin 0.11.0's pins (Twisted 23.10, cryptography 41, falcon 3.1) want Python 3.8 to 3.11
python="${JASMIN_PYTHON:-}"
if [ -z "$python" ] && ! ready; then
  for candidate in python3.11 /usr/bin/python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then
      python=$(command -v "$candidate")
      break
    fi
  done
fi
if ! ready; then
  [ -n "$python" ] || fail "no python3 found (set JASMIN_PYTHON to a Python 3.8-3.11)"
  "$python" -c 'import sys; assert (3, 8) <= sys.version_info[:2] <= (3, 11)' 2>/dev/null \
    || echo "setup-jasmin: warning: $python is not Python 3.8-3.11; Jasmin $version may not install" >&2
fi

# 2. Redis and RabbitMQ from Debian (and venv support for Debian's own Python)
need=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
if ! ready && [[ "$python" == /usr/bin/* ]] && ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "please install as root: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' services from starting (they would listen on the default ports): the test
  # starts its own instances; a policy-rc.d that was there already is left alone
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  echo "setup-jasmin: apt-get install ${need[*]}" >&2
  apt-get update -qq >&2 || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
    || fail "apt-get install ${need[*]} failed"
  if [ -n "$policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi

# 3. Jasmin in its own virtualenv
if ready; then
  echo "$venv"
  exit 0
fi

mkdir -p "$cache"
rm -rf "$venv"
echo "setup-jasmin: creating $venv with $python" >&2
"$python" -m venv "$venv" || fail "$python -m venv $venv failed (Debian: apt-get install python3-venv)"
"$venv/bin/pip" install -q --disable-pip-version-check "jasmin==$version" >&2 \
  || fail "pip install jasmin==$version failed (see above)"
"$venv/bin/python" -c 'import jasmin, twisted, txamqp, smpp.pdu, smpp.twisted' \
  || fail "jasmin==$version installed but does not import"
[ -x "$venv/bin/jasmind.py" ] || fail "jasmind.py missing from $venv/bin"

# 4. the configuration template and the AMQP spec, from the sdist (the wheel has neither)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
  -d "$tmp" "jasmin==$version" >&2 || fail "pip download of the jasmin==$version sdist failed"
sdist=$(find "$tmp" -maxdepth 1 -name "jasmin-$version.tar.gz" | head -n1)
[ -n "$sdist" ] || fail "no jasmin-$version.tar.gz in the download"
tar -xzf "$sdist" -C "$tmp" "jasmin-$version/misc/config" || fail "misc/config missing from $sdist"
mkdir -p "$share"
cp -r "$tmp/jasmin-$version/misc/config/." "$share/"
[ -f "$share/jasmin.cfg" ] || fail "jasmin.cfg missing from the sdist"
[ -f "$share/resource/amqp0-9-1.xml" ] || fail "resource/amqp0-9-1.xml missing from the sdist"

touch "$stamp"
echo "setup-jasmin: jasmin $version ready; config template $share/jasmin.cfg," \
  "AMQP spec $share/resource/amqp0-9-1.xml" >&2
echo "$venv"
