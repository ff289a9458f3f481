"""The development DiracX's sqlite databases wait for each other's locks instead of failing at once."""

from esap_backends.diracx.devserver import SQLITE_BUSY_SECONDS, _parse_exports, _patient

EXPORTS = """export DIRACX_DB_URL_JOBDB="sqlite+aiosqlite:////s/db/jobdb.db"
export DIRACX_OS_DB_JOBPARAMETERSDB='{"sqlalchemy_dsn": "sqlite+aiosqlite:////s/db/jobparametersdb.db"}'
"""


def test_every_sqlite_url_gets_a_busy_timeout() -> None:
    env = {name: _patient(value) for name, value in _parse_exports(EXPORTS)}
    assert env["DIRACX_DB_URL_JOBDB"] == f"sqlite+aiosqlite:////s/db/jobdb.db?timeout={SQLITE_BUSY_SECONDS}"
    assert env["DIRACX_OS_DB_JOBPARAMETERSDB"] == (
        f'{{"sqlalchemy_dsn": "sqlite+aiosqlite:////s/db/jobparametersdb.db?timeout={SQLITE_BUSY_SECONDS}"}}')


def test_other_settings_are_left_alone() -> None:
    assert _patient("git+file:///s/cs") == "git+file:///s/cs"
