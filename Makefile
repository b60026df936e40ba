# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
.PHONY: demo test bootstrap

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	uv run --frozen edge sim run demo --report out/demo.json

test: bootstrap
	uv run --frozen pytest
