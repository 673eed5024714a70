import Foundation
import Glibc
import Platform

/// Compiles an OCI seccomp profile to the BPF program the kernel loads, with the host's
/// libseccomp (loaded at run time, so a node without it still runs: it hands the runtime the
/// JSON profile as before), and keeps each distinct profile's program.
///
/// It exists because crun compiles the profile of every container again with libseccomp, about a
/// fifth of a converge's CPU (the same filter 50 times for 50 replicas). crun takes a compiled
/// program instead (annotation `run.oci.seccomp_bpf_data`, base64 of the BPF), so a node compiles
/// each profile once. The compilation makes the same libseccomp calls as crun for the same
/// profile (one context with the default action, the architectures, one rule per system call and
/// argument set; names libseccomp does not know are skipped), so the program is the one crun
/// would have compiled, byte for byte (`SeccompCompilerTests` compares it with crun's own).
final class SeccompCompiler: @unchecked Sendable {
    /// The annotation crun reads a compiled filter from.
    static let annotation = "run.oci.seccomp_bpf_data"

    private let library: Library?
    private let lock = ConditionLock()
    /// Profile → its compiled program in base64 (nil: it cannot be compiled; crun compiles it).
    private var compiled: [OCIConfig.Seccomp: String?] = [:]

    /// Loads libseccomp (`libseccomp.so.2`) if the host has it.
    init(libraryName: String = "libseccomp.so.2") {
        library = Library(name: libraryName)
    }

    /// Whether libseccomp was found, so profiles can be compiled here.
    var isAvailable: Bool { library != nil }

    /// The program of `profile` in base64, compiled on the first call for that profile; nil when
    /// libseccomp is missing or refuses the profile (the runtime then compiles the JSON itself).
    /// Compiled under the lock: the 50 prepares of a new service wait for one compilation
    /// instead of running 50 at once. Only a refusal is remembered; a passing failure of the
    /// host (a full /tmp) is tried again by the next container.
    func base64Program(for profile: OCIConfig.Seccomp) -> String? {
        lock.withLock {
            if let known = compiled[profile] { return known }
            do {
                let program = Data(try compile(profile)).base64EncodedString()
                compiled[profile] = program
                return program
            } catch is SeccompCompilerError {
                compiled[profile] = .some(nil)
                return nil
            } catch {
                return nil
            }
        }
    }

    /// The BPF program of `profile` (a sequence of 8-byte `sock_filter` instructions).
    func compile(_ profile: OCIConfig.Seccomp) throws -> [UInt8] {
        guard let library else { throw SeccompCompilerError("libseccomp.so.2 is not installed") }
        guard let defaultAction = Self.action(profile.defaultAction, errno: profile.defaultErrnoRet) else {
            throw SeccompCompilerError("default action \(profile.defaultAction) is not supported here")
        }
        guard let context = library.initialize(defaultAction) else { throw SeccompCompilerError("seccomp_init failed") }
        defer { library.release(context) }
        for name in profile.architectures {
            let token = library.resolveArchitecture(Self.libseccompArchitectureName(name))
            guard token != 0 else { throw SeccompCompilerError("unknown architecture \(name)") }
            // -EEXIST: the native architecture is in the context from the start.
            let result = library.addArchitecture(context, token)
            guard result == 0 || result == -EEXIST else { throw SeccompCompilerError("seccomp_arch_add \(name): \(result)") }
        }
        for rule in profile.syscalls {
            guard let action = Self.action(rule.action, errno: rule.errnoRet) else {
                throw SeccompCompilerError("action \(rule.action) is not supported here")
            }
            let comparisons = try Comparisons(rule.args ?? [])
            defer { comparisons.deallocate() }
            for name in rule.names {
                let number = library.resolveSyscall(name)
                // An unknown name (a system call newer than this libseccomp) is skipped, as crun does.
                guard number != Self.unknownSyscall else { continue }
                let result = library.addRule(context, action, number, UInt32(comparisons.count), comparisons.pointer)
                guard result == 0 else { throw SeccompCompilerError("seccomp_rule_add \(name): \(result)") }
            }
        }
        return try export(context, library: library)
    }

