"""docker-py 7.1 against a swarmctl manager: the calls of reference/docker-api/sdk, checked.

Usage: python3 docker_py_compat.py /path/to/api.sock
Prints one line per step and "ok" at the end; exits 1 with the failing step on any mismatch.
Run by Tests/SwarmNodeTests/DockerCompatibilityTests.swift.
"""
import random
import sys
import time

import docker
from docker.types import ConfigReference, SecretReference, ServiceMode


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)


def main(socket_path):
    client = docker.DockerClient(base_url="unix://" + socket_path, version="auto", timeout=30)
    print("api version", client.api.api_version, flush=True)
    check(client.api.api_version == "1.41", "version negotiation picks 1.41")

    attrs = client.swarm.attrs
    check(len(attrs["ID"]) > 0, "swarm.attrs has an ID")
    check(attrs["JoinTokens"]["Worker"].startswith("SWMTKN-"), "swarm.attrs has join tokens")
    print("swarm", attrs["ID"], flush=True)

    nodes = client.nodes.list()
    check(len(nodes) == 1, f"one node, got {len(nodes)}")
    check(nodes[0].attrs["Spec"]["Role"] == "manager", "the node is a manager")
    check(nodes[0].attrs["ManagerStatus"].get("Leader") is True, "the node leads")
    check([n.id for n in client.nodes.list(filters={"role": "manager"})] == [nodes[0].id], "role filter")
    print("nodes", [n.attrs["Description"]["Hostname"] for n in nodes], flush=True)

    service = client.services.create(
        "busybox", command=["sleep", "3600"], name="pyweb",
        mode=ServiceMode("replicated", replicas=3), env=["A=1"], labels={"team": "x"})
    check(service.name == "pyweb", "created service is named pyweb")
    check(len(service.id) == 25 and service.id.isalnum() and service.id.islower(), f"docker-style id {service.id}")
    spec = service.attrs["Spec"]
    check(spec["Mode"] == {"Replicated": {"Replicas": 3}}, f"mode stored as Replicated: {spec['Mode']}")
    check(spec["TaskTemplate"]["ContainerSpec"]["Command"] == ["sleep", "3600"], "command")
    check(spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"], "env")
    check(spec["Labels"] == {"team": "x"}, "labels")
    print("created", service.id, flush=True)

    listed = client.services.list(filters={"name": "pyweb"}, status=True)
    check([s.id for s in listed] == [service.id], "list by name")
    status = listed[0].attrs["ServiceStatus"]
    check(status["DesiredTasks"] == 3, f"ServiceStatus.DesiredTasks: {status}")
    check(client.services.get("pyweb").id == service.id, "get by name")
    check(client.services.get(service.id[:6]).id == service.id, "get by id prefix")
    try:
        client.services.get("nosuchservice")
        check(False, "get of a missing service raises NotFound")
    except docker.errors.NotFound as error:
        check("service nosuchservice not found" in str(error), f"NotFound text: {error}")

    stale_version = service.version
    check(service.scale(5) == {"Warnings": None}, "scale answers Warnings: null")
    service.reload()
    check(service.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 5, "scaled to 5")
    print("scaled", service.version, flush=True)

    try:
        client.api.update_service(service.id, stale_version, task_template=spec["TaskTemplate"], name="pyweb",
                                  mode=ServiceMode("replicated", replicas=9))
        check(False, "a stale version is refused")
    except docker.errors.APIError as error:
        check(error.response.status_code == 500 and "update out of sequence" in str(error), f"stale update: {error}")
    service.reload()
    check(service.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 5, "the stale update changed nothing")

    tasks = service.tasks()
    check(all(t["ServiceID"] == service.id for t in tasks), "tasks belong to the service")
    running = service.tasks(filters={"desired-state": "running"})
    check(all(t["DesiredState"] == "running" for t in running), "desired-state filter")
    print("tasks", len(tasks), "desired running", len(running), flush=True)

    check(service.remove() is True, "remove")
    check(client.services.list() == [], "no services left")

    # Networks: docker-py's networks=[...] and endpoint_spec reach the cluster (they were dropped once).
    network = client.networks.create("pynet", driver="overlay", labels={"team": "x"})
    check(network.attrs["Driver"] == "overlay" and network.attrs["Scope"] == "swarm", f"overlay network: {network.attrs}")
    check([n.name for n in client.networks.list(filters={"label": "team=x"})] == ["pynet"], "network label filter")
    try:
        client.networks.create("pybridge")
        check(False, "a bridge network is refused")
    except docker.errors.APIError as error:
        check("network driver bridge is not available" in str(error), f"bridge refusal: {error}")
    from docker.types import EndpointSpec
    service = client.services.create("busybox", command=["sleep", "3600"], name="pynetweb", networks=["pynet"],
                                     endpoint_spec=EndpointSpec(ports={8090: 80}))
    endpoint = service.attrs["Endpoint"]
    check([p["PublishedPort"] for p in endpoint["Ports"]] == [8090], f"published port: {endpoint}")
    check(network.id in [v["NetworkID"] for v in endpoint["VirtualIPs"]], f"a VIP on pynet: {endpoint}")
    check(service.attrs["Spec"]["TaskTemplate"]["Networks"] == [{"Target": network.id}], "the network by id")
    try:
        network.remove()
        check(False, "a network in use is not removed")
    except docker.errors.APIError as error:
        check("is in use by service pynetweb" in str(error), f"in-use refusal: {error}")
    check(service.remove() is True, "remove the network's service")
    network.remove()
    check([n.name for n in client.networks.list()] == ["ingress"], "only ingress is left")
    print("networks ok", flush=True)
    secrets_and_configs(client)
    print("ok", flush=True)


def secrets_and_configs(client):
    """client.secrets / client.configs and SecretReference: the task (process executor here)
    reads its secret from $SWARMCTL_SECRETS_DIR; no answer ever carries the secret's data."""
    value = "py-%d" % random.getrandbits(63)
    secret = client.secrets.create(name="py_pw", data=value, labels={"team": "py"})
    check(len(secret.id) == 25, f"secret id {secret.id}")
    got = client.secrets.get("py_pw")
    check(got.name == "py_pw" and got.attrs["Spec"]["Labels"] == {"team": "py"}, "secrets.get by name")
    check("Data" not in got.attrs["Spec"] and value not in str(got.attrs), "a secret's data is never returned")
    check([s.id for s in client.secrets.list(filters={"name": "py_pw"})] == [secret.id], "secrets.list name filter")
    config = client.configs.create(name="py_conf", data="listen 80")
    check(client.configs.get(config.id).attrs["Spec"]["Data"] == "bGlzdGVuIDgw", "a config's data is shown (base64)")
    print("secret", secret.id, "config", config.id, flush=True)

    service = client.services.create(
        "busybox", command=["sh", "-c", 'cat "$SWARMCTL_SECRETS_DIR/py_pw"; echo; sleep 3600'], name="pysecret",
        secrets=[SecretReference(secret.id, "py_pw")])
    refs = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    check(refs == [{"File": {"Name": "py_pw", "UID": "0", "GID": "0", "Mode": 0o444}, "SecretID": secret.id, "SecretName": "py_pw"}],
          f"the reference is kept as sent: {refs}")
    check(value not in str(client.api.inspect_service(service.id)), "service inspect never shows the secret")
    deadline = time.time() + 30
    logs = b""
    while time.time() < deadline and value.encode() not in logs:
        logs = service.logs(stdout=True)
        logs = logs if isinstance(logs, bytes) else b"".join(logs)
        time.sleep(0.2)
    check(value.encode() in logs, f"the task read its secret: {logs!r}; tasks: {[t['Status'] for t in service.tasks()]}")
    try:
        secret.remove()
        check(False, "removing a secret in use is refused")
    except docker.errors.APIError as error:
        check(error.response.status_code == 400 and "pysecret" in str(error), f"in use: {error}")
    try:
        client.services.create("busybox", command=["true"], name="pyghost",
                               secrets=[SecretReference("nosuchid0000000000000000", "ghost")])
        check(False, "an unknown secret is refused")
    except docker.errors.APIError as error:
        check(error.response.status_code == 400 and "secret not found" in str(error), f"unknown secret: {error}")
    check(service.remove() is True, "remove the secret's service")
    deadline = time.time() + 10
    while True:
        try:
            secret.remove()
            break
        except docker.errors.APIError:
            check(time.time() < deadline, "the secret can be removed once no service uses it")
            time.sleep(0.2)
    check(client.secrets.list() == [], "no secrets left")
    config.remove()
    check(client.configs.list() == [], "no configs left")
    print("secrets ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
