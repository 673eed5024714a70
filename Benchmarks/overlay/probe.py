#!/usr/bin/env python3
"""Clients for Benchmarks/overlay/run.sh, run inside a namespace (nsenter --net=…).

  probe.py requests N MESH_HOST:PORT/PATH DIRECT_HOST:PORT/PATH[,…]
      N requests to each side, interleaved request by request (both sides see the same machine
      load), a new TCP connection per request, the direct targets in turn (as the mesh balances
      over the tasks); prints JSON with requests/s, p50, p99 per side and the mesh/direct ratio.
  probe.py dns N NAME [SERVER]
      N sequential A lookups of NAME over UDP to SERVER (default 127.0.0.11:53); JSON as above.
  probe.py watch HOST:PORT/PATH STOPFILE OUT
      Requests one after the other until STOPFILE exists; writes 'TIME_NS STATUS ADDRS' per
      request to OUT (ADDRS from the testbed page's addrs= field), for who-answered-when figures.
"""
import json, os, random, socket, struct, sys, time


def request(target, timeout=2.0):
    host_port, _, path = target.partition("/")
    host, _, port = host_port.partition(":")
    with socket.create_connection((host, int(port or 80)), timeout=timeout) as s:
        s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    reply = b"".join(chunks)
    if not reply.startswith(b"HTTP/1.") or b" 200 " not in reply.split(b"\r\n", 1)[0]:
        raise IOError("bad reply: %r" % reply[:80])
    return reply.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def stats(millis):
    ordered = sorted(millis)
    total = sum(millis) / 1000.0
    return {"count": len(millis), "per_second": len(millis) / total if total else 0,
            "p50_ms": ordered[len(ordered) // 2], "p99_ms": ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]}


def timed(function):
    begin = time.perf_counter_ns()
    function()
    return (time.perf_counter_ns() - begin) / 1e6


def requests(count, mesh, direct):
    mesh_ms, direct_ms = [], []
    targets = direct.split(",")
    for index in range(count):
        mesh_ms.append(timed(lambda: request(mesh)))
        direct_ms.append(timed(lambda: request(targets[index % len(targets)])))
    result = {"mesh": stats(mesh_ms), "direct": stats(direct_ms)}
    result["ratio"] = result["mesh"]["per_second"] / result["direct"]["per_second"]
    print(json.dumps(result))


def dns_query(name, ident):
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    return header + question


def dns(count, name, server="127.0.0.11:53"):
    host, _, port = server.partition(":")
    address = (host, int(port or 53))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    millis, failures = [], 0
    for index in range(count):
        ident = index & 0xffff
        query = dns_query(name, ident)
        begin = time.perf_counter_ns()
        sock.sendto(query, address)
        reply, _ = sock.recvfrom(4096)
        millis.append((time.perf_counter_ns() - begin) / 1e6)
        answers = struct.unpack(">H", reply[6:8])[0]
        if struct.unpack(">H", reply[0:2])[0] != ident or reply[3] & 0x0f != 0 or answers == 0:
            failures += 1
    result = stats(millis)
    result["failures"] = failures
    print(json.dumps(result))


def watch(target, stop, out):
    with open(out, "w") as log:
        while not os.path.exists(stop):
            begin = time.time_ns()
            try:
                body = request(target, timeout=1.0)
                addrs = next((w[6:] for w in body.split() if w.startswith("addrs=")), "")
                log.write("%d 0 %s\n" % (begin, addrs))
            except Exception as error:  # a failed request is a figure too
                log.write("%d 1 %s\n" % (begin, type(error).__name__))
            log.flush()


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "requests":
        requests(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif command == "dns":
        dns(int(sys.argv[2]), sys.argv[3], *sys.argv[4:5])
    elif command == "watch":
        watch(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("unknown command %s: use requests, dns or watch" % command)
