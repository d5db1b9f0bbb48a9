"""`takeback up | down | status`: the whole local stack, started without Docker."""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient

from infra.local import database, kafka, postgres
from infra.local.kafka_admin import upsert_users
from infra.local.principals import SERVICE_PRINCIPALS, ensure_principals
from infra.local.probes import postgres_answers, service_healthy
from infra.local.processes import Process
from infra.local.secrets import secret
from infra.local.topics import describe_cluster, ensure_topics
from infra.migrations.runner import upgrade
from services.common import db_roles
from services.common.kafka import OPERATOR, SIGNERS, client_options
from services.common.settings import Settings

READY_TIMEOUT_S = 120.0
POLL_S = 0.25


REPLICA_PORT_STEP = 100  # replica i of a service listens on its port + 100 * i


@dataclass(frozen=True)
class Service:
    """A process of ours, healthy when its /healthz answers 200; some run as several replicas."""

    name: str
    module: str
    port_setting: str
    replicas_setting: str | None = None

    def port(self, settings: Settings) -> int:
        return getattr(settings, self.port_setting)

    def instances(self, settings: Settings) -> list[tuple[str, int, dict[str, str]]]:
        """(process name, health port, environment) of each replica."""
        count = getattr(settings, self.replicas_setting) if self.replicas_setting else 1
        out = []
        for index in range(count):
            port = self.port(settings) + REPLICA_PORT_STEP * index
            name = self.name if index == 0 else f"{self.name}-{index + 1}"
            out.append((name, port, {f"TAKEBACK_{self.port_setting.upper()}": str(port)}))
        return out


SERVICES = (
    Service("streams", "streams.worker", "streams_metrics_port", "streams_workers"),
    Service("ledger", "services.ledger.entrypoints.worker", "ledger_metrics_port", "ledger_workers"),
    Service("gateway", "services.gateway.entrypoints.server", "http_port"),
)