    /// Writes the program to an unlinked temporary file (libseccomp exports to a descriptor) and reads it back.
    private func export(_ context: UnsafeMutableRawPointer, library: Library) throws -> [UInt8] {
        var template = Array("/tmp/swarmctl-seccomp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw SystemError("mkstemp", "/tmp/swarmctl-seccomp-XXXXXX") }
        defer { close(descriptor) }
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        let result = library.export(context, descriptor)
        guard result == 0 else { throw SeccompCompilerError("seccomp_export_bpf: \(result)") }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SystemError("pread", "seccomp program") }
            if count == 0 { break }
            bytes += buffer[0..<count]
            offset += off_t(count)
        }
        guard !bytes.isEmpty, bytes.count % 8 == 0 else { throw SeccompCompilerError("libseccomp exported \(bytes.count) bytes") }
        return bytes
    }

    /// libseccomp's `__NR_SCMP_ERROR`: the name is not a system call it knows.
    static let unknownSyscall: Int32 = -1

    /// libseccomp's action value (`SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO(n)`); nil for the others,
    /// which swarmctl's profiles do not use.
    static func action(_ name: String, errno: UInt32?) -> UInt32? {
        switch name {
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | ((errno ?? UInt32(EPERM)) & 0xffff)
        default: return nil
        }
    }

    /// libseccomp's comparison operators (`enum scmp_compare`) by their OCI names.
    static let operators: [String: Int32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6,
        "SCMP_CMP_MASKED_EQ": 7,
    ]

    /// "SCMP_ARCH_X86_64" → "x86_64", the name `seccomp_arch_resolve_name` takes.
    static func libseccompArchitectureName(_ name: String) -> String {
        (name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst("SCMP_ARCH_".count)) : name).lowercased()
    }

    /// An array of `struct scmp_arg_cmp` (unsigned arg; enum op; uint64 datum_a, datum_b: 24
    /// bytes each, the C layout written field by field).
    private struct Comparisons {
        static let stride = 24
        let pointer: UnsafeMutableRawPointer?
        let count: Int

        init(_ arguments: [OCIConfig.SyscallArgument]) throws {
            count = arguments.count
            guard !arguments.isEmpty else {
                pointer = nil
                return
            }
            let memory = UnsafeMutableRawPointer.allocate(byteCount: Self.stride * arguments.count, alignment: 8)
            for (index, argument) in arguments.enumerated() {
                guard let op = SeccompCompiler.operators[argument.op] else {
                    memory.deallocate()
                    throw SeccompCompilerError("comparison \(argument.op) is not supported here")
                }
                let base = memory + index * Self.stride
                base.storeBytes(of: UInt32(argument.index), toByteOffset: 0, as: UInt32.self)
                base.storeBytes(of: op, toByteOffset: 4, as: Int32.self)
                base.storeBytes(of: argument.value, toByteOffset: 8, as: UInt64.self)
                base.storeBytes(of: argument.valueTwo, toByteOffset: 16, as: UInt64.self)
            }
            pointer = memory
        }

        func deallocate() { pointer?.deallocate() }
    }

    /// The libseccomp functions used, looked up once with dlopen/dlsym.
    private struct Library {
        typealias Initialize = @convention(c) (UInt32) -> UnsafeMutableRawPointer?
        typealias Release = @convention(c) (UnsafeMutableRawPointer?) -> Void
        typealias ResolveName = @convention(c) (UnsafePointer<CChar>) -> Int32
        typealias ResolveArchitecture = @convention(c) (UnsafePointer<CChar>) -> UInt32
        typealias AddArchitecture = @convention(c) (UnsafeMutableRawPointer?, UInt32) -> Int32
        typealias AddRule = @convention(c) (UnsafeMutableRawPointer?, UInt32, Int32, UInt32, UnsafeRawPointer?) -> Int32
        typealias Export = @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32

        let initialize: Initialize
        let release: Release
        let resolveName: ResolveName
        let resolveArchitectureName: ResolveArchitecture
        let addArchitecture: AddArchitecture
        let addRule: AddRule
        let export: Export

        init?(name: String) {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { return nil }
            func symbol<T>(_ name: String, as type: T.Type) -> T? {
                dlsym(handle, name).map { unsafeBitCast($0, to: type) }
            }
            guard let initialize = symbol("seccomp_init", as: Initialize.self),
                  let release = symbol("seccomp_release", as: Release.self),
                  let resolveName = symbol("seccomp_syscall_resolve_name", as: ResolveName.self),
                  let resolveArchitectureName = symbol("seccomp_arch_resolve_name", as: ResolveArchitecture.self),
                  let addArchitecture = symbol("seccomp_arch_add", as: AddArchitecture.self),
                  let addRule = symbol("seccomp_rule_add_array", as: AddRule.self),
                  let export = symbol("seccomp_export_bpf", as: Export.self) else {
                dlclose(handle)
                return nil
            }
            self.initialize = initialize
            self.release = release
            self.resolveName = resolveName
            self.resolveArchitectureName = resolveArchitectureName
            self.addArchitecture = addArchitecture
            self.addRule = addRule
            self.export = export
        }

        func resolveSyscall(_ name: String) -> Int32 { name.withCString { resolveName($0) } }
        func resolveArchitecture(_ name: String) -> UInt32 { name.withCString { resolveArchitectureName($0) } }
    }
}

/// Why a seccomp profile could not be compiled here (the runtime then compiles it itself).
struct SeccompCompilerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "seccomp compile: " + description }
}
