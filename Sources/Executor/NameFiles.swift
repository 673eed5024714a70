/// The text of a container's /etc/resolv.conf and /etc/hosts when the task sets DNS or extra
/// hosts: what the task gives, and the rest from the node's files, as Docker builds them.
/// Pure, so the merging rules are tested without a container.
enum NameFiles {
    /// /etc/hosts of a container without the node's network: loopback only.
    static let loopbackHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

    /// The task's nameservers, search domains and options; each that the task leaves empty is
    /// taken from the node's resolv.conf.
    static func resolvConf(_ dns: TaskDNS, node: String) -> String {
        let lines = node.split(separator: "\n").map { line in
            String(line.drop { $0 == " " || $0 == "\t" })
        }
        func nodeLines(_ keyword: String) -> [String] {
            lines.filter { $0.hasPrefix(keyword + " ") || $0.hasPrefix(keyword + "\t") }
        }
        var out: [String] = []
        out += dns.nameservers.isEmpty ? nodeLines("nameserver") : dns.nameservers.map { "nameserver \($0)" }
        out += dns.search.isEmpty ? nodeLines("search") : ["search " + dns.search.joined(separator: " ")]
        out += dns.options.isEmpty ? nodeLines("options") : ["options " + dns.options.joined(separator: " ")]
        return out.map { $0 + "\n" }.joined()
    }

    /// /etc/resolv.conf of a task with network attachments: the node's DNS server inside the
    /// task's namespace (services by name, other names forwarded), the node's search domains.
    static func embeddedResolvConf(node: String) -> String {
        let search = node.split(separator: "\n").map { String($0.drop { $0 == " " || $0 == "\t" }) }
            .filter { $0.hasPrefix("search ") || $0.hasPrefix("search\t") }
        return (["nameserver 127.0.0.11"] + search + ["options ndots:0"]).map { $0 + "\n" }.joined()
    }

    /// `base` (the node's hosts file, or loopback only) followed by the task's `IP NAME…` lines.
    static func hosts(base: String, extra: [String]) -> String {
        let head = base.isEmpty || base.hasSuffix("\n") ? base : base + "\n"
        return head + extra.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: "\t") + "\n" }.joined()
    }
}