class Stack:
    def __init__(self, settings: Settings, say=print):
        self.settings = settings
        self.say = say
        self.run_dir = settings.state_dir / "run"
        self.log_dir = settings.state_dir / "logs"
        # As many nodes as the data was formatted for (so `status` and `down` need no setting), else as asked.
        self.formatted_for = kafka.formatted_for(settings.state_dir)
        count = self.formatted_for or settings.kafka_brokers
        self.nodes = kafka.nodes(settings.kafka_bootstrap, settings.kafka_controller_port, count)
        self.brokers = [node.process(self.run_dir, self.log_dir) for node in self.nodes]
        self.kafka = self.brokers[0]
        self.bootstrap = (
            settings.kafka_bootstrap if count == 1 else ",".join(node.address for node in self.nodes)
        )

    def process(self, service: Service) -> Process:
        return Process(service.name, self.run_dir, self.log_dir)

    # -- up -----------------------------------------------------------------
    def up(self, services: tuple[Service, ...] = SERVICES) -> None:
        self._check_broker_count()
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._database_up()
        self._kafka_up()
        for service in services:
            self._service_up(service)
        self.say("stack is up")

    def _database_up(self) -> None:
        s = self.settings
        ours = Process("postgres", self.run_dir, self.log_dir).pid() is not None
        if not ours and asyncio.run(postgres_answers(s.database_url)):
            self.say(f"postgres: using {_redact(s.database_url)}")  # a database brought by its user
        else:
            cluster = self.local_cluster()
            cluster.ensure_initialised()
            cluster.start()
            _wait(lambda: asyncio.run(postgres_answers(cluster.superuser_url())), "postgres")
            asyncio.run(database.ensure_roles(cluster.superuser_url(), s))
            # From now on this process (and whoever holds these settings) connects with the generated
            # passwords.
            s.database_url = db_roles.of_local_cluster(s.database_url, s.state_dir)
            s.database_owner_url = db_roles.of_local_cluster(s.database_owner_url, s.state_dir)
            self.say(f"postgres: local cluster on {cluster.host}:{cluster.port}, a role per service")
        owner = s.database_owner_url
        upgrade(owner if asyncio.run(postgres_answers(owner)) else s.database_url)
        self.say("postgres: migrations at head")

    def database_env(self, service: str) -> dict[str, str]:
        """The service's own database role (its URL with its password), when its password is known.

        On the local cluster it always is; for a database brought by its user, when its password is put in
        `<state dir>/secrets/postgres-<role>`. Otherwise the service connects as TAKEBACK_DATABASE_URL says.
        """
        role = db_roles.SERVICE_ROLES[service]
        if db_roles.known_password(self.settings.state_dir, role) is None:
            return {}
        return {"TAKEBACK_DATABASE_URL": self.settings.database_url_as(role)}

    def local_cluster(self) -> postgres.LocalCluster:
        return postgres.LocalCluster(
            postgres.ensure_installed(), self.settings.state_dir, self.settings.database_url
        )

    def _check_broker_count(self) -> None:
        """Kafka's data serves the number of nodes it was formatted for: refuse another before touching it."""
        asked, formatted = self.settings.kafka_brokers, self.formatted_for
        if formatted is not None and formatted != asked:
            where = kafka.kafka_dir(self.settings.state_dir)
            raise RuntimeError(
                f"Kafka's data in {where} was formatted for {formatted} "
                f"broker{'s' if formatted > 1 else ''}, not {asked}: run `takeback up --brokers {formatted}` "
                f"(or TAKEBACK_KAFKA_BROKERS={formatted}), "
                f"or `takeback down` and remove {where} to start afresh without its events"
            )

    def _kafka_up(self) -> None:
        s = self.settings
        libs = kafka.ensure_jars(s.cache_dir)
        admin_password = secret(s.state_dir, "kafka-admin")
        if self.formatted_for is not None and not kafka.is_secured(s.state_dir):
            self._secure_existing_data(libs, admin_password)
        props = [
            kafka.server_properties(s.state_dir, self.nodes, node, s.topic_partitions, admin_password)
            for node in self.nodes
        ]
        cluster_id = kafka.ensure_formatted(libs, s.state_dir, props, admin_password)
        for process, path in zip(self.brokers, props):
            kafka.start(process, libs, path)
        options = client_options(s)
        for node in self.nodes:
            _wait(lambda node=node: asyncio.run(_broker_answers(node, options)), node.name)
        _wait(
            lambda: asyncio.run(_registered_brokers(self.bootstrap, options)) >= len(self.nodes),
            "kafka cluster",
        )
        factor, min_isr = kafka.replication(len(self.nodes))
        created = asyncio.run(
            ensure_topics(
                self.bootstrap,
                s.topic_partitions,
                s.topic_retention_ms,
                replication_factor=factor,
                min_insync_replicas=min_isr,
                options=options,
            )
        )
        asyncio.run(self._ensure_principals(options))
        self.say(
            f"kafka {kafka.KAFKA_VERSION}: cluster {cluster_id} on {self.bootstrap}"
            + (
                f" ({len(self.nodes)} brokers, replication {factor}, min.insync.replicas {min_isr})"
                if len(self.nodes) > 1
                else ""
            )
            + (f", created {len(created)} topics" if created else "")
            + ", SASL/SCRAM with ACLs"
        )

    def _secure_existing_data(self, libs, admin_password: str) -> None:
        """Data formatted before authentication: started once as it was, it is given the operator's
        credential."""
        s = self.settings
        props = [
            kafka.server_properties(s.state_dir, self.nodes, node, s.topic_partitions) for node in self.nodes
        ]
        for process, path in zip(self.brokers, props):
            kafka.start(process, libs, path)
        for node in self.nodes:
            _wait(lambda node=node: asyncio.run(_broker_answers(node, {})), node.name)
        asyncio.run(
            _with_admin(self.bootstrap, {}, lambda admin: upsert_users(admin, {OPERATOR: admin_password}))
        )
        for process in self.brokers:
            process.stop()
        kafka.mark_secured(s.state_dir)
        self.say("kafka: data from before authentication given the operator's SCRAM credential")

    async def _ensure_principals(self, options: dict) -> None:
        """Each service's principal and ACLs; the gateway's and the operator's signing keys in the
        database."""
        s = self.settings
        await ensure_principals(
            self.bootstrap,
            options,
            s.streams_group,
            {name: secret(s.state_dir, f"kafka-{service}") for service, name in SERVICE_PRINCIPALS.items()},
            s.database_owner_url,
            {signer: secret(s.state_dir, f"signing-{signer}") for signer in SIGNERS},
        )

    def kafka_env(self) -> dict[str, str]:
        """What the services are told of Kafka: every broker of the local cluster."""
        return {"TAKEBACK_KAFKA_BOOTSTRAP": self.bootstrap, "TAKEBACK_KAFKA_BROKERS": str(len(self.nodes))}

    def service_env(self, service: Service) -> dict[str, str]:
        """The service's own Kafka principal (and the gateway's signing key), never the operator's."""
        s = self.settings
        env = {
            **self.kafka_env(),
            "TAKEBACK_KAFKA_USERNAME": SERVICE_PRINCIPALS[service.name],
            "TAKEBACK_KAFKA_PASSWORD": secret(s.state_dir, f"kafka-{service.name}"),
        }
        if service.name == "gateway":
            env |= {
                "TAKEBACK_KAFKA_SIGNER": "gateway",
                "TAKEBACK_KAFKA_SIGNING_SECRET": secret(s.state_dir, "signing-gateway"),
            }
        return env

    def _service_up(self, service: Service) -> None:
        for name, port, env in service.instances(self.settings):
            process = Process(name, self.run_dir, self.log_dir)
            env = {**self.service_env(service), **self.database_env(service.name), **env}
            if process.pid() is not None and not process.runs_with(env):
                self.say(f"{name}: restarted with its own credentials")  # started by an earlier version
                process.stop()
            process.start([sys.executable, "-m", service.module], env=env)
            _wait(lambda port=port, process=process: service_healthy(port) or _died(process), name)
            if process.pid() is None:
                raise RuntimeError(f"{name} exited at start; see {process.log_file}")
            self.say(f"{name}: healthy on port {port}")

    # -- down ---------------------------------------------------------------
    def down(self) -> None:
        for service in reversed(SERVICES):
            replicas = sorted(self.run_dir.glob(f"{service.name}-*.pid"))
            for process in [
                self.process(service),
                *(Process(p.stem, self.run_dir, self.log_dir) for p in replicas),
            ]:
                if process.stop():
                    self.say(f"{process.name}: stopped")
        # All nodes at once: a node stopping alone waits for a quorum that the others would leave.
        brokers = {p.name: p for p in self.brokers}
        brokers |= {
            p.stem: Process(p.stem, self.run_dir, self.log_dir) for p in self.run_dir.glob("kafka*.pid")
        }
        with ThreadPoolExecutor(max_workers=len(brokers) or 1) as pool:
            stopped = list(pool.map(lambda process: process.stop(), brokers.values()))
        for name, was_running in zip(brokers, stopped):
            if was_running:
                self.say(f"{name}: stopped")
        cluster = postgres.LocalCluster(
            postgres.find_bin_dir() or postgres.Path("/"), self.settings.state_dir, self.settings.database_url
        )
        if cluster.stop():
            self.say("postgres: stopped")

    # -- status -------------------------------------------------------------
    def status(self) -> list[dict]:
        s = self.settings
        rows = [
            {
                "part": "postgres",
                "healthy": asyncio.run(postgres_answers(s.database_url)),
                "where": _redact(s.database_url),
                "pid": Process("postgres", self.run_dir, self.log_dir).pid(),
            },
        ]
        for node, process in zip(self.nodes, self.brokers):  # a row per broker
            rows.append(
                {
                    "part": node.name,
                    "healthy": asyncio.run(_broker_answers(node, client_options(s))),
                    "where": node.address,
                    "pid": process.pid(),
                }
            )
        for service in SERVICES:
            for name, port, _ in service.instances(s):
                rows.append(
                    {
                        "part": name,
                        "healthy": service_healthy(port),
                        "where": f"{s.http_host}:{port}",
                        "pid": Process(name, self.run_dir, self.log_dir).pid(),
                    }
                )
        return rows


