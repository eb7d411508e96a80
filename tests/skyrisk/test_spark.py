"""The SparkSession factory: a local driver is reachable from this machine only; a cluster driver
still advertises the address executors use."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from infra.ports import free_port
from skyrisk.settings import ENV_PREFIX, load_settings
from skyrisk.spark import driver_environment, spark_conf
from tests.sockets import child_environment, exposed, listening


def test_a_local_driver_binds_to_loopback():
    local = load_settings(_env_file=None, spark_master="local[2]")
    conf = spark_conf(local, "t")
    assert conf["spark.driver.bindAddress"] == "127.0.0.1" and conf["spark.driver.host"] == "127.0.0.1"
    assert driver_environment(local) == {"SPARK_LOCAL_IP": "127.0.0.1"}


def test_a_cluster_driver_keeps_its_advertised_host():
    cluster = load_settings(_env_file=None, spark_master="spark://spark-master:7077", spark_driver_host="streaming")
    conf = spark_conf(cluster, "t", under_spark_submit=True)
    assert conf["spark.driver.host"] == "streaming" and conf["spark.driver.bindAddress"] == "0.0.0.0"
    assert driver_environment(cluster) == {}
    assert driver_environment(load_settings(_env_file=None, spark_master="spark://m:7077")) == {}
    assert driver_environment(load_settings(_env_file=None), under_spark_submit=True) == {}


@pytest.mark.integration
def test_spark_driver_and_its_web_ui_listen_on_loopback_only(stack_settings, tmp_path):
    """A local driver with its UI on: Spark's UI ignores spark.driver.bindAddress (it uses SPARK_LOCAL_IP)."""
    ui_port = free_port()
    script = (
        "import sys\n"
        "from skyrisk.settings import load_settings\n"
        "from skyrisk.spark import create_spark_session\n"
        "spark = create_spark_session(load_settings(), 'bind-check')\n"
        "spark.range(10).count()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "spark.stop()\n"
    )
    env = child_environment(stack_settings, **{f"{ENV_PREFIX}SPARK_MASTER": "local[1]",
                                      f"{ENV_PREFIX}SPARK_UI_PORT": str(ui_port),
                                      f"{ENV_PREFIX}SPARK_DRIVER_MEMORY": "512m"})
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        sockets = listening(psutil.Process(process.pid))
        assert ui_port in {port for _, _, port in sockets}, f"the Spark UI is not up: {sockets}"
        assert exposed(sockets) == []
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


