#!/usr/bin/env bash
# Idempotent set-up: Python 3.10 venv with the locked packages, scorezoo editable,
# and the Debian packages for audio synthesis. A run with nothing to do takes seconds.
# Arguments: extra requirement files to install as well (scripts/setup.sh requirements-fuzz.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
VENV=${VENV:-.venv}
APT_PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont libjemalloc2 poppler-utils
              lilypond musescore3 chromium chromium-driver)
# jemalloc: serving/memory.py; poppler: PDF pages; lilypond, musescore3: engravers besides Verovio
# (zoo/datasets/engravers.py); musescore-general-soundfont-small: a second sound font (recipe genres-rooms);
# timgm6mb-soundfont: held-out evaluation only (bench-genre), never trained or tuned on; chromium, chromium-driver:
# the web page's browser tests (tests/web)

find_python() {
  local p
  if command -v pyenv >/dev/null 2>&1 && p=$(pyenv prefix 3.10 2>/dev/null) && [ -x "$p/bin/python3.10" ]; then
    echo "$p/bin/python3.10"; return
  fi
  for p in python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      command -v "$p"; return
    fi
  done
  return 1
}

# 1. Debian packages (fluidsynth renders MIDI; FluidR3_GM is the default soundfont; jemalloc for `scorezoo serve`;
#    LilyPond and MuseScore 3 engrave staves besides Verovio).
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: Debian packages missing: ${missing[*]}. Run: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

# 2. Python environment, rebuilt only when the lock or setup.py changed.
find_uv() {
  PY310=$(find_python) || {
    echo "setup: Python 3.10 not found. Install it (e.g. 'pyenv install 3.10.13') or put python3.10 on PATH;" \
         "TFX 1.16 and its ml-metadata wheels need Python 3.10 on this platform." >&2
    exit 1
  }
  # `command -v uv` is not enough: a pyenv shim named uv exists when any pyenv Python has uv,
  # and fails ("pyenv: uv: command not found") under a global Python that lacks it.
  if uv --version >/dev/null 2>&1; then
    UV=(uv)
  else
    "$PY310" -m uv --version >/dev/null 2>&1 || "$PY310" -m pip install -q uv
    UV=("$PY310" -m uv)
  fi
}

# 3. Extra requirement files named on the command line (e.g. the fuzzer of bench-security), once each.
install_extras() {
  local file
  for file in "$@"; do
    local mark="$VENV/.scorezoo-extra-$(cat "$file" requirements.lock | sha256sum | cut -c1-16)"
    [ -f "$mark" ] && continue
    [ -n "${UV:-}" ] || find_uv
    echo "setup: installing $file into $VENV"
    "${UV[@]}" pip install -q --python "$VENV/bin/python" -r "$file" -c requirements.lock
    touch "$mark"
  done
}

stamp="$VENV/.scorezoo-setup"
want=$(cat requirements.lock setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup: $VENV is up to date"
  install_extras "$@"
  exit 0
fi
find_uv
[ -x "$VENV/bin/python" ] || "${UV[@]}" venv -q --python "$PY310" "$VENV"
echo "setup: installing requirements.lock into $VENV"
"${UV[@]}" pip install -q --python "$VENV/bin/python" -r requirements.lock
"${UV[@]}" pip install -q --python "$VENV/bin/python" --no-deps -e .
echo "$want" > "$stamp"
install_extras "$@"
echo "setup: done ($("$VENV/bin/python" --version))"