def with_brokers(settings: Settings, count: int) -> Settings:
    """The settings for `count` local Kafka nodes (`takeback up --brokers`): the bootstrap lists each one."""
    if count == settings.kafka_brokers:
        return settings
    first = settings.kafka_bootstrap.split(",")[0].strip()
    return Settings(**{**settings.model_dump(), "kafka_brokers": count, "kafka_bootstrap": first})


def _wait(check, what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"{what} did not become healthy within {timeout_s:.0f} s")


async def _broker_answers(node: kafka.Node, options: dict, timeout_s: float = 5.0) -> bool:
    """This broker itself answers a metadata request and lists itself (registered, not fenced).

    Asked alone: a probe through the cluster could be sent on to another broker, which is down.
    """
    client = AIOKafkaClient(
        bootstrap_servers=node.address, request_timeout_ms=int(timeout_s * 1000), **options
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=timeout_s)
        return any(broker.nodeId == node.node_id for broker in client.cluster.brokers())
    except Exception:  # any failure to reach it means "not up"
        return False
    finally:
        await client.close()


async def _registered_brokers(bootstrap: str, options: dict) -> int:
    """Brokers the cluster's metadata lists (each registered with the controller quorum)."""
    try:
        return len((await asyncio.wait_for(describe_cluster(bootstrap, options), timeout=5.0))["brokers"])
    except Exception:  # not reachable yet
        return 0


async def _with_admin(bootstrap: str, options: dict, work) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **options)
    try:
        await admin.start()
        await work(admin)
    finally:
        await admin.close()


def _died(process: Process) -> bool:
    return process.pid() is None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.username}@{parts.hostname}:{parts.port}{parts.path}"
