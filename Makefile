# The two commands of the README's quick start. Each makes the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint translations

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/crm-dev

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check crm_web worker tests bench migrations

# Extract every marked string and merge it into each language's catalog (then translate the
# new entries in crm_web/translations/<lang>/LC_MESSAGES/messages.po).
translations: $(BIN)/.installed
	$(BIN)/pybabel extract -F crm_web/translations/babel.cfg -k _l -k lazy_gettext -o crm_web/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i crm_web/translations/messages.pot -d crm_web/translations
