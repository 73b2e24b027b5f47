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

# Servers that conflict with Dovecot (or with each other) as Debian packages are unpacked into a
# prefix of their own (the support module of each runs them from there); their libraries are
# installed normally. name:file-that-proves-it-is-there:packages
PREFIX=/opt/lokario-test
unpacked=(
  "cyrus:usr/lib/cyrus/bin/imapd:cyrus-common cyrus-imapd"
  # Courier IMAP: the daemons, the authentication library with its daemon, and its userdb module.
  "courier:usr/lib/courier/courier/imaplogin:courier-imap courier-base courier-authlib courier-authlib-userdb"
  "exim:usr/sbin/exim4:exim4-base exim4-daemon-light"
  # Postfix's programs look for their libraries in /usr/lib/postfix (RUNPATH) and clear the
  # environment before starting each other: they are pointed at the prefix with patchelf once
  # unpacked, and this marker says so.
  "postfix:usr/lib/postfix/.runpath-in-prefix:postfix"
  # OpenSMTPD comes from the release's backports: bookworm's 6.8 fails every TLS handshake with
  # OpenSSL 3 ("EVP lib", its key separation predates OpenSSL 3; fixed in 7.3). The probe is a page
  # only 7.x ships, so a 6.8 unpacked before is replaced. Its queue and control socket paths are
  # compiled in: its support module runs it in a mount namespace of its own (unshare).
  "opensmtpd:usr/share/man/man7/smtpd-filters.7.gz:opensmtpd"
)
to_unpack=()
for entry in "${unpacked[@]}"; do
  IFS=: read -r name probe packages <<<"$entry"
  [ -e "$PREFIX/$name/$probe" ] || to_unpack+=("$entry")
done
for entry in "${to_unpack[@]}"; do
  case "$entry" in postfix:*) command -v patchelf >/dev/null 2>&1 || missing+=(patchelf) ;; esac
done

# The system users and groups the packages' scripts would have created: Exim looks its compiled-in
# user up before reading any configuration, Postfix checks its mail_owner and setgid_group, OpenSMTPD
# looks up its compiled-in opensmtpd and opensmtpq users at start.
users_missing=false
id Debian-exim >/dev/null 2>&1 && id postfix >/dev/null 2>&1 && getent group postdrop >/dev/null 2>&1 || users_missing=true
id opensmtpd >/dev/null 2>&1 && id opensmtpq >/dev/null 2>&1 || users_missing=true
# Courier's imaplogin runs couriertls as the `courier` user, which Debian's courier-base creates.
id courier >/dev/null 2>&1 || users_missing=true

