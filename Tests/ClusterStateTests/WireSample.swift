import SeededRandom
import Wire
@testable import ClusterState

/// Seeded services for the wire decoder tests: `full` sets every optional and fills every
/// collection (so `collectUnset` finds nothing), otherwise each optional is set at random.
enum WireSample {
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    static func service(_ random: inout SplitMix64, full: Bool) -> Service {
        var service = Service(id: id(&random), version: ObjectVersion(index: random.next() >> 20),
                              createdAt: time(&random), spec: spec(&random, full: full),
                              previousSpec: maybe(&random, full) { spec(&$0, full: full) },
                              updateStatus: maybe(&random, full) {
                                  UpdateStatus(state: pick(&$0, [.updating, .paused, .completed, .rollbackStarted, .rollbackPaused, .rollbackCompleted]),
                                               startedAt: maybe(&$0, full) { time(&$0) }, completedAt: maybe(&$0, full) { time(&$0) },
                                               message: maybe(&$0, full) { text(&$0) })
                              })
        service.updatedAt = time(&random)
        service.endpoint = maybe(&random, full) {
            ServiceEndpoint(spec: endpointSpec(&$0, full: full), ports: list(&$0, full) { port(&$0, full: full) },
                            virtualIPs: list(&$0, full) { VirtualIP(networkID: id(&$0), addr: "10.0.\($0.below(255)).\($0.below(255))/24") })
        }
        return service
    }

    static func task(_ random: inout SplitMix64, full: Bool) -> SwarmTask {
        let states = TaskState.allCases
        var task = SwarmTask(id: id(&random), version: ObjectVersion(index: random.next() >> 20), createdAt: time(&random),
                             serviceID: id(&random), slot: maybe(&random, full) { $0.next() % 100 },
                             nodeID: maybe(&random, full) { id(&$0) }, spec: template(&random, full: full),
                             desiredState: pick(&random, states),
                             status: TaskStatus(timestamp: time(&random), state: pick(&random, states), message: text(&random),
                                                err: maybe(&random, full) { text(&$0) },
                                                containerStatus: maybe(&random, full) {
                                                    ContainerStatus(containerID: maybe(&$0, full) { id(&$0) },
                                                                    pid: maybe(&$0, full) { signed(&$0) },
                                                                    exitCode: maybe(&$0, full) { signed(&$0) })
                                                }))
        task.updatedAt = time(&random)
        task.networksAttachments = maybe(&random, full) {
            list(&$0, full) { NetworkAttachment(networkID: id(&$0), addresses: texts(&$0, full), aliases: maybe(&$0, full) { texts(&$0, full) }) }
        }
        task.serviceAnnotations = maybe(&random, full) { TaskServiceAnnotations(name: text(&$0)) }
        return task
    }

