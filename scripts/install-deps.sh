#!/usr/bin/env bash
# Installs, idempotently and without prompts, every Debian package burnstand needs to build,
# test and run its demo. Packages already present are not touched; apt-get update runs only
# when something is missing. Needs root (or sudo) on a Debian/Ubuntu machine.
set -euo pipefail

PACKAGES=(
  krb5-kdc          # krb5kdc, kdb5_util: the throwaway realm of kdc-test
  krb5-admin-server # kadmin.local: principals and keytabs (kadmind itself is never started)
  krb5-user         # kinit, klist, kvno
  krb5-pkinit       # anonymous PKINIT: the WELLKNOWN/ANONYMOUS principal of kdc-test realms
  openssl           # kdc-test makes the throwaway realm's CA and KDC certificate for PKINIT
  libkrb5-dev       # headers and krb5-gssapi.pc for libgssapi-sys
  libclang-dev      # bindgen (libgssapi-sys) needs libclang and clang's own headers
  pkg-config
  xorriso           # the burning tool driven by the stations
  util-linux        # setpriv: xorriso runs under `setpriv --pdeathsig KILL`, so it dies with its station
  socat             # baseline relay for the benchmarks
  openssh-server    # sshd: the bench's own throwaway sshd on loopback, baseline (a) ssh -J
  openssh-client    # ssh, ssh-keygen: the same baseline's client and its throwaway keys
  strace            # kdc-test proves a realm reads nothing under /etc or /var
  chromium          # the status page tests: a real browser logging in by Negotiate (headless)
  chromium-driver   # chromedriver: WebDriver for those tests (testlab::browser)
  faketime          # doctor tests: a station whose clock is 10 minutes off the KDC's (libfaketime, this process tree only)
  zsh               # assets tests: `zsh -n` parses the generated zsh completions
  dpkg-dev          # dpkg-shlibdeps: cargo-deb's $auto dependencies of the .deb packages
  binutils          # strip, objcopy: cargo-deb strips the packaged binaries
  adduser           # the packages' maintainer scripts create the system user burnstand
  systemd           # systemd-analyze verify / security on the units (scripts/package-test.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing packages ${missing[*]}; run as root or install them yourself" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
