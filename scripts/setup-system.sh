#!/usr/bin/env bash
# System packages Dunline needs on Debian: debootstrap (to build the Asterisk 22 chroot when no system
# asterisk >= 20 is installed), sox (audio resampling), espeak-ng (Mandarin / fallback TTS) and
# chromium (the console's browser tests drive Debian's Chromium through Playwright), Pango, fonts, qpdf
# and poppler-utils (letters).
set -euo pipefail
need=()
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
# letters (WeasyPrint): Pango, DejaVu Serif for Latin and AR PL UMing for Chinese text; qpdf and
# pdftotext check the PDFs in the tests
[ -f /usr/share/fonts/truetype/arphic/uming.ttc ] || need+=(fonts-arphic-uming)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || need+=(fonts-dejavu-extra)
command -v qpdf >/dev/null 2>&1 || need+=(qpdf)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
if ! command -v asterisk >/dev/null 2>&1 && ! command -v debootstrap >/dev/null 2>&1 \
   && ! [ -x /usr/sbin/debootstrap ]; then
  need+=(debootstrap)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: please install as root: apt-get install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
