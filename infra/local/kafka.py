"""Apache Kafka in KRaft mode from Apache's own jars, fetched once into a cache."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.local.processes import Process

KAFKA_VERSION = "4.4.0"  # newest release aiokafka 0.14 and faust-streaming 0.15 are tested against
INFRA_DIR = Path(__file__).resolve().parents[1] / "kafka"
# A single local broker: a small heap and bounded JVM areas keep it well under 500 MB resident.
JVM_MEMORY = ("-Xms256m", "-Xmx256m", "-XX:MaxMetaspaceSize=96m", "-XX:ReservedCodeCacheSize=48m",
              "-XX:MaxDirectMemorySize=128m", "-Xss512k")


def jars_dir(cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_jars(cache_dir: Path) -> Path:
    """Resolve the broker's jars with Maven into the cache, once."""
    libs = jars_dir(cache_dir)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch Kafka's jars; install it (apt-get install maven)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(INFRA_DIR / "pom.xml"), "dependency:copy-dependencies",
         f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
        check=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(KAFKA_VERSION)
    return libs


def server_properties(state_dir: Path, bootstrap: str, controller_port: int, partitions: int) -> Path:
    host, port = bootstrap.split(":")
    data = state_dir / "kafka" / "data"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": str(partitions),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "-1",
    }
    path = state_dir / "kafka" / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def _java(libs: Path, log_file: Path, *args: str) -> list[str]:
    return [
        "java", *JVM_MEMORY, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.properties'}",
        f"-Dtakeback.kafka.logfile={log_file}",
        "-cp", f"{libs}/*", *args,
    ]


def ensure_formatted(libs: Path, state_dir: Path, props: Path) -> str:
    """Format the KRaft log dirs once; return the cluster id."""
    id_file = state_dir / "kafka" / "cluster.id"
    if id_file.exists():
        return id_file.read_text().strip()
    log = state_dir / "logs" / "kafka-format.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cluster_id = subprocess.run(
        _java(libs, log, "kafka.tools.StorageTool", "random-uuid"),
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    subprocess.run(
        _java(libs, log, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
        check=True, capture_output=True, text=True,
    )
    id_file.write_text(cluster_id)
    return cluster_id


def start(process: Process, libs: Path, props: Path) -> int:
    return process.start(_java(libs, process.log_file, "kafka.Kafka", str(props)))
