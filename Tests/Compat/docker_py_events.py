"""docker-py 7.1 `client.events(decode=True)` against a swarmctl API: the kept events of a
window, then a live stream.

Usage: python3 docker_py_events.py /path/to/api.sock UNTIL
Prints "past TYPE ACTION NAME" for each kept event up to UNTIL (seconds since the epoch), then
"live TYPE ACTION NAME" for the first live service event after creating service pylive, then "ok".
Run by Tests/APITests/DockerCLIAgainstFakeTests.swift.
"""
import sys

import docker


def main(socket_path, until):
    client = docker.DockerClient(base_url="unix://" + socket_path, version="auto", timeout=30)
    for event in client.events(since=0, until=until, decode=True):
        print("past", event["Type"], event["Action"], event["Actor"]["Attributes"].get("name", ""), flush=True)
    live = client.events(decode=True, filters={"type": "service"})
    client.services.create("busybox:1", name="pylive", command=["true"])
    event = next(live)
    print("live", event["Type"], event["Action"], event["Actor"]["Attributes"].get("name", ""), flush=True)
    live.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
