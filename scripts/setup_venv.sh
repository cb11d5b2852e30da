#!/usr/bin/env bash
# Create .venv and install the project with uv. uv ignores pip's configuration, so pip's local
# find-links, extra indexes and constraints (where this machine has them) are handed over explicitly:
# without them uv would download a multi-GB CUDA build of torch instead of the CPU wheel on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
mapfile -t pip_args < <("$PY" - <<'PYEOF'
import shlex, subprocess
flags = {"find-links": "--find-links", "extra-index-url": "--extra-index-url", "constraint": "--constraint"}
out = subprocess.run(["pip", "config", "list"], capture_output=True, text=True).stdout
seen = set()
for line in out.splitlines():
    key, _, value = line.partition("=")
    flag = flags.get(key.rsplit(".", 1)[-1])
    for item in shlex.split(value.strip("'")) if flag else []:
        if (flag, item) not in seen:
            seen.add((flag, item))
            print(flag)
            print(item)
PYEOF
)
.venv/bin/uv pip install --python .venv/bin/python --compile-bytecode --index-strategy unsafe-best-match \
  "${pip_args[@]}" -e '.[dev]'
# The browser test drives Debian's Chromium through Playwright (never `playwright install`, which downloads).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
      || echo "chromium not installed: the browser test will be skipped (run: apt-get install -y chromium)" >&2
  else
    echo "chromium missing: the browser test will be skipped (as root: apt-get install -y chromium)" >&2
  fi
fi
touch .venv/.installed
