# The two commands of README.md. Both set everything up first (Debian packages, .venv).
.PHONY: setup demo test lint

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/netwarden demo --out demo-run

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy
