"""The one executor of plans: what it does when a change is unsupported, or fails halfway."""

import pytest
from botocore.parsers import ResponseParserError

from infra.aws.changes import (
    Change,
    ChangeFailed,
    UnsupportedOperation,
    apply_changes,
    call_unless_unsupported,
)


def test_apply_changes_reports_what_the_endpoint_lacks_and_goes_on():
    def lacking():
        raise UnsupportedOperation("X is not implemented")

    done = Change("r2", "create")
    outcome = apply_changes([Change("r1", "delete", run=lacking), done])
    assert outcome.done == [done]
    assert [(c.resource, reason) for c, reason in outcome.unsupported] == [
        ("r1", "X is not implemented")
    ]


def test_a_change_that_fails_halfway_records_what_was_done_before_it():
    def broken():
        raise ValueError("throttled")

    first, never = Change("r1", "create"), Change("r3", "create")
    with pytest.raises(ChangeFailed) as failed:
        apply_changes([first, Change("r2", "update", run=broken), never])
    assert failed.value.outcome.done == [first]
    assert failed.value.change.resource == "r2"
    assert isinstance(failed.value.__cause__, ValueError)
    assert str(failed.value) == (
        "update     r2 failed (ValueError: throttled); 1 change(s) made before it"
    )


class _Client:
    """Just what call_unless_unsupported reads of a boto3 client."""

    def __init__(self, endpoint_url: str) -> None:
        self.meta = type("Meta", (), {"endpoint_url": endpoint_url})()


def _unparseable():
    raise ResponseParserError("<html>500</html>")


def test_an_unparseable_answer_is_a_missing_api_only_off_aws():
    with pytest.raises(UnsupportedOperation, match="X is not implemented by the AWS endpoint "):
        call_unless_unsupported(_Client("http://127.0.0.1:5000"), "X", _unparseable)
    with pytest.raises(ResponseParserError):
        call_unless_unsupported(_Client("https://rds.us-east-1.amazonaws.com"), "X", _unparseable)
