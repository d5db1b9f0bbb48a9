"""Apache Kafka in KRaft mode from Apache's own jars, fetched once into a cache.

One node by default (broker and controller, data in `.state/kafka/`). With
`TAKEBACK_KAFKA_BROKERS=3` (`takeback up --brokers 3`), three such nodes on one
machine form a cluster: node i (1-based) listens on the first bootstrap port +
2 * (i - 1) and on the controller port + 2 * (i - 1), keeps its data in
`.state/kafka/node-<i>/`, and all three are the controller quorum's voters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.local.processes import Process

KAFKA_VERSION = "4.4.0"  # newest release aiokafka 0.14 and faust-streaming 0.15 are tested against
INFRA_DIR = Path(__file__).resolve().parents[1] / "kafka"
# Per node: a small heap and bounded JVM areas keep each broker well under 500 MB resident.
JVM_MEMORY = (
    "-Xms256m",
    "-Xmx256m",
    "-XX:MaxMetaspaceSize=96m",
    "-XX:ReservedCodeCacheSize=48m",
    "-XX:MaxDirectMemorySize=128m",
    "-Xss512k",
)
PORT_STEP = (
    2  # node i: bootstrap port + 2 * i, controller port + 2 * i (they interleave: 9092, 9093, 9094, ...)
)
SECURED_FILE = "secured"  # in .state/kafka/: the data holds the operator's SCRAM credential
BROKERS_FILE = "brokers"  # in .state/kafka/: how many nodes the data was formatted for (absent: one)


@dataclass(frozen=True)
class Node:
    """One local Kafka node: a broker and a controller in one process."""

    node_id: int
    host: str
    port: int
    controller_port: int
    count: int  # nodes in the cluster

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        """Process (pid and log file) name: `kafka` alone, `kafka-<id>` in a cluster."""
        return "kafka" if self.count == 1 else f"kafka-{self.node_id}"

    def dir(self, state_dir: Path) -> Path:
        return kafka_dir(state_dir) if self.count == 1 else kafka_dir(state_dir) / f"node-{self.node_id}"

    def process(self, run_dir: Path, log_dir: Path) -> Process:
        return Process(self.name, run_dir, log_dir)


def kafka_dir(state_dir: Path) -> Path:
    return state_dir / "kafka"


def nodes(bootstrap: str, controller_port: int, count: int) -> list[Node]:
    """The local nodes: the bootstrap list's own addresses when it names `count`, else from its first."""
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    if len(addresses) != count:
        host, port = addresses[0].rsplit(":", 1)
        addresses = [f"{host}:{int(port) + PORT_STEP * i}" for i in range(count)]
    out = []
    for i, address in enumerate(addresses):
        host, port = address.rsplit(":", 1)
        out.append(Node(i + 1, host, int(port), controller_port + PORT_STEP * i, count))
    return out


def replication(count: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `count` nodes: 3 and 2 from three up."""
    factor = min(count, 3)
    return factor, max(1, factor - 1)


def formatted_for(state_dir: Path) -> int | None:
    """How many nodes the data in .state/kafka was formatted for; None when it is not formatted."""
    directory = kafka_dir(state_dir)
    recorded = directory / BROKERS_FILE
    if recorded.exists():
        return int(recorded.read_text().strip())
    return 1 if (directory / "cluster.id").exists() else None


def jars_dir(cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_jars(cache_dir: Path) -> Path:
    """Resolve the broker's jars with Maven into the cache, once."""
    libs = jars_dir(cache_dir)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError(
            "Maven (mvn) is needed once to fetch Kafka's jars; install it (apt-get install maven)"
        )
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(INFRA_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(KAFKA_VERSION)
    return libs


def security_properties(admin_password: str) -> dict[str, str]:
    """Clients authenticate with SASL/SCRAM-SHA-512 and are authorised by ACLs; anonymous ones are refused.

    Brokers talk to each other as the operator (`admin`, a super user) over SCRAM; the controller
    listener takes PLAIN with the operator's password (SCRAM credentials live in the metadata the
    controllers serve, so they cannot authenticate the controllers themselves).
    """
    scram = (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" '
        f'password="{admin_password}";'
    )
    plain = (
        f'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        f'password="{admin_password}" user_admin="{admin_password}";'
    )
    return {
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
        "allow.everyone.if.no.acl.found": "false",
    }


def server_properties(
    state_dir: Path, cluster: list[Node], node: Node, partitions: int, admin_password: str | None = None
) -> Path:
    """The node's configuration; with `admin_password`, authenticated and authorised (the default)."""
    factor, min_isr = replication(len(cluster))
    voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in cluster)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.dir(state_dir) / "data"),
        "num.partitions": str(partitions),
        "offsets.topic.replication.factor": str(factor),
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(factor),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "-1",
    }
    if admin_password is not None:
        listener = "SASL_PLAINTEXT"
        props |= {
            "listeners": f"{listener}://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"{listener}://{node.address}",
            **security_properties(admin_password),
        }
    if len(cluster) > 1:  # what a topic made by a client without these settings gets
        props |= {"default.replication.factor": str(factor), "min.insync.replicas": str(min_isr)}
    path = node.dir(state_dir) / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
    )  # it holds the operator's password
    with os.fdopen(descriptor, "w") as out:
        out.write("".join(f"{k}={v}\n" for k, v in props.items()))
    os.chmod(path, 0o600)
    return path


def is_secured(state_dir: Path) -> bool:
    """The data was formatted, or upgraded, with the operator's SCRAM credential."""
    return (kafka_dir(state_dir) / SECURED_FILE).exists()


def mark_secured(state_dir: Path) -> None:
    (kafka_dir(state_dir) / SECURED_FILE).write_text("SCRAM-SHA-512\n")


def _java(libs: Path, log_file: Path, *args: str) -> list[str]:
    return [
        "java",
        *JVM_MEMORY,
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.properties'}",
        f"-Dtakeback.kafka.logfile={log_file}",
        "-cp",
        f"{libs}/*",
        *args,
    ]


def ensure_formatted(
    libs: Path, state_dir: Path, props: list[Path], admin_password: str | None = None
) -> str:
    """Format each node's KRaft log dir once, all with one cluster id; return the cluster id.

    The id is chosen first and kept in `cluster.id.pending` until every node is formatted,
    so a format that was interrupted is finished with the same id when `up` runs again.
    """
    directory = kafka_dir(state_dir)
    id_file = directory / "cluster.id"
    if id_file.exists():
        return id_file.read_text().strip()
    log = state_dir / "logs" / "kafka-format.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    pending = directory / "cluster.id.pending"
    if pending.exists():
        cluster_id = pending.read_text().strip()
    else:
        cluster_id = (
            subprocess.run(
                _java(libs, log, "kafka.tools.StorageTool", "random-uuid"),
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        pending.write_text(cluster_id)
    if len(props) > 1:  # recorded first: a format cut short is finished for as many nodes, or refused
        (directory / BROKERS_FILE).write_text(f"{len(props)}\n")
    scram = ["--add-scram", f"SCRAM-SHA-512=[name=admin,password={admin_password}]"] if admin_password else []
    for path in props:
        subprocess.run(  # the output names the credential's keys: it is not logged
            _java(
                libs,
                log,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(path),
                "--ignore-formatted",
                *scram,
            ),
            check=True,
            capture_output=True,
            text=True,
        )
    if admin_password:
        mark_secured(state_dir)
    pending.rename(id_file)
    return cluster_id


def start(process: Process, libs: Path, props: Path) -> int:
    return process.start(_java(libs, process.log_file, "kafka.Kafka", str(props)))
