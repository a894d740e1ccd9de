# fastphx developer tasks. `make demo` and `make test` work on a fresh machine with
# python3 (3.10+), pip, a C compiler, and (for the JS conformance tests) node + npm.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JSDIR  := tests/conformance/js
STAMP  := $(VENV)/.fastphx-installed

.PHONY: demo test test-fast lint typecheck bench fuzz js clean dist docs dist-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The compiled build's sources (setup.py lists them): the codec source, .pyx/.pxd, C headers.
CODEC_SRC := pyproject.toml setup.py src/fastphx/_codec_py.py \
	$(wildcard src/fastphx/*.pyx src/fastphx/*.pxd src/fastphx/*.h)
RUNTIME_STAMP := $(VENV)/.fastphx-runtime

# The extension is mandatory here: a failed Cython build fails the install loudly.
# The dev install (tests, lint, packaging tools) also satisfies the runtime one.
$(STAMP): $(BIN)/python $(CODEC_SRC)
	FASTPHX_BUILD_EXTENSION=yes $(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import fastphx.codec as c; assert c.IMPLEMENTATION == 'c', 'extension not built'"
	touch $(STAMP) $(RUNTIME_STAMP)

# The demo needs only the package, its extension and its runtime dependencies.
$(RUNTIME_STAMP): $(BIN)/python $(CODEC_SRC)
	FASTPHX_BUILD_EXTENSION=yes $(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -c "import fastphx.codec as c; assert c.IMPLEMENTATION == 'c', 'extension not built'"
	touch $(RUNTIME_STAMP)

$(JSDIR)/node_modules/.package-lock.json: $(JSDIR)/package.json $(JSDIR)/package-lock.json
	cd $(JSDIR) && npm ci --no-audit --no-fund --loglevel=error

js: $(JSDIR)/node_modules/.package-lock.json

# The main job: a local Phoenix-protocol server, a client streaming from it, the rate.
demo: $(RUNTIME_STAMP)
	$(BIN)/fastphx demo

# The whole test suite: both codec builds, loopback integration, the official JS client.
test: $(STAMP) js
	$(BIN)/python -m pytest -q -p no:cacheprovider
	FASTPHX_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not conformance and not fuzz" tests/integration

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not conformance and not fuzz and not reliability"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

# One run of the benchmark harnesses (bench/codec_ratios.py, bench/e2e_instructions.py) into
# docs/benchmarks.md; about ten minutes. bench/e2e.py (timed end to end) runs on its own.
bench: $(STAMP)
	$(BIN)/python scripts/bench_report.py

# Coverage-guided fuzzing of the codec (C build vs pure-Python twin vs orjson), FUZZ_SECONDS
# long (default 300); the corpus grows in .venv/fuzz-corpus. See tests/fuzz/README.md.
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet atheris
	mkdir -p $(VENV)/fuzz-corpus
	$(BIN)/python tests/fuzz/fuzz_codec.py -max_total_time=$${FUZZ_SECONDS:-300} -max_len=4096 \
		-dict=tests/fuzz/json.dict $(VENV)/fuzz-corpus tests/fuzz/corpus

# Packaging proof (issue #5): sdist, wheel built from it without Cython preinstalled,
# auditwheel repair, twine check, unit tests on the installed wheel; all in a temp dir.
dist-check: $(STAMP)
	BIN=$(BIN) PYTHON=$(PYTHON) scripts/check_dist.sh

DOCS_STAMP := $(VENV)/.fastphx-docs-installed
$(DOCS_STAMP): $(STAMP)
	FASTPHX_BUILD_EXTENSION=yes $(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

# The documentation site, into site/ (gitignored). The benchmark plot docs/img/bench.png is
# committed; regenerate it after editing docs/benchmarks.json with scripts/plot_bench.py.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf build dist site *.egg-info src/*.egg-info src/fastphx/*.c src/fastphx/*.so
