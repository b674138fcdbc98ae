#!/usr/bin/env bash
# Debian packages the document readers call at run time (and the tests with them): LibreOffice's
# writer, headless, converts .doc and Kingsoft .wps to .docx (qa/formats/office.py). Idempotent:
# installs only what is missing, so `make setup` costs nothing on a second run.
set -euo pipefail
missing=()
command -v soffice >/dev/null || missing+=(libreoffice-writer-nogui)
# The OCR tests and scripts/bench_ocr.py render their scanned pages in Noto Serif CJK (qa/formats/ocr.py).
[ -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} from Debian's packages" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "need root (or sudo) to install: apt-get install ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# another apt run (the browser's packages) may hold the lock: wait for it rather than fail
apt="$sudo apt-get -o DPkg::Lock::Timeout=600"
$apt install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { $apt update >/dev/null && $apt install -y --no-install-recommends "${missing[@]}" >/dev/null; }
