#!/usr/bin/env bash
# Makes sure the system programs the tests run for real are present: Dovecot (IMAP), the
# PostgreSQL server binaries, Chromium (the operator page's browser tests) and the interop matrix's
# other IMAP servers (docs/interop.md). Installs them with apt-get when running as root; otherwise
# says exactly what to install. Quick when everything is there: only file checks.
set -euo pipefail

missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
# The operator page's browser tests drive Debian's Chromium through playwright-core.
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The interop matrix: GNU Mailutils imap4d does not conflict with Dovecot and installs normally.
[ -x /usr/sbin/imap4d ] || missing+=(mailutils-imap4d)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests: installing ${missing[*]} (apt-get)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages start system services; the tests run their own throwaway instances instead.
  (command -v service >/dev/null && service dovecot stop >/dev/null 2>&1) || true
  exit 0
fi

echo "tests: missing system packages: ${missing[*]}" >&2
echo "Install them, then run npm test again:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