if [ ${#missing[@]} -eq 0 ] && [ ${#to_unpack[@]} -eq 0 ] && [ "$users_missing" = false ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  if [ ${#missing[@]} -gt 0 ]; then
    echo "tests: installing ${missing[*]} (apt-get)…" >&2
    apt-get install -y -qq "${missing[@]}" >/dev/null
    # The packages start system services; the tests run their own throwaway instances instead.
    (command -v service >/dev/null && service dovecot stop >/dev/null 2>&1) || true
  fi
  for entry in "${to_unpack[@]}"; do
    IFS=: read -r name probe packages <<<"$entry"
    echo "tests: unpacking ${packages} into $PREFIX/$name…" >&2
    work=$(mktemp -d)
    from_backports=()
    if [ "$name" = opensmtpd ]; then
      # Backports through a list of its own: the machine's apt sources stay as they are.
      codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
      mirror=$(apt-get indextargets --format '$(REPO_URI)' "Codename: $codename" | head -n1)
      mkdir -p "$work/lists/partial"
      echo "deb $mirror $codename-backports main" >"$work/backports.list"
      from_backports=(-o Dir::Etc::SourceList="$work/backports.list" -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists="$work/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
      apt-get "${from_backports[@]}" update -qq >/dev/null
      rm -rf "${PREFIX:?}/$name"
    fi
    mkdir -p "$PREFIX/$name"
    (cd "$work" && apt-get "${from_backports[@]}" download -qq $packages >/dev/null)
    libraries=()
    for deb in "$work"/*.deb; do
      dpkg-deb -x "$deb" "$PREFIX/$name"
      # Only the shared libraries among the dependencies: the rest (an MTA, adduser, debconf) is
      # what the packages' own scripts need, and they never run here.
      for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//' | tr -d ' '); do
        case "$dep" in lib*) libraries+=("$dep") ;; esac
      done
    done
    rm -rf "$work"
    [ ${#libraries[@]} -eq 0 ] || apt-get install -y -qq "${libraries[@]}" >/dev/null
    if [ "$name" = postfix ]; then
      for file in $(find "$PREFIX/postfix/usr/sbin" "$PREFIX/postfix/usr/lib/postfix" -type f); do
        # patchelf itself says which files have a library path (readelf may not be installed).
        if [ -n "$(patchelf --print-rpath "$file" 2>/dev/null)" ]; then patchelf --set-rpath "$PREFIX/postfix/usr/lib/postfix" "$file"; fi
      done
      touch "$PREFIX/postfix/usr/lib/postfix/.runpath-in-prefix"
    fi
  done
  if [ "$users_missing" = true ]; then
    # adduser when the system has it, else shadow's useradd (always there on Debian).
    add_system_user() {
      if command -v adduser >/dev/null 2>&1; then adduser --system --group --quiet --allow-bad-names --no-create-home --home /nonexistent "$1"
      else useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --badname "$1" 2>/dev/null \
        || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"; fi
    }
    id Debian-exim >/dev/null 2>&1 || add_system_user Debian-exim
    id postfix >/dev/null 2>&1 || add_system_user postfix
    getent group postdrop >/dev/null 2>&1 || groupadd --system postdrop
    id opensmtpd >/dev/null 2>&1 || add_system_user opensmtpd
    id opensmtpq >/dev/null 2>&1 || add_system_user opensmtpq
    id courier >/dev/null 2>&1 || add_system_user courier
  fi
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "tests: missing system packages: ${missing[*]}" >&2
  echo "Install them, then run npm test again:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
fi
for entry in "${to_unpack[@]}"; do
  IFS=: read -r name probe packages <<<"$entry"
  echo "tests: missing $PREFIX/$name (they conflict with Dovecot as packages: unpack them, and install the libraries they depend on):" >&2
  download="apt-get download ${packages}"
  # OpenSMTPD from the release's backports (see above): they must be in apt's sources for this.
  [ "$name" != opensmtpd ] || download="apt-get download opensmtpd/$(. /etc/os-release && echo "$VERSION_CODENAME")-backports"
  echo "  cd \$(mktemp -d) && $download && for deb in *.deb; do sudo dpkg-deb -x \$deb $PREFIX/$name; done" >&2
done
if [ "$users_missing" = true ]; then
  echo "tests: missing the users Exim, Postfix, OpenSMTPD and Courier run as (those not there yet):" >&2
  echo "  sudo adduser --system --group --allow-bad-names --no-create-home --home /nonexistent Debian-exim" >&2
  echo "  sudo adduser --system --group --no-create-home --home /nonexistent postfix && sudo addgroup --system postdrop" >&2
  echo "  for u in opensmtpd opensmtpq courier; do sudo adduser --system --group --no-create-home --home /nonexistent \$u; done" >&2
fi
for entry in "${to_unpack[@]}"; do
  case "$entry" in postfix:*)
    echo "  then point Postfix's programs at its libraries:" >&2
    echo "  for f in \$(find $PREFIX/postfix/usr/sbin $PREFIX/postfix/usr/lib/postfix -type f); do [ -n \"\$(patchelf --print-rpath \$f 2>/dev/null)\" ] && sudo patchelf --set-rpath $PREFIX/postfix/usr/lib/postfix \$f; done; sudo touch $PREFIX/postfix/usr/lib/postfix/.runpath-in-prefix" >&2
  ;; esac
done
exit 1
