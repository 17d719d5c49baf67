#!/usr/bin/env bash
# Provision Asterisk >= 20 for Dunline.
# Prints the command prefix to run asterisk with ("" for a system asterisk, "chroot ROOT" otherwise).
# A system asterisk >= 20 on PATH wins; else a Debian sid chroot with asterisk 22 is built once and
# cached outside the repository (DUNLINE_CACHE, default ~/.cache/dunline).
set -euo pipefail
cache="${DUNLINE_CACHE:-$HOME/.cache/dunline}"
root="$cache/asterisk-sid"

if command -v asterisk >/dev/null 2>&1; then
  major=$(asterisk -V 2>/dev/null | sed -E 's/^Asterisk ([0-9]+).*/\1/')
  if [[ "$major" =~ ^[0-9]+$ ]] && (( major >= 20 )); then
    echo "system"
    exit 0
  fi
fi

if [[ -x "$root/usr/sbin/asterisk" && -f "$root/.dunline-ready" ]]; then
  echo "chroot:$root"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "provision-asterisk: building the Asterisk chroot needs root (or install asterisk >= 20)" >&2
  exit 1
fi

command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq >&2; apt-get install -y -qq debootstrap >&2; }
mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
[[ -n "$mirror" ]] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
[[ -n "$mirror" ]] || mirror="http://deb.debian.org/debian"

rm -rf "$root.tmp"
mkdir -p "$cache"
echo "provision-asterisk: debootstrap sid from $mirror into $root (about a minute)" >&2
debootstrap --variant=minbase sid "$root.tmp" "$mirror" >&2
chroot "$root.tmp" apt-get -o Acquire::Check-Valid-Until=false update >&2
DEBIAN_FRONTEND=noninteractive chroot "$root.tmp" apt-get install -y --no-install-recommends \
  asterisk asterisk-modules asterisk-core-sounds-en >&2
# the packaged service must not run: Dunline starts its own instances
touch "$root.tmp/.dunline-ready"
rm -rf "$root"
mv "$root.tmp" "$root"
echo "chroot:$root"
