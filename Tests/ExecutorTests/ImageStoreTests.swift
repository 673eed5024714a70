import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The image store with archives the test builds from busybox-static: `import` of a directory
/// and a tar, `load` of a docker-save archive (two layers, one with whiteouts) and of an OCI
/// layout, digest verification, `ls`, `rm` with pruning; and containers run from those images.
final class ImageStoreTests: XCTestCase {
    private var root = ""
    private var rootfs = ""
    private var store: ImageStore!
    private var executor: OCIExecutor!

    override func setUpWithError() throws {
        let runtime = try requireContainerSupport()
        root = try FileSystem.makeTemporaryDirectory(prefix: "image-tests-")
        rootfs = root + "/busybox"
        try BusyboxImage.makeRootfs(at: rootfs)
        store = try ImageStore(root: root + "/node/images")
        executor = try OCIExecutor(root: root + "/node", runtimePath: runtime, images: store,
                                   cgroupParent: "/swarmctl-test-\(randomContainerHex().prefix(8))")
    }

    override func tearDownWithError() throws {
        executor?.removeAll()
        let leftMounts = mounts(containing: root)
        for leftover in leftMounts.reversed() { _ = umount2(leftover, Int32(MNT_DETACH)) }
        if let executor {
            for directory in Cgroups.existingDirectories(cgroupsPath: executor.cgroupParent) { _ = rmdir(directory) }
        }
        if !root.isEmpty { try Tree.remove(root) }
        XCTAssertEqual(leftMounts, [], "mounts were left behind")
    }

    private func runToExit(_ spec: TaskSpec) throws -> (ExitStatus?, String) {
        let id = try executor.prepare(spec)
        try executor.start(id, onExit: { _ in })
        let status = try executor.wait(id, timeoutMillis: 10_000)
        let output = text(try executor.logs(id, stream: .stdout)) + text(try executor.logs(id, stream: .stderr))
        try executor.remove(id)
        return (status, output)
    }

    private func imageTask(_ image: String, _ command: [String] = []) -> TaskSpec {
        TaskSpec(command: command).with { $0.image = image }
    }

    func testImportDirectoryListRunAndRemove() throws {
        let image = try store.importRootfs(name: "busybox:test", from: rootfs)
        XCTAssertEqual(image.layers.count, 1)
        let rows = try store.list()
        XCTAssertEqual(rows.map { "\($0.repository):\($0.tag)" }, ["busybox:test"])
        XCTAssertGreaterThan(rows[0].image.size, 1_000_000)
        XCTAssertEqual(try store.resolve("busybox:test"), image)
        XCTAssertEqual(try store.resolve(String(image.id.hex.prefix(12))), image, "an id prefix names the image")

        let (status, output) = try runToExit(imageTask("busybox:test", ["sh", "-c", "echo from-image; exit 5"]))
        XCTAssertEqual(status, .exited(code: 5))
        XCTAssertEqual(output, "from-image\n")

        // Importing the same content again shares the blob and the unpacked layer.
        let again = try store.importRootfs(name: "busybox:again", from: rootfs)
        XCTAssertEqual(again.layers, image.layers)
        XCTAssertEqual(try FileSystem.list(store.root + "/layers").count, 1)

        try store.remove("busybox:test")
        XCTAssertThrowsError(try store.resolve("busybox:test")) {
            XCTAssertEqual($0 as? ImageError, .notFound("busybox:test"))
        }
        XCTAssertEqual(try FileSystem.list(store.root + "/layers").count, 1, "still used by busybox:again")
        try store.remove("busybox:again")
        XCTAssertEqual(try store.list().count, 0)
        XCTAssertEqual(try FileSystem.list(store.root + "/layers"), [])
        XCTAssertEqual(try FileSystem.list(store.root + "/blobs/sha256"), [])
    }

