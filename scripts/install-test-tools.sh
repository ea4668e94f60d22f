#!/usr/bin/env bash
# Installs the local nodes the chains tests run against (anvil for EVM, litesvm for Solana)
# into target/test-tools/, and what the web wallet's browser test drives: Debian's Chromium
# and playwright-core (web/package-lock.json, into web/node_modules). Idempotent: does
# nothing when the pinned versions are present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ ! -x /usr/bin/chromium ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-test-tools: /usr/bin/chromium is missing (install Debian's chromium package)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# The lock file pins playwright-core; it never downloads a browser (it drives Debian's).
stamp="$root/web/node_modules/.installed-from-lock"
if ! cmp -s "$root/web/package-lock.json" "$stamp" 2>/dev/null; then
    command -v npm >/dev/null || { echo "install-test-tools: npm not found (install Node.js >= 20)" >&2; exit 1; }
    npm ci --prefix "$root/web" --no-audit --no-fund --loglevel=error >/dev/null
    cp "$root/web/package-lock.json" "$stamp"
fi
prefix="${TSSW_TEST_TOOLS:-$root/target/test-tools}"
anvil_version="1.7.1"
litesvm_version="1.5.0"

have() {
    local pkg="$1" want="$2" json="$prefix/node_modules/$1/package.json"
    [[ -f "$json" ]] && grep -q "\"version\": *\"$want\"" "$json"
}

if have "@foundry-rs/anvil" "$anvil_version" && have "litesvm" "$litesvm_version" \
    && [[ -x "$prefix/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ]]; then
    exit 0
fi

command -v npm >/dev/null || { echo "install-test-tools: npm not found (install Node.js >= 20)" >&2; exit 1; }
mkdir -p "$prefix"
log="$prefix/npm-install.log"
if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "@foundry-rs/anvil@$anvil_version" "litesvm@$litesvm_version" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-test-tools: npm install failed" >&2
    exit 1
fi

# npm >= 11 skips the package's postinstall, so the platform binary may lack its exec bit.
anvil="$prefix/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
[[ -f "$anvil" ]] || { echo "install-test-tools: $anvil missing after install" >&2; exit 1; }
chmod +x "$anvil"
"$anvil" --version >/dev/null || { echo "install-test-tools: anvil does not run" >&2; exit 1; }
