"""docker-compose.yml cannot be started here (no Docker engine): check it against the code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from infra.compose import init
from infra.local import kafka, topics
from infra.local.stack import SERVICES
from services.common import db_roles
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SVC = COMPOSE["services"]


def default(field: str):
    return Settings.model_fields[field].default


def published(service: str) -> list[tuple[int, int]]:
    """(host port, container port) of each published port."""
    return [tuple(int(p) for p in spec.split(":")[-2:]) for spec in SVC[service].get("ports", [])]


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SVC[service].get("environment") or {}).items()}


def test_services_of_the_stack_are_all_there():
    assert {"kafka", "postgres", "init", *(s.name for s in SERVICES)} <= set(SVC)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_service_runs_its_module_from_the_project_image_after_init(service):
    spec = SVC[service.name]
    assert spec["command"] == ["python", "-m", service.module]
    assert spec["build"]["dockerfile"] == "infra/compose/Dockerfile"
    assert spec["depends_on"]["init"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_service_publishes_its_default_port_and_checks_healthz_there(service):
    port = default(service.port_setting)
    assert published(service.name) == [(port, port)]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(SVC[service.name]["healthcheck"]["test"])
    assert env(service.name)["TAKEBACK_HTTP_HOST"] == "0.0.0.0"


def test_kafka_image_is_the_pinned_version_and_answers_where_the_settings_expect():
    assert SVC["kafka"]["image"] == f"apache/kafka:{kafka.KAFKA_VERSION}"
    advertised = dict(
        listener.split("://") for listener in env("kafka")["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    assert advertised["EXTERNAL"] == default("kafka_bootstrap")  # from the host
    assert advertised["INTERNAL"] == env("init")["TAKEBACK_KAFKA_BOOTSTRAP"]  # from the containers
    host_port = int(default("kafka_bootstrap").rsplit(":", 1)[1])
    assert published("kafka") == [(host_port, host_port)]


def _password_variable(url) -> str:
    """The variable a URL's password comes from: `${DB_PASSWORD_X}` -> DB_PASSWORD_X (never a literal)."""
    match = re.fullmatch(r"\$\{(DB_PASSWORD_[A-Z]+)\}", url.password or "")
    assert match, f"{url.username}'s password is not taken from the environment"
    return match.group(1)


def test_postgres_is_published_on_the_default_port_with_a_role_per_service_and_no_password_committed():
    assert SVC["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in SVC["postgres"]["healthcheck"]["test"]
    assert published("postgres") == [(urlsplit(default("database_url")).port, 5432)]
    sql = (ROOT / "infra/compose/postgres-init.sql").read_text()
    assert any(
        v.endswith("postgres-init.sql:/docker-entrypoint-initdb.d/10-takeback.sql:ro")
        for v in SVC["postgres"]["volumes"]
    )
    required = env("postgres")
    assert required["POSTGRES_PASSWORD"].startswith(
        "${DB_PASSWORD_SUPERUSER:?"
    )  # no default superuser password
    urls = {
        "init": env("init")["TAKEBACK_DATABASE_OWNER_URL"],
        **{service.name: env(service.name)["TAKEBACK_DATABASE_URL"] for service in SERVICES},
    }
    for name, raw in urls.items():
        url = urlsplit(raw)
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, "/takeback")
        assert url.username == (db_roles.OWNER if name == "init" else db_roles.SERVICE_ROLES[name])
        variable = _password_variable(url)
        assert required[variable].startswith(f"${{{variable}:?")  # compose refuses to start without it
        secret = variable.removeprefix("DB_PASSWORD_").lower()
        assert f"\\getenv {secret}_password {variable}" in sql
        assert f"CREATE ROLE {url.username} LOGIN PASSWORD :'{secret}_password';" in sql
    assert f"CREATE DATABASE takeback OWNER {db_roles.OWNER}" in sql
    assert "PASSWORD '" not in sql


def test_each_container_gets_only_its_own_database_role():
    for name in SVC:
        variables = env(name)
        if name != "init":
            assert "TAKEBACK_DATABASE_OWNER_URL" not in variables, (
                f"{name} must not hold the owner's password"
            )
        passwords = {v for k, v in variables.items() if k.startswith("TAKEBACK_DATABASE")}
        assert len(passwords) <= 1, name


def test_init_creates_the_contract_topics_and_migrates():
    assert SVC["init"]["command"] == ["python", "-m", "infra.compose.init"]
    assert {"kafka", "postgres"} <= set(SVC["init"]["depends_on"])
    assert init.ensure_topics is topics.ensure_topics  # which creates topics.topic_names()
    source = inspect.getsource(init.main)
    assert "ensure_topics(" in source and "upgrade(s.database_owner_url)" in source
    assert "topic_names()" in inspect.getsource(topics.ensure_topics)


def test_every_takeback_variable_is_a_setting_with_a_valid_value(monkeypatch):
    fields = set(Settings.model_fields)
    for name in SVC:
        variables = {k: v for k, v in env(name).items() if k.startswith("TAKEBACK_")}
        for key in variables:
            assert re.sub("^TAKEBACK_", "", key).lower() in fields, f"{name}: {key} is not a setting"
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        Settings()  # every value parses
        for key in variables:
            monkeypatch.delenv(key)


def test_compose_kafka_refuses_anonymous_clients_and_each_service_has_its_own_principal():
    from infra.local.principals import SERVICE_PRINCIPALS

    listeners = dict(
        item.split(":") for item in env("kafka")["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners.values()) == {"SASL_PLAINTEXT"}
    assert env("kafka")["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env("kafka")["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    for service, principal in SERVICE_PRINCIPALS.items():
        assert env(service)["TAKEBACK_KAFKA_USERNAME"] == principal
        assert env(service)["TAKEBACK_KAFKA_PASSWORD"].startswith(f"${{KAFKA_PASSWORD_{service.upper()}:?")
    assert env("gateway")["TAKEBACK_KAFKA_SIGNER"] == "gateway"
    assert "ensure_principals(" in inspect.getsource(init.main)
