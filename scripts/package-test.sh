#!/usr/bin/env bash
# The packages' install test (CI; called by scripts/test.sh): builds the three .debs
# (scripts/package.sh), installs them on THIS machine with dpkg -i (it must be a throwaway CI
# machine or container, and this must run as root), checks what they installed, and purges
# them again in a trap, with the system user if it did not exist before.
#
# Checked: dpkg -i (twice: the maintainer scripts are idempotent) and the dependencies, the
# installed binaries answer --version with the package's version, the system user is in group
# cdrom, the state and log directories belong to it, /etc/burnstand/*.toml are conffiles, the
# units pass `systemd-analyze verify`, and `systemd-analyze security --offline=true` gives each
# unit an exposure of at most $MAX_EXPOSURE (docs/operations.md records the figures).
# Not checked here: that the daemons start under systemd. That needs systemd as PID 1, which a
# CI container does not have; docs/operations.md says how to check it on a station.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXPOSURE="${MAX_EXPOSURE:-2.0}"
PACKAGES=(burnstand-master burnstand-station burnstand)
UNITS=(burnstand-master.service burnstand-station.service)

if [ "$(id -u)" -ne 0 ]; then
  echo "package-test: needs root (dpkg -i on a throwaway machine); skipped" >&2
  exit 1
fi
for p in "${PACKAGES[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    echo "package-test: $p is installed on this machine already; refusing to replace and purge it" >&2
    exit 1
  fi
done

bash scripts/package.sh
OUT="${CARGO_TARGET_DIR:-target}/debian"
version="$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"name":"burnstand-master","version":"[^"]*"' | sed 's/.*"version":"\([^"]*\)"/\1/')"
debs=()
for p in "${PACKAGES[@]}"; do
  deb="$(ls "$OUT/${p}_${version}"-*_*.deb | tail -n 1)"
  debs+=("$deb")
done

# What exists before, so the trap removes only what the packages made.
user_existed=false
getent passwd burnstand >/dev/null && user_existed=true
group_existed=false
getent group burnstand >/dev/null && group_existed=true
made=()
for d in /var/lib/burnstand /var/log/burnstand /srv/burnstand /etc/burnstand; do
  [ -e "$d" ] || made+=("$d")
done

cleanup() {
  dpkg --purge "${PACKAGES[@]}" >/dev/null 2>&1 || true
  if ! $user_existed && getent passwd burnstand >/dev/null; then
    deluser --system --quiet burnstand 2>/dev/null || true
  fi
  if ! $group_existed && getent group burnstand >/dev/null; then
    delgroup --system --quiet burnstand || true
  fi
  for d in "${made[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

fail() {
  echo "package-test: FAILED: $*" >&2
  exit 1
}

echo "package-test: dpkg -i ${debs[*]}" >&2
dpkg -i "${debs[@]}" >/dev/null
# Again: an upgrade-in-place runs every maintainer script a second time.
dpkg -i "${debs[@]}" >/dev/null

for bin in burnstand-master burnstand-station burnstand; do
  said="$("/usr/bin/$bin" --version)" || fail "$bin --version"
  [ "$said" = "$bin $version" ] || fail "$bin --version said '$said', not '$bin $version'"
done

id -nG burnstand | tr ' ' '\n' | grep -qx cdrom || fail "user burnstand is not in group cdrom"
for d in /var/lib/burnstand /var/lib/burnstand/station /var/log/burnstand /srv/burnstand/images; do
  [ "$(stat -c %U "$d")" = burnstand ] || fail "$d does not belong to burnstand"
done
if [ -n "$(dpkg-deb -c "${debs[2]}" | grep man1/burnstand.1.gz)" ]; then
  for f in /usr/share/man/man1/burnstand.1.gz /usr/share/man/man1/burnstand-master.1.gz \
    /usr/share/man/man1/burnstand-station.1.gz /usr/share/bash-completion/completions/burnstand \
    /usr/share/zsh/vendor-completions/_burnstand-station /usr/share/fish/vendor_completions.d/burnstand-master.fish; do
    [ -f "$f" ] || fail "no $f"
  done
  man -w burnstand-station >/dev/null || fail "man does not find burnstand-station(1)"
fi
conffiles="$(dpkg-query -W -f='${Conffiles}\n' "${PACKAGES[@]}")"
for f in master.toml policy.toml station.toml client.toml; do
  grep -q "/etc/burnstand/$f " <<<"$conffiles" || fail "/etc/burnstand/$f is not a conffile"
done
[ -f /etc/burnstand/policy.toml ] || fail "no /etc/burnstand/policy.toml"

# The shipped configurations check as far as they can without a realm: they parse, the
# problem named is the keytab (and the station's absent drive), and the policy file and the
# catalog the packages made are found.
for daemon in master station; do
  if out="$(/usr/bin/burnstand-$daemon --config /etc/burnstand/$daemon.toml --check-config 2>&1)"; then
    fail "the example $daemon.toml passed --check-config without a keytab: $out"
  fi
  grep -q "keytab /etc/burnstand/$daemon.keytab" <<<"$out" ||
    fail "$daemon --check-config on the example does not name the keytab: $out"
  if grep -q "policy file\|image catalog" <<<"$out"; then
    fail "$daemon --check-config on the example misses an installed path: $out"
  fi
done

for unit in "${UNITS[@]}"; do
  path="/lib/systemd/system/$unit"
  [ -f "$path" ] || fail "no $path"
  # Documentation=man:… is checked only when the packages have man pages (package.sh builds
  # them without when the tree has no generator).
  man=(--man=no)
  if [ -f "/usr/share/man/man1/${unit%.service}.1.gz" ]; then man=(); fi
  systemd-analyze verify "${man[@]}" "$path" || fail "systemd-analyze verify $unit"
  exposure="$(systemd-analyze security --offline=true "$path" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
  [ -n "$exposure" ] || fail "no exposure level for $unit"
  echo "package-test: $unit exposure $exposure (at most $MAX_EXPOSURE)" >&2
  awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
    fail "$unit exposure $exposure is above $MAX_EXPOSURE"
done

dpkg --purge "${PACKAGES[@]}" >/dev/null
for bin in burnstand-master burnstand-station burnstand; do
  [ ! -e "/usr/bin/$bin" ] || fail "/usr/bin/$bin left after purge"
done
echo "package-test: OK (installed, checked, purged)" >&2