    func testImportCompressedTarAndRejectBadNames() throws {
        let archive = root + "/rootfs.tar.gz"
        try HostCommand.check(["tar", "-C", rootfs, "-czf", archive, "."]) { OCIError.rootfs($0) }
        try store.importRootfs(name: "registry.local:5000/team/busybox", from: archive)
        XCTAssertEqual(try store.list().map { "\($0.repository):\($0.tag)" }, ["registry.local:5000/team/busybox:latest"])
        let (status, output) = try runToExit(imageTask("registry.local:5000/team/busybox", ["cat", "/etc/group"]))
        XCTAssertEqual(status, .exited(code: 0))
        XCTAssertTrue(output.hasPrefix("root:x:0:"))
        XCTAssertThrowsError(try store.importRootfs(name: "Bad Name", from: archive)) {
            XCTAssertEqual($0 as? ImageError, .invalidName("Bad Name"))
        }
        XCTAssertThrowsError(try store.importRootfs(name: "x", from: root + "/missing.tar"))
    }

    func testLoadDockerSaveAppliesWhiteoutsAndImageDefaults() throws {
        let archive = try makeDockerSaveArchive()
        let loaded = try store.load(archive: archive)
        XCTAssertEqual(loaded.map(\.name), ["saved:1"])
        let image = try store.resolve("saved:1")
        XCTAssertEqual(image.layers.count, 2)
        XCTAssertEqual(image.config.Cmd, ["/bin/sh", "-c", "cat /hello.txt; ls /etc; pwd; echo $GREETING"])
        // No command: the image's Cmd, Env and WorkingDir apply; the task's env wins over the image's.
        let (status, output) = try runToExit(imageTask("saved:1").with { $0.environment = ["GREETING=from-task"] })
        XCTAssertEqual(status, .exited(code: 0))
        // /etc/hosts and /etc/resolv.conf are the host's (host network); /etc/group was whited out.
        XCTAssertEqual(output, "hello\nhosts\npasswd\nresolv.conf\n/tmp\nfrom-task\n")
    }

