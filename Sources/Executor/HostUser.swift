import Glibc
import Platform

/// A service's `--user` (`name`, `uid`, `name:group`, `uid:gid`) resolved against the host's
/// user and group databases, for the process executor, which runs tasks on the host.
///
/// It exists so `--user` is honoured rather than refused: a node running as root starts the
/// task through `setpriv` (util-linux) with the user's uid, gid and supplementary groups, so the
/// spawn stays a plain `posix_spawn` (no fork in a threaded process); a node not running as root
/// can only run tasks as itself and refuses any other user with a message saying why.
struct HostUser: Equatable {
    var uid: uid_t
    var gid: gid_t
    /// Supplementary groups (the user's groups in /etc/group; none for a uid without a name).
    var groups: [gid_t]

    /// Where setpriv is looked for.
    static let setprivPaths = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv", "/sbin/setpriv"]

    /// Resolves `user` like docker: a name must exist; a numeric uid need not, and then runs with
    /// gid 0 unless a group is given; `:group` overrides the user's primary group.
    static func resolve(_ user: String) throws(ExecutorError) -> HostUser {
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let userPart = parts.first, !userPart.isEmpty else {
            throw ExecutorError.userUnavailable(user: user, reason: "expected USER, UID, USER:GROUP or UID:GID")
        }
        var resolved: HostUser
        var name: String?
        if let entry = lookupUser(userPart) {
            resolved = HostUser(uid: entry.uid, gid: entry.gid, groups: [])
            name = entry.name
        } else if let uid = uid_t(userPart) {
            resolved = HostUser(uid: uid, gid: 0, groups: [])
        } else {
            throw ExecutorError.userUnavailable(user: user, reason: "no user \(userPart) in the node's /etc/passwd; give a numeric uid or add the user")
        }
        if parts.count == 2 {
            guard let gid = lookupGroup(parts[1]) ?? gid_t(parts[1]) else {
                throw ExecutorError.userUnavailable(user: user, reason: "no group \(parts[1]) in the node's /etc/group; give a numeric gid or add the group")
            }
            resolved.gid = gid
        }
        if let name { resolved.groups = supplementaryGroups(name, primary: resolved.gid) }
        return resolved
    }

    /// The argv prefix that starts a command as this user, or nil when the node already runs as
    /// exactly this user and group. Throws when the node cannot switch users.
    func launchPrefix(for user: String) throws(ExecutorError) -> [String]? {
        if geteuid() != 0 {
            if uid == getuid() && gid == getgid() { return nil }
            throw ExecutorError.userUnavailable(user: user, reason: "the node runs as uid \(getuid()), not root, so it cannot start a task as "
                                             + "uid \(uid) gid \(gid); run the node as root, or drop --user")
        }
        guard let setpriv = Self.setprivPaths.first(where: { access($0, X_OK) == 0 }) else {
            throw ExecutorError.userUnavailable(user: user, reason: "switching users needs setpriv (util-linux), which is not installed on the node")
        }
        let groupFlag = groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ",")
        return [setpriv, "--reuid=\(uid)", "--regid=\(gid)", groupFlag, "--"]
    }

    private static func lookupUser(_ name: String) -> (name: String, uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        var status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        if status == 0, result == nil, let uid = uid_t(name) {
            status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        }
        guard status == 0, result != nil else { return nil }
        return (String(cString: entry.pw_name), entry.pw_uid, entry.pw_gid)
    }

    private static func lookupGroup(_ name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    private static func supplementaryGroups(_ name: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [primary] }
        }
        return Array(groups.prefix(Int(count)))
    }
}
