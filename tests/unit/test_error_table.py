"""Errors become HTTP answers through one table keyed by class, with no silent default."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import application
import domain
from domain.errors import DomainError
from entrypoints.http.errors import STATUS_OF_ERROR


def every_domain_error() -> list[type[DomainError]]:
    for package in (domain, application):  # load every module, so that every subclass is defined
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found, todo = [], [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


@pytest.mark.parametrize("error", every_domain_error(), ids=lambda e: e.__name__)
def test_every_domain_error_has_its_status(error: type[DomainError]) -> None:
    assert error in STATUS_OF_ERROR, f"{error.__name__} has no entry in entrypoints/http/errors.py"
    assert 400 <= STATUS_OF_ERROR[error] < 500
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error.code)


def test_the_table_names_only_errors_that_exist() -> None:
    assert set(STATUS_OF_ERROR) == set(every_domain_error())