    func testLoadOCILayoutVerifiesDigests() throws {
        let archive = try makeOCIArchive(corruptLayer: false)
        XCTAssertEqual(try store.load(archive: archive).map(\.name), ["ocitest:2"])
        let (status, output) = try runToExit(imageTask("ocitest:2", ["sh", "-c", "echo oci-ok"]))
        XCTAssertEqual(status, .exited(code: 0))
        XCTAssertEqual(output, "oci-ok\n")

        let corrupt = try makeOCIArchive(corruptLayer: true)
        XCTAssertThrowsError(try store.load(archive: corrupt)) { error in
            guard case .digestMismatch = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("refusing"), "\(error)")
        }
    }

    func testLayerOfARunningContainerIsKeptUntilItIsRemoved() throws {
        try store.importRootfs(name: "busybox", from: rootfs)
        let id = try executor.prepare(imageTask("busybox", ["sleep", "300"]))
        try executor.start(id, onExit: { _ in })
        try store.remove("busybox")
        XCTAssertEqual(try FileSystem.list(store.root + "/layers").count, 1, "a mounted layer must survive image rm")
        XCTAssertEqual(try executor.stop(id, graceMillis: 0), .signaled(signal: SIGKILL))
        try executor.remove(id)
        try store.pruneUnused()
        XCTAssertEqual(try FileSystem.list(store.root + "/layers"), [])
    }

    func testMissingImageFailsPrepare() throws {
        XCTAssertThrowsError(try executor.prepare(imageTask("nothere:1", ["true"]))) {
            XCTAssertEqual($0 as? ImageError, .notFound("nothere:1"))
        }
        XCTAssertThrowsError(try executor.prepare(TaskSpec(command: ["true"]))) {
            XCTAssertEqual($0 as? OCIError, .noRootfs)
        }
    }

    // MARK: - Archives built from busybox

    private func makeLayerTar(_ directory: String, _ output: String, gzip: Bool = false) throws {
        try HostCommand.check(["tar", "--sort=name", "-C", directory, gzip ? "-czf" : "-cf", output, "."]) {
            OCIError.rootfs($0)
        }
    }

    private func writeJSON(_ object: Any, _ path: String) throws -> Digest {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try BusyboxImage.write(path, String(decoding: data, as: UTF8.self))
        return try Digest.ofFile(path)
    }

    /// A two-layer docker-save archive: busybox, then a layer adding /hello.txt and deleting /etc/group.
    private func makeDockerSaveArchive() throws -> String {
        let staging = root + "/save"
        let upper = root + "/upper"
        try FileSystem.makeDirectories(staging + "/l1")
        try FileSystem.makeDirectories(staging + "/l2")
        try FileSystem.makeDirectories(upper + "/etc")
        try BusyboxImage.write(upper + "/hello.txt", "hello\n")
        try BusyboxImage.write(upper + "/etc/.wh.group", "")
        try makeLayerTar(rootfs, staging + "/l1/layer.tar")
        try makeLayerTar(upper, staging + "/l2/layer.tar")
        let diffIDs = try [staging + "/l1/layer.tar", staging + "/l2/layer.tar"].map { try Digest.ofFile($0).description }
        let config: [String: Any] = [
            "architecture": "amd64", "os": "linux",
            "config": ["Cmd": ["/bin/sh", "-c", "cat /hello.txt; ls /etc; pwd; echo $GREETING"],
                       "Env": ["PATH=/bin", "GREETING=from-image"], "WorkingDir": "/tmp"],
            "rootfs": ["type": "layers", "diff_ids": diffIDs],
        ]
        let configDigest = try writeJSON(config, staging + "/config.json")
        try FileSystem.rename(staging + "/config.json", to: staging + "/\(configDigest.hex).json")
        _ = try writeJSON([["Config": "\(configDigest.hex).json", "RepoTags": ["saved:1"],
                            "Layers": ["l1/layer.tar", "l2/layer.tar"]]], staging + "/manifest.json")
        let archive = root + "/saved.tar"
        try HostCommand.check(["tar", "-C", staging, "-cf", archive, "."]) { OCIError.rootfs($0) }
        return archive
    }

    /// An OCI image layout archive with one gzip layer; `corruptLayer` swaps the layer's bytes.
    private func makeOCIArchive(corruptLayer: Bool) throws -> String {
        let staging = root + "/oci-\(corruptLayer)"
        let blobs = staging + "/blobs/sha256"
        try FileSystem.makeDirectories(blobs)
        try makeLayerTar(rootfs, staging + "/layer.tgz", gzip: true)
        let layer = try Digest.ofFile(staging + "/layer.tgz")
        if corruptLayer { try BusyboxImage.write(staging + "/layer.tgz", "not the layer") }
        try FileSystem.rename(staging + "/layer.tgz", to: "\(blobs)/\(layer.hex)")
        let config = try writeJSON(["architecture": "amd64", "os": "linux", "config": ["Env": ["PATH=/bin"]],
                                    "rootfs": ["type": "layers", "diff_ids": [layer.description]]], staging + "/c")
        try FileSystem.rename(staging + "/c", to: "\(blobs)/\(config.hex)")
        let manifest = try writeJSON([
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.description, "size": 1],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.description,
                        "size": 1]],
        ], staging + "/m")
        try FileSystem.rename(staging + "/m", to: "\(blobs)/\(manifest.hex)")
        _ = try writeJSON(["schemaVersion": 2, "manifests": [[
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.description, "size": 1,
            "annotations": ["io.containerd.image.name": "ocitest:2", "org.opencontainers.image.ref.name": "2"],
        ]]], staging + "/index.json")
        try BusyboxImage.write(staging + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")
        let archive = root + "/oci-\(corruptLayer).tar"
        try HostCommand.check(["tar", "-C", staging, "-cf", archive, "oci-layout", "index.json", "blobs"]) {
            OCIError.rootfs($0)
        }
        return archive
    }
}
