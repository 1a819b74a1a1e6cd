"""Deployment settings: config file, environment and command line, in that order of weight."""

import pytest

from infra.aws.settings import SettingsError, load_config, resolve_settings
from infra.catalog import SettingError
from infra.cli import main

CONFIG = """
region = "eu-west-1"
prefix = "shop-events"
cluster = "shop-aurora"
subnet_ids = ["subnet-a", "subnet-b"]
database_secret_id = "shop/app"
"""


def test_the_file_fills_in_what_the_environment_leaves_unset(tmp_path):
    path = tmp_path / "deploy.toml"
    path.write_text(CONFIG)
    environ = {"AURORA_EVENTS_PREFIX": "from-env", "AWS_DEFAULT_REGION": "ap-south-1"}
    options = {"region": "us-west-2", "profile": None}
    settings = resolve_settings(load_config(path), environ, options)
    assert environ == {"AURORA_EVENTS_PREFIX": "from-env", "AWS_DEFAULT_REGION": "ap-south-1"}
    deployment = settings.deployment
    assert deployment.prefix == "from-env"  # environment beats the file
    assert settings.region == "us-west-2"  # option beats both
    assert settings.profile is None
    assert settings.endpoint_url is None
    assert resolve_settings(load_config(path), environ).region == "ap-south-1"
    assert resolve_settings(load_config(path), {}).region == "eu-west-1"
    assert deployment.cluster == "shop-aurora"
    assert deployment.subnet_ids == ("subnet-a", "subnet-b")
    assert deployment.database_secret_id == "shop/app"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("regoin = 'x'", "unknown setting\\(s\\) regoin"),
        ("prefix = 1.5", "prefix must be a string, a number, true/false or a list of strings"),
        ("prefix = {a = 1}", "prefix must be a string, a number"),
        ("prefix = ", "not valid TOML"),
    ],
)
def test_a_bad_file_is_named_with_its_problem(tmp_path, text, message):
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_config(path)
    with pytest.raises(SettingsError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_typed_settings_are_read_as_their_type_from_the_file_and_the_environment(tmp_path):
    path = tmp_path / "deploy.toml"
    path.write_text(
        'rds_proxy = true\napi_burst_limit = 200\napi_cors_origins = ["https://a.example"]\n'
    )
    deployment = resolve_settings(
        load_config(path), {"AURORA_EVENTS_VPC_ENDPOINTS": "Yes"}
    ).deployment
    assert deployment.rds_proxy is True
    assert deployment.vpc_endpoints is True
    assert deployment.api_burst_limit == 200
    assert deployment.api_rate_limit == 50  # the default
    assert deployment.api_cors_origins == ("https://a.example",)
    assert resolve_settings({}, {}).deployment.rds_proxy is False


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        (
            "AURORA_EVENTS_RDS_PROXY",
            "maybe",
            "setting rds_proxy must be true or false, not 'maybe'",
        ),
        ("AURORA_EVENTS_API_RATE_LIMIT", "-5", "setting api_rate_limit must be a whole number"),
        ("AURORA_EVENTS_API_BURST_LIMIT", "１０", "setting api_burst_limit must be a whole number"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused_by_name(
    variable, text, message, capsys, monkeypatch
):
    with pytest.raises(SettingError, match=message):
        resolve_settings({}, {variable: text})
    monkeypatch.setenv(variable, text)
    assert main(["deploy", "plan"]) == 2
    assert f"aurora-events: {message}" in capsys.readouterr().err


def test_deploy_plan_through_the_command_line(capsys, stack, tmp_path, monkeypatch):
    config = tmp_path / "deploy.toml"
    config.write_text(
        'database_secret_id = "aurora-events-database"\n'
        'relay_database_secret_id = "aurora-events-relay-database"\n'
    )
    # Unset, so the file's value applies; monkeypatch removes it again afterwards.
    monkeypatch.setenv("AURORA_EVENTS_DATABASE_SECRET_ID", "")
    monkeypatch.delenv("AURORA_EVENTS_DATABASE_SECRET_ID")
    code = main(["--config", str(config), "deploy", "plan", "--prefix", "cliplan"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "create     sns topic cliplan-notifications"
    assert (
        "create     lambda function cliplan-drain: functions.drain.handler.handler, 30 s, 256 MB"
        in out
    )
    assert any(
        line.startswith("create     event source mapping ingest -> cliplan-drain") for line in out
    )
    assert main(["--config", str(tmp_path / "nope.toml"), "deploy", "plan"]) == 2
    assert "config file" in capsys.readouterr().err
