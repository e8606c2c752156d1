#!/usr/bin/env bash
# The burnstand demo on a fresh Debian machine: installs what is missing, builds, starts a
# throwaway Kerberos realm, a master and two burner stations on file-backed pseudo-drives,
# publishes a sample ISO built with xorriso, logs in as alice, lists the stations and burns the
# sample with a progress bar, verifies it, prints the receipt and that burn's audit records from
# the station and the master, and verifies both audit logs — everything on 127.0.0.1, cleaned up
# on exit. Set BURNSTAND_DEMO_KEEP=1 to keep the work directory (logs, audit files) afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing"
bash scripts/install-deps.sh

say "building"
cargo build --locked -q -p kdc-test -p burnstand-master -p burnstand-station -p burnstand
bin="$repo/target/debug"

work=$(mktemp -d /tmp/burnstand-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${BURNSTAND_DEMO_KEEP:-}" = 1 ]; then
    echo "demo files kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

wait_for_line() { # FILE PATTERN WHAT
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "demo: gave up waiting for $3; the file says:" >&2
  cat "$1" >&2
  return 1
}

say "starting a throwaway Kerberos realm (MIT krb5kdc on 127.0.0.1)"
"$bin/kdc-test" up --dir "$work/realm" --user alice:alice-pw --user bob:bob-pw \
  --service burnstand/localhost \
  --service burnstand-station/localhost \
  >"$work/realm.env" 2>"$work/realm.log" &
pids+=($!)
wait_for_line "$work/realm.env" '^# ready' "the KDC"
# shellcheck disable=SC1091
source "$work/realm.env"
keytab() { sed -n "s|^# keytab $1@BURNSTAND.TEST: ||p" "$work/realm.env"; }
grep '^#' "$work/realm.env" | sed 's/^# /   /'

say "publishing a sample disc image"
mkdir -p "$work/images" "$work/content"
echo "Welcome to the burnstand demo." >"$work/content/README.TXT"
# 6 MiB: with the stations' `speed = 1` (about 1.4 MB/s on a file pseudo-drive) the burn takes a
# few seconds, long enough to watch the progress bar.
head -c 6M /dev/urandom >"$work/content/payload.bin"
xorriso -as mkisofs -quiet -V BURNSTAND_DEMO -o "$work/images/sample.iso" "$work/content"
cat >"$work/images/sample.iso.toml" <<TOML
name = "burnstand demo disc"
id = "sample"
restricted = true
TOML
ls -l "$work/images/sample.iso"

say "writing the policy: alice may burn the sample image (by its SHA-256), 5 copies a day"
cat >"$work/policy.toml" <<TOML
realms = ["BURNSTAND.TEST"]

[[image]]
sha256 = "$(sha256sum "$work/images/sample.iso" | cut -d' ' -f1)"
name = "burnstand demo disc"
allow_users = ["alice@BURNSTAND.TEST"]
copies = 5
period = "1day"
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

station_ports=()
for n in 1 2; do
  port=$(free_port)
  station_ports+=("$port")
  mkdir -p "$work/station-$n"
  cat >"$work/station-$n/station.toml" <<TOML
listen = "127.0.0.1:$port"
principal = "burnstand-station/localhost@BURNSTAND.TEST"
keytab = "$(keytab burnstand-station/localhost)"
trusted_masters = ["burnstand/localhost@BURNSTAND.TEST"]
friendly_name = "Demo station $n (DVD)"
catalog = "$work/images"
state_dir = "$work/station-$n/state"
audit_log = "$work/station-$n/audit.jsonl"
policy = "$work/policy.toml"

[drive]
kind = "DVD"
file = "$work/station-$n/disc.img"
allow_file_drive = true
speed = 1
TOML
  say "starting burner station $n on 127.0.0.1:$port (file pseudo-drive)"
  "$bin/burnstand-station" --config "$work/station-$n/station.toml" >"$work/station-$n/out.log" 2>&1 &
  pids+=($!)
done
for n in 1 2; do wait_for_line "$work/station-$n/out.log" 'listening on' "station $n"; done

master_port=$(free_port)
cat >"$work/master.toml" <<TOML
listen = "127.0.0.1:$master_port"
principal = "burnstand/localhost@BURNSTAND.TEST"
keytab = "$(keytab burnstand/localhost)"
audit_log = "$work/master-audit.jsonl"
policy = "$work/policy.toml"

[groups]
students = ["alice@BURNSTAND.TEST", "bob@BURNSTAND.TEST"]

[[station]]
name = "dvd-1"
drive = "DVD"
address = "127.0.0.1:${station_ports[0]}"
principal = "burnstand-station/localhost@BURNSTAND.TEST"
services = ["burner"]
allow = ["group:students"]

[[station]]
name = "dvd-2"
drive = "DVD"
address = "127.0.0.1:${station_ports[1]}"
principal = "burnstand-station/localhost@BURNSTAND.TEST"
services = ["burner"]
allow = ["group:students"]
TOML
say "starting the master on 127.0.0.1:$master_port"
"$bin/burnstand-master" --config "$work/master.toml" --check-config
"$bin/burnstand-master" --config "$work/master.toml" >"$work/master.log" 2>&1 &
pids+=($!)
wait_for_line "$work/master.log" 'listening on' "the master"

export BURNSTAND_MASTER="127.0.0.1:$master_port"
export BURNSTAND_MASTER_PRINCIPAL="burnstand/localhost@BURNSTAND.TEST"

say "without a ticket, burnstand says what to do"
"$bin/burnstand" list || echo "   (exit code $?)"

say "kinit alice"
echo alice-pw | kinit alice@BURNSTAND.TEST >/dev/null
klist | sed 's/^/   /'

say "burnstand list (Kerberos login, greeting, LIST)"
"$bin/burnstand" list

say "burnstand images (BIND a station, SERV its burner module, CAPAB, QUIT)"
"$bin/burnstand" images

say "burnstand burn sample (reserve, burn with progress, verify, receipt, release)"
"$bin/burnstand" burn sample --save-receipt "$work/alice-receipts.jsonl"

# The burn's session: the station that has a burn.start record, and its session id.
station_log=""
for n in 1 2; do
  if grep -q '"event":"burn.start"' "$work/station-$n/audit.jsonl" 2>/dev/null; then
    station_log="$work/station-$n/audit.jsonl"
  fi
done
if [ -z "$station_log" ]; then
  echo "demo: no station recorded the burn" >&2
  exit 1
fi
session=$(grep '"event":"burn.start"' "$station_log" | tail -n 1 | sed 's/.*"session_id":"\([^"]*\)".*/\1/')
# The last records of the session are written just after burnstand's QUIT was answered.
wait_for_line "$station_log" "\"event\":\"session.end\".*\"session_id\":\"$session\"" "the station's session.end record"
wait_for_line "$work/master-audit.jsonl" "\"event\":\"serv.end\".*\"session\":\"$session\"" "the master's serv.end record"

say "the station's audit records of this burn (session $session)"
grep -F "\"session_id\":\"$session\"" "$station_log"

say "the master's audit records of this burn (the connections of session $session)"
# The bind/serv/serv.end/teardown records carry the session; the auth.ok/list/quit records of
# the same connections are joined through their `conn` number.
conns=$(grep -F "\"session\":\"$session\"" "$work/master-audit.jsonl" | sed -n 's/.*"conn":\([0-9]*\).*/\1/p' | sort -u)
for conn in $conns; do
  grep -E "\"conn\":$conn[,}]" "$work/master-audit.jsonl"
done | sort -t, -k1,1 -u | sort -t: -k2,2n

say "burnstand audit verify (hash chains of both logs, and alice's saved receipt)"
"$bin/burnstand" audit verify "$station_log" --receipt "$work/alice-receipts.jsonl"
"$bin/burnstand" audit verify "$work/master-audit.jsonl"

say "burnstand audit show (statistics from the master's log)"
"$bin/burnstand" audit show "$work/master-audit.jsonl"

say "kinit bob: bob is not entitled to any image, so the master refuses him with the reason"
echo bob-pw | kinit bob@BURNSTAND.TEST >/dev/null
if "$bin/burnstand" burn sample; then
  echo "demo: bob should have been refused" >&2
  exit 1
else
  echo "   (exit code $?, as documented: the policy refuses)"
fi

say "demo finished: the disc verified, and both audit logs are intact"
