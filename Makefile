# make install   creates $(VENV) (default .venv) if absent and installs the pinned set + this package
# make test      runs the whole test suite in that venv
# make demo      runs the smoke profile of the IWSLT17 recipe (see examples/iwslt17_zh_en)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.fairseq-see-installed

.PHONY: install test demo

install: $(STAMP)

# The order matters: torch first (the pinned CPU wheel; an unpinned torch pulls GBs of CUDA), then
# the build tools fairseq-fixed compiles against, then fairseq-fixed without build isolation.
$(STAMP): setup.py requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0 -c constraints.txt
	$(PIP) install cython numpy wheel -c constraints.txt
	$(PY) -c "import fairseq" 2>/dev/null || $(PIP) install --no-build-isolation --no-deps fairseq-fixed==0.12.3.1
	$(PIP) install -r requirements.txt -c constraints.txt
	$(PIP) install --no-build-isolation --no-deps -e .
	touch $(STAMP)

test: install
	$(PY) -m pytest tests

# the IWSLT17 recipe's smoke profile on a local mirror of the data (FAIRSEQ_SEE_DATA), else ../shared
FAIRSEQ_SEE_DATA ?= $(wildcard ../shared/data/zh-en)
demo: install
	@test -n "$(FAIRSEQ_SEE_DATA)" || { echo "make demo: no data; set FAIRSEQ_SEE_DATA=DIR (a copy of shared/data/zh-en) or run examples/iwslt17_zh_en/run.sh with --train-zh/--train-en/--valid-zh/--valid-en"; exit 1; }
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/iwslt17_zh_en/run.sh --profile smoke --data-root $(FAIRSEQ_SEE_DATA) --workdir work/demo
	@cat work/demo/RESULTS.md
