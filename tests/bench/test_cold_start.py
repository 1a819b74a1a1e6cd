"""The cold start's set-up: what each handler finds in its environment and on its path
(the timing itself runs in `make bench`, never in the test suite)."""

from functions.relay.target_limits import encode_limits
from infra.bench.cold_start import bench_environment, runtime_libraries
from infra.catalog import FUNCTIONS, outbox_target_limits


def test_each_handler_gets_the_variables_it_reads_at_import():
    environments = {spec.name: bench_environment(spec) for spec in FUNCTIONS}
    assert environments["notify"] == {"TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench"}
    assert environments["ingest"] == {"QUEUE_URL": "https://sqs.example/bench", "API_AUTH": "iam"}
    assert environments["email"] == {
        "EMAIL_FROM": "bench@example.com",
        "EMAIL_TO": "bench@example.com",
    }
    assert environments["drain"] == {
        "DATABASE_SECRET_ID": "bench",
        "AURORA_EVENTS_PREFIX": "aurora-events",
    }
    assert environments["relay"] == {
        "DATABASE_SECRET_ID": "bench",
        "AURORA_EVENTS_PREFIX": "aurora-events",
        "RELAY_TARGET_LIMITS": encode_limits(outbox_target_limits()),
    }


def test_the_runtime_stand_in_holds_boto3_and_its_libraries_only(tmp_path):
    runtime = runtime_libraries(tmp_path / "runtime")
    names = {path.name for path in runtime.iterdir()}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil"} <= names
    # The virtualenv's other libraries (PyMySQL would import cryptography) stay out.
    assert not names & {"pymysql", "aws_lambda_powertools", "cryptography", "functions"}
    assert (runtime / "boto3" / "__init__.py").is_file()
