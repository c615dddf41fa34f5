# Shortcuts; scripts/ holds the real commands.
.PHONY: demo test bench lint
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	.venv/bin/python -m bench
lint:
	.venv/bin/ruff check . && .venv/bin/mypy
