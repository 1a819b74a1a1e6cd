"""The grant tests run against the local server imitating Aurora v3, or v2 with this
fixture (shared with the doctor's tests)."""

from tests.infra.aws.conftest import emulated_v2  # noqa: F401 (a fixture)
