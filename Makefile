# Two commands do all the set-up on a fresh machine (README.md):
#   make demo   venv + sample repositories from the installed packages + the StarCoder pipeline to shards
#   make test   venv + system packages + lint + types + every test, slow and Ray ones included (CI runs this)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := git iproute2 util-linux licensecheck
# the browser test of `stackcurate serve` drives Debian's Chromium through its chromedriver (no download)
TEST_PACKAGES := chromium chromium-driver

.PHONY: demo test test-fast lint system-deps test-deps setup bench clean

setup: $(VENV)/.installed

# --no-compile: no bytecode for every file of every package at install time (torch has thousands no test
# imports); scripts/compile_bytecode.py then writes it for stackcurate and what it requires (with the dev
# extra here), since Python writes none on import under PYTHONDONTWRITEBYTECODE and would compile every
# module again in every process (the driver, the fork server, each CLI command, each Ray worker)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	$(BIN)/python scripts/compile_bytecode.py --extra dev
	touch $@ $(VENV)/.installed-run

# what the demo needs: the package and its runtime dependencies, not the [dev] extra's torch, Ray and test
# tools (minutes of downloads and installs on a fresh machine)
$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e .
	$(BIN)/python scripts/compile_bytecode.py
	touch $@

system-deps:
	@missing=""; for cmd in git ip unshare licensecheck; do command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$cmd"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
		else echo "missing:$$missing -- install the Debian packages: $(SYSTEM_PACKAGES)"; exit 1; fi; \
	fi

test-deps:
	@missing=""; for cmd in chromium chromedriver; do command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$cmd"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends $(TEST_PACKAGES); \
		else echo "missing:$$missing -- install the Debian packages: $(TEST_PACKAGES)"; exit 1; fi; \
	fi

# the full StarCoder pipeline on the sample repositories, through the tokenizer and the training shards,
# then the statistics report (README.md, "Two commands", has these commands and the measured time)
demo: system-deps $(VENV)/.installed-run
	$(BIN)/stackcurate sample-repos runs/sample
	$(BIN)/stackcurate run pipelines/starcoder.yaml
	$(BIN)/stackcurate stats runs/starcoder --html runs/starcoder/report.html
	@echo "training shards: runs/starcoder/shards (manifest.json; $(BIN)/stackcurate shards verify runs/starcoder/shards)"
	@echo "HTML report:     runs/starcoder/report.html"
	@echo "web app:         $(BIN)/stackcurate serve runs/starcoder   (search, opt-out form, /stats)"

# the imports keep the layers of docs/architecture.md ("Layers"): no upward import, no cycle
lint: setup
	$(BIN)/ruff check stackcurate tests benchmarks examples scripts
	$(BIN)/ruff format --check stackcurate tests benchmarks examples scripts
	$(BIN)/mypy
	$(BIN)/python scripts/check_layers.py

# -n auto: one worker per core (pytest-xdist); --dist loadgroup keeps the tests that share a session run in one
# worker, and --no-loadscope-reorder keeps conftest's order, longest first (tests/conftest.py).
# --durations=25: every run lists its 25 slowest tests, so it shows where the time went
test: system-deps test-deps setup lint
	$(BIN)/pytest -m "" -q -n auto --dist loadgroup --no-loadscope-reorder --durations=25

test-fast: setup
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python benchmarks/clone_throughput.py

clean:
	rm -rf runs $(VENV)