    /// A service like the benchmark's writes: name, one label, image and args, 0 replicas.
    static func benchmarkService(_ random: inout SplitMix64) -> Service {
        let spec = ServiceSpec(name: "w\(random.next() % 1_000_000)", labels: ["v": "\(random.next() % 1_000_000)"],
                               taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "3600"])),
                               mode: .replicated(replicas: 0))
        return Service(id: id(&random), version: ObjectVersion(index: random.next() >> 40), createdAt: time(&random), spec: spec)
    }

    static func spec(_ random: inout SplitMix64, full: Bool) -> ServiceSpec {
        ServiceSpec(name: text(&random), labels: dictionary(&random, full),
                    taskTemplate: template(&random, full: full),
                    mode: random.below(3) == 0 ? .global : .replicated(replicas: random.next() % 100),
                    updateConfig: maybe(&random, full) { update(&$0, full: full) },
                    rollbackConfig: maybe(&random, full) { update(&$0, full: full) },
                    endpointSpec: maybe(&random, full) { endpointSpec(&$0, full: full) },
                    networks: maybe(&random, full) { list(&$0, full) { attachment(&$0, full: full) } })
    }

    static func template(_ random: inout SplitMix64, full: Bool) -> TaskTemplate {
        TaskTemplate(containerSpec: container(&random, full: full),
                     resources: maybe(&random, full) {
                         ResourceRequirements(limits: maybe(&$0, full) { amounts(&$0, full: full) },
                                              reservations: maybe(&$0, full) { amounts(&$0, full: full) })
                     },
                     restartPolicy: maybe(&random, full) {
                         RestartPolicy(condition: maybe(&$0, full) { pick(&$0, [.none, .onFailure, .any]) },
                                       delay: maybe(&$0, full) { signed(&$0) }, maxAttempts: maybe(&$0, full) { $0.next() % 10 },
                                       window: maybe(&$0, full) { signed(&$0) })
                     },
                     placement: maybe(&random, full) {
                         Placement(constraints: maybe(&$0, full) { texts(&$0, full) },
                                   preferences: maybe(&$0, full) { list(&$0, full) { PlacementPreference(spreadDescriptor: text(&$0)) } },
                                   maxReplicas: maybe(&$0, full) { $0.next() % 5 })
                     },
                     forceUpdate: maybe(&random, full) { $0.next() }, runtime: maybe(&random, full) { text(&$0) },
                     networks: maybe(&random, full) { list(&$0, full) { attachment(&$0, full: full) } })
    }

    static func container(_ random: inout SplitMix64, full: Bool) -> ContainerSpec {
        var spec = ContainerSpec(
            image: text(&random), labels: maybe(&random, full) { dictionary(&$0, full) },
            command: maybe(&random, full) { texts(&$0, full) }, args: maybe(&random, full) { texts(&$0, full) },
            hostname: maybe(&random, full) { text(&$0) }, env: maybe(&random, full) { texts(&$0, full) },
            dir: maybe(&random, full) { text(&$0) }, user: maybe(&random, full) { text(&$0) },
            initProcess: maybe(&random, full) { $0.below(2) == 0 }, stopGracePeriod: maybe(&random, full) { signed(&$0) },
            stopSignal: maybe(&random, full) { text(&$0) },
            healthcheck: maybe(&random, full) {
                HealthConfig(test: maybe(&$0, full) { texts(&$0, full) }, interval: maybe(&$0, full) { signed(&$0) },
                             timeout: maybe(&$0, full) { signed(&$0) }, retries: maybe(&$0, full) { signed(&$0) },
                             startPeriod: maybe(&$0, full) { signed(&$0) })
            },
            isolation: maybe(&random, full) { text(&$0) })
        spec.groups = maybe(&random, full) { texts(&$0, full) }
        spec.privileges = maybe(&random, full) {
            Privileges(seccomp: maybe(&$0, full) { Privileges.Seccomp(mode: maybe(&$0, full) { text(&$0) }) },
                       noNewPrivileges: maybe(&$0, full) { $0.below(2) == 0 })
        }
        spec.readOnly = maybe(&random, full) { $0.below(2) == 0 }
        spec.mounts = maybe(&random, full) { list(&$0, full) { mount(&$0, full: full) } }
        spec.hosts = maybe(&random, full) { texts(&$0, full) }
        spec.dnsConfig = maybe(&random, full) {
            DNSConfig(nameservers: maybe(&$0, full) { texts(&$0, full) }, search: maybe(&$0, full) { texts(&$0, full) },
                      options: maybe(&$0, full) { texts(&$0, full) })
        }
        spec.sysctls = maybe(&random, full) { dictionary(&$0, full) }
        spec.capabilityAdd = maybe(&random, full) { texts(&$0, full) }
        spec.capabilityDrop = maybe(&random, full) { texts(&$0, full) }
        spec.ulimits = maybe(&random, full) { list(&$0, full) { Ulimit(name: text(&$0), soft: signed(&$0), hard: signed(&$0)) } }
        spec.secrets = maybe(&random, full) {
            list(&$0, full) { SecretReference(file: maybe(&$0, full) { file(&$0) }, secretID: id(&$0), secretName: text(&$0)) }
        }
        spec.configs = maybe(&random, full) {
            list(&$0, full) { ConfigReference(file: maybe(&$0, full) { file(&$0) }, configID: id(&$0), configName: text(&$0)) }
        }
        return spec
    }

    static func mount(_ random: inout SplitMix64, full: Bool) -> Mount {
        Mount(type: pick(&random, ["bind", "volume", "tmpfs"]), source: maybe(&random, full) { text(&$0) }, target: "/" + text(&random),
              readOnly: maybe(&random, full) { $0.below(2) == 0 },
              bindOptions: maybe(&random, full) { Mount.BindOptions(propagation: maybe(&$0, full) { text(&$0) }) },
              volumeOptions: maybe(&random, full) { Mount.VolumeOptions(noCopy: maybe(&$0, full) { $0.below(2) == 0 }) },
              tmpfsOptions: maybe(&random, full) {
                  Mount.TmpfsOptions(sizeBytes: maybe(&$0, full) { signed(&$0) }, mode: maybe(&$0, full) { UInt32($0.below(0o7777)) })
              })
    }

    static func file(_ random: inout SplitMix64) -> PayloadFile {
        PayloadFile(name: text(&random), uid: "\(random.below(2000))", gid: "\(random.below(2000))", mode: UInt32(random.below(0o777)))
    }

    static func update(_ random: inout SplitMix64, full: Bool) -> UpdateConfig {
        UpdateConfig(parallelism: maybe(&random, full) { $0.next() % 10 }, delay: maybe(&random, full) { signed(&$0) },
                     failureAction: maybe(&random, full) { pick(&$0, [.pause, .continue, .rollback]) },
                     monitor: maybe(&random, full) { signed(&$0) },
                     maxFailureRatio: maybe(&random, full) { Double($0.below(1000)) / 999 },
                     order: maybe(&random, full) { pick(&$0, [.stopFirst, .startFirst]) })
    }

    static func endpointSpec(_ random: inout SplitMix64, full: Bool) -> EndpointSpec {
        EndpointSpec(mode: maybe(&random, full) { pick(&$0, ["vip", "dnsrr"]) },
                     ports: maybe(&random, full) { list(&$0, full) { port(&$0, full: full) } })
    }

    static func port(_ random: inout SplitMix64, full: Bool) -> PortConfig {
        PortConfig(name: maybe(&random, full) { text(&$0) }, protocol: maybe(&random, full) { pick(&$0, ["tcp", "udp", "sctp"]) },
                   targetPort: UInt32(random.below(65_536)), publishedPort: maybe(&random, full) { UInt32($0.below(65_536)) },
                   publishMode: maybe(&random, full) { pick(&$0, ["ingress", "host"]) },
                   publishPolicy: maybe(&random, full) { pick(&$0, ["local", "cluster"]) })
    }

    static func amounts(_ random: inout SplitMix64, full: Bool) -> ResourceAmounts {
        ResourceAmounts(nanoCPUs: maybe(&random, full) { signed(&$0) }, memoryBytes: maybe(&random, full) { signed(&$0) },
                        pids: maybe(&random, full) { signed(&$0) })
    }

    static func attachment(_ random: inout SplitMix64, full: Bool) -> NetworkAttachmentConfig {
        NetworkAttachmentConfig(target: id(&random), aliases: maybe(&random, full) { texts(&$0, full) })
    }

    // MARK: Scalars

    static func id(_ random: inout SplitMix64) -> String { String(random.next(), radix: 36) + String(random.next() % 1000, radix: 36) }

    static func time(_ random: inout SplitMix64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: 1_600_000_000_000 + random.next() % 400_000_000_000)
    }

    /// Text with some non-ASCII (é, ✓, 🐳) and empty strings now and then.
    static func text(_ random: inout SplitMix64) -> String {
        let pieces = ["a", "web", "é", "✓", "🐳", "-", "=", " ", "Z9", "/x"]
        return (0..<random.below(9)).map { _ in pieces[random.below(pieces.count)] }.joined()
    }

    static func signed(_ random: inout SplitMix64) -> Int64 {
        Int64(bitPattern: random.next()) >> Int64(random.below(63))
    }

    static func texts(_ random: inout SplitMix64, _ full: Bool) -> [String] { list(&random, full) { text(&$0) } }

    static func dictionary(_ random: inout SplitMix64, _ full: Bool) -> [String: String] {
        var result: [String: String] = [:]
        for index in 0..<(full ? 1 : 0) + random.below(4) { result["k\(index)" + text(&random)] = text(&random) }
        return result
    }

    static func list<T>(_ random: inout SplitMix64, _ full: Bool, _ make: (inout SplitMix64) -> T) -> [T] {
        (0..<(full ? 1 : 0) + random.below(4)).map { _ in make(&random) }
    }

    static func maybe<T>(_ random: inout SplitMix64, _ full: Bool, _ make: (inout SplitMix64) -> T) -> T? {
        full || random.below(2) == 0 ? make(&random) : nil
    }

    static func pick<T>(_ random: inout SplitMix64, _ choices: [T]) -> T { choices[random.below(choices.count)] }

    // MARK: Completeness and hand-made documents

    /// Paths of every nil optional and empty collection inside `value` (classes included).
    static func collectUnset(_ value: Any, path: String, into unset: inout [String]) {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            guard let wrapped = mirror.children.first else {
                unset.append(path)
                return
            }
            collectUnset(wrapped.value, path: path, into: &unset)
        case .collection, .dictionary, .set:
            if mirror.children.isEmpty { unset.append(path + " (empty)") }
            for (index, child) in mirror.children.enumerated() { collectUnset(child.value, path: "\(path)[\(index)]", into: &unset) }
        default:
            for child in mirror.children { collectUnset(child.value, path: "\(path).\(child.label ?? "?")", into: &unset) }
        }
    }

    /// A document whose top-level value is a keyed body with these entries (nil: a nil slot).
    static func document(keyed entries: [(String, [UInt8]?)]) -> [UInt8] {
        var body: [UInt8] = []
        for (key, value) in entries {
            body.append(UInt8(key.utf8.count))
            body.append(contentsOf: key.utf8)
            if let value {
                body.append(UInt8(value.count + 1))
                body.append(contentsOf: value)
            } else {
                body.append(0)
            }
        }
        precondition(body.count < 127, "hand-made documents stay short")
        return [1, UInt8(body.count + 1)] + body
    }
}
