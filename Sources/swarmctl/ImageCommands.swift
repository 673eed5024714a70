import Executor
import Foundation

/// `swarmctl image import|load|ls|rm --data-dir DIR`: the node-local image store
/// (DATA/images), used directly on the node's disk (safe while the node runs: the store locks).
enum ImageCommands {
    static let help = """
    Usage:
      swarmctl image import NAME[:TAG] ROOTFS_TAR_OR_DIR --data-dir DIR
      swarmctl image load ARCHIVE --data-dir DIR          # docker save or OCI layout tar
      swarmctl image ls [-q] [--format json] --data-dir DIR
      swarmctl image rm NAME[:TAG]|ID... --data-dir DIR
      swarmctl image pull HOST:PORT/NAME[:TAG] [--username U --password-stdin] --data-dir DIR   # plain HTTP

    Manages the images of the node whose data directory is DIR ($SWARMCTL_DATA_DIR if not given):
    content-addressed under DIR/images, layers unpacked once and shared by containers (overlayfs).
    """

    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ["-q", "--quiet", "--password-stdin"])
        let username = arguments.takeValue("--username", "-u")
        let passwordFromStdin = arguments.takeSwitch("--password-stdin")
        let dataDirectory = arguments.takeValue("--data-dir")
            ?? ProcessInfo.processInfo.environment["SWARMCTL_DATA_DIR"]
        let quiet = arguments.takeSwitch("-q", "--quiet")
        let format = arguments.takeValue("--format")
        var positionals = arguments.positionals
        guard !positionals.isEmpty else { throw UsageError(message: "image needs a command: see 'swarmctl image --help'") }
        let subcommand = positionals.removeFirst()
        try arguments.finish(command: "image \(subcommand)")
        guard let dataDirectory else {
            throw UsageError(message: "image \(subcommand) needs --data-dir DIR (the node's data directory)")
        }
        do {
            let store = try ImageStore(root: dataDirectory + "/images")
            switch subcommand {
            case "import":
                guard positionals.count == 2 else {
                    throw UsageError(message: "image import takes NAME[:TAG] and a root file system tar or directory")
                }
                let image = try store.importRootfs(name: positionals[0], from: positionals[1])
                print(image.id.description)
            case "load":
                guard positionals.count == 1 else { throw UsageError(message: "image load takes one ARCHIVE") }
                for (name, image) in try store.load(archive: positionals[0]) {
                    print(name.map { "Loaded image: \($0)" } ?? "Loaded image ID: \(image.id)")
                }
            case "ls", "list":
                guard positionals.isEmpty else { throw UsageError(message: "image ls takes no arguments") }
                try list(store.list(), quiet: quiet, json: format == "json")
            case "rm", "remove":
                guard !positionals.isEmpty else { throw UsageError(message: "image rm takes at least one image") }
                for reference in positionals {
                    try store.remove(reference)
                    print("Untagged: \(reference)")
                }
            case "pull":
                guard positionals.count == 1 else { throw UsageError(message: "image pull takes one HOST:PORT/NAME[:TAG]") }
                var credentials: RegistryCredentials?
                if let username {
                    guard passwordFromStdin else { throw UsageError(message: "--username needs --password-stdin") }
                    let password = (readLine(strippingNewline: true) ?? "")
                    credentials = RegistryCredentials(username: username, password: password)
                }
                let image = try store.pull(positionals[0], credentials: credentials)
                print("Pulled \(positionals[0]): \(image.id)")
            default:
                throw UsageError(message: "unknown command 'image \(subcommand)': see 'swarmctl image --help'")
            }
        } catch let error as ImageError {
            throw CommandFailure(message: "image \(subcommand): \(error)")
        } catch let error as RegistryError {
            throw CommandFailure(message: "image \(subcommand): \(error)")
        }
        return 0
    }

    private static func list(_ rows: [ImageStore.Listing], quiet: Bool, json: Bool) throws {
        if quiet {
            var seen = Set<String>()
            for row in rows where seen.insert(row.image.id.hex).inserted { print(String(row.image.id.hex.prefix(12))) }
            return
        }
        if json {
            let objects: [[String: Any]] = rows.map {
                ["Repository": $0.repository, "Tag": $0.tag, "ID": $0.image.id.description,
                 "Size": $0.image.size, "Created": Int($0.image.added), "Layers": $0.image.layers.count]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let table = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]] + rows.map {
            [$0.repository, $0.tag, String($0.image.id.hex.prefix(12)), ago($0.image.added), size($0.image.size)]
        }
        let widths = (0..<5).map { column in table.map { $0[column].count }.max() ?? 0 }
        for row in table {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 3, withPad: " ", startingAt: 0)
            }
            print(cells.joined())
        }
    }

    private static func ago(_ seconds: Double) -> String {
        let elapsed = max(0, Int(Date().timeIntervalSince1970 - seconds))
        switch elapsed {
        case ..<60: return "\(elapsed) seconds ago"
        case ..<3_600: return "\(elapsed / 60) minutes ago"
        case ..<86_400: return "\(elapsed / 3_600) hours ago"
        default: return "\(elapsed / 86_400) days ago"
        }
    }

    private static func size(_ bytes: Int64) -> String {
        if bytes >= 1_000_000_000 { return String(format: "%.2fGB", Double(bytes) / 1e9) }
        if bytes >= 1_000_000 { return String(format: "%.1fMB", Double(bytes) / 1e6) }
        return String(format: "%.1fkB", Double(bytes) / 1e3)
    }
}
