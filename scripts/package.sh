#!/usr/bin/env bash
# Builds the three Debian packages into target/debian/:
#   burnstand-master_VERSION_ARCH.deb, burnstand-station_…, burnstand_…
# (the cargo-deb metadata is in master/, backend/ and client-container/Cargo.toml;
# docs/operations.md "Install" says what they contain).
#
# The binaries are built once, with the `deb` profile (release optimisation without LTO, 16
# codegen units: minutes, not tens of minutes, on a 2-core CI machine). Man pages and shell
# completions come from the burnstand-assets generator when this tree has it; without it the
# packages are built without them, and the script says so.
#
# Installs cargo-deb (cargo install --locked) if it is missing. Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=deb
PACKAGES=(burnstand-master burnstand-station burnstand)
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="$TARGET_DIR/debian"

step_start=$SECONDS
step() {
  echo "package: $1 ($((SECONDS - step_start)) s)" >&2
  step_start=$SECONDS
}

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb" >&2
  cargo install --locked cargo-deb
  step "cargo-deb installed"
fi

# The generator: a workspace member named burnstand-assets (the crate in assets/).
have_assets=false
if [ -f assets/Cargo.toml ] && grep -q '^name = "burnstand-assets"' assets/Cargo.toml; then
  have_assets=true
fi

build=(-p burnstand-master -p burnstand-station -p burnstand)
if $have_assets; then build+=(-p burnstand-assets); fi
cargo build --locked --profile "$PROFILE" "${build[@]}"
step "binaries built (profile $PROFILE)"

variant=()
if $have_assets; then
  generated="$(mktemp -d)"
  trap 'rm -rf "$generated"' EXIT
  "$TARGET_DIR/$PROFILE/burnstand-assets" "$generated" >/dev/null
  # Sort the generator's files per package: burnstand-master*, burnstand-station*, and the
  # rest (burnstand and its sub-commands) for the client. cargo-deb maps
  # target/release/assets/… in the metadata to target/$PROFILE/assets/….
  sorted="$TARGET_DIR/$PROFILE/assets"
  rm -rf "$sorted"
  package_of() {
    case "$1" in
      burnstand-master*) echo burnstand-master ;;
      burnstand-station*) echo burnstand-station ;;
      *) echo burnstand ;;
    esac
  }
  for page in "$generated"/man/*; do
    name="$(basename "$page")"
    dir="$sorted/$(package_of "$name")/man"
    mkdir -p "$dir"
    # Debian policy: man pages gzipped with -9n (reproducible).
    gzip -9n -c "$page" >"$dir/$name.gz"
  done
  for shell in bash zsh fish; do
    for file in "$generated/completions/$shell"/*; do
      [ -e "$file" ] || continue
      name="$(basename "$file")"
      command="${name#_}"
      command="${command%.fish}"
      dir="$sorted/$(package_of "$command")/$shell"
      mkdir -p "$dir"
      cp "$file" "$dir/"
    done
  done
  # Every package must get its pages, or the variant's globs fail: say which is missing.
  for p in "${PACKAGES[@]}"; do
    for kind in man bash zsh fish; do
      if ! compgen -G "$sorted/$p/$kind/*" >/dev/null; then
        echo "package: the generator wrote no $kind file for $p" >&2
        exit 1
      fi
    done
  done
  variant=(--variant assets)
  step "man pages and completions generated"
else
  echo "package: no burnstand-assets crate in this tree: packages WITHOUT man pages and completions" >&2
fi

mkdir -p "$OUT"
for p in "${PACKAGES[@]}"; do
  cargo deb --locked --no-build --profile "$PROFILE" -p "$p" "${variant[@]}" -o "$OUT/"
done
step "packages written"
ls -l "$OUT"/*.deb >&2
