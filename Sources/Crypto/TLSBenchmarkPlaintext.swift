import COpenSSL
import CCryptoShim

// BENCHMARK ONLY: measuring what encryption costs on the cluster port with the same code.
//
// A context made with `benchmarkPlaintext: true` still does the whole mutual TLS 1.3 handshake
// (certificates, verification, identities: everything the authorization table relies on), and
// additionally offers (client) or accepts (server) the ALPN protocol below. Only when BOTH ends
// were made that way does the session send application data unencrypted after the handshake;
// a node without the switch never selects or offers it, so mixing is safe (that link stays
// encrypted). Anyone on the path then reads and can alter every frame: never on outside a
// benchmark (the node enables it only from SWARMCTL_BENCH_INSECURE_CLUSTER=1, with a warning).
extension TLSContext {
    /// The ALPN protocol name, length-prefixed as OpenSSL wants the list.
    static let benchmarkPlaintextProtocol: [UInt8] = Array("swarmctl-bench-plaintext".utf8)

    func configureBenchmarkPlaintext() throws {
        if role == .client {
            let list = [UInt8(Self.benchmarkPlaintextProtocol.count)] + Self.benchmarkPlaintextProtocol
            // Returns 0 on success (unlike most of OpenSSL).
            guard SSL_CTX_set_alpn_protos(context, list, UInt32(list.count)) == 0 else {
                throw OpenSSL.error("TLS context: offering the benchmark plaintext protocol")
            }
        } else {
            SSL_CTX_set_alpn_select_cb(context, selectBenchmarkPlaintext, nil)
        }
    }
}

extension TLSSession {
    /// True when the handshake negotiated the benchmark protocol (both ends asked for it).
    static func agreedOnBenchmarkPlaintext(_ ssl: OpaquePointer) -> Bool {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, Int(length) == TLSContext.benchmarkPlaintextProtocol.count else { return false }
        return Array(UnsafeBufferPointer(start: data, count: Int(length))) == TLSContext.benchmarkPlaintextProtocol
    }
}

/// Server: select the benchmark protocol if the client offered it; otherwise no ALPN at all.
private func selectBenchmarkPlaintext(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                      _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?,
                                      _ offeredLength: UInt32, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    let wanted = TLSContext.benchmarkPlaintextProtocol
    var index = 0
    while index < Int(offeredLength) {
        let length = Int(offered[index])
        let start = index + 1
        guard start + length <= Int(offeredLength) else { break }
        if length == wanted.count && (0..<length).allSatisfy({ offered[start + $0] == wanted[$0] }) {
            out.pointee = offered + start   // points into the client's list, valid for the handshake
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}
