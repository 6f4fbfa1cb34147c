#!/usr/bin/env bash
# Resolve pyproject.toml's dependencies afresh into the two lock files (run from the project
# root after changing a dependency; commit both files with the change).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for which in runtime dev; do
  python3 -m venv "$work/$which"
  "$work/$which/bin/pip" install --quiet --upgrade pip
  extra=""; [ "$which" = dev ] && extra="[dev]"
  "$work/$which/bin/pip" install --quiet ".$extra"
  {
    echo "# sla-bot's $which dependencies, exactly as tested (made by requirements/lock.sh)."
    "$work/$which/bin/pip" freeze --exclude sla-bot
  } > "requirements/$which.lock"
done
