import Platform

/// What a request's head must say before the server reads its body.
///
/// It exists because the API's only clients are the docker CLI, docker-py and swarmctl, which
/// send JSON bodies labelled `application/json` (or no body), while a web page can make a
/// browser send a cross-site `text/plain` POST without any CORS preflight (a CSRF that creates a
/// root service). Refusing every other body type, and any request a browser marks with `Origin`
/// or `Sec-Fetch-Site`, defeats that without touching legitimate clients. Routes that take other
/// bodies (none today: images are loaded through the data dir, not the API) are exempted by
/// route in `rawBodyAllowed`, never by accident.
public struct HTTPAdmissionPolicy: Sendable {
    /// Routes (method, path without query) that accept a body of any type.
    public var rawBodyAllowed: @Sendable (_ method: String, _ path: String) -> Bool = { _, _ in false }
    /// Refuse requests that carry browser-only headers (`Origin`, `Sec-Fetch-Site`).
    public var refuseBrowserRequests = true

    public init() {}

    /// Nil to accept the head, else the error to answer with (the body is then not read).
    /// `hasBody`: the request declared a non-empty body.
    public func check(_ request: HTTPRequest, hasBody: Bool) -> HTTPParseError? {
        if refuseBrowserRequests, let origin = request.headers["Origin"] ?? request.headers["Sec-Fetch-Site"] {
            return HTTPParseError(status: 403, "requests from web browsers are refused (Origin: \(origin.prefix(100))): "
                                  + "use the docker CLI, docker-py or swarmctl")
        }
        guard !rawBodyAllowed(request.method, request.path) else { return nil }
        let contentType = request.headers["Content-Type"]
        guard hasBody || contentType != nil else { return nil }
        guard let contentType else {
            return HTTPParseError(status: 415, "a request body needs 'Content-Type: application/json'")
        }
        guard Self.isJSON(contentType) else {
            return HTTPParseError(status: 415, "Content-Type '\(contentType.prefix(100))' is not accepted: "
                                  + "send the body as JSON with 'Content-Type: application/json'")
        }
        return nil
    }

    /// `application/json`, any case, with or without parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return mediaType.trimmingASCIIWhitespace().lowercased() == "application/json"
    }
}

/// The bytes all connections of one server may hold in request bodies, together.
///
/// It exists because a per-connection cap alone multiplies by the number of connections (48
/// slow 16 MiB uploads held 790 MB): a body is admitted only if its declared size fits what is
/// left (else 503, unread), chunked bodies are charged as they grow, and everything a connection
/// holds is given back when its request is answered or it closes — also to the system, as glibc
/// would otherwise keep the freed blocks. Loop-confined.
public final class HTTPBodyBudget {
    public let limit: Int
    public private(set) var used = 0
    private var releasedSinceTrim = 0

    public init(limit: Int) {
        precondition(limit >= 0, "negative body budget")
        self.limit = limit
    }

    /// Takes `bytes` from the budget; false (and nothing taken) if they do not fit.
    public func reserve(_ bytes: Int) -> Bool {
        precondition(bytes >= 0, "negative reservation")
        guard used + bytes <= limit else { return false }
        used += bytes
        return true
    }

    /// Gives back `bytes` taken earlier.
    public func release(_ bytes: Int) {
        precondition(bytes >= 0 && bytes <= used, "releasing \(bytes) of \(used) reserved bytes")
        used -= bytes
        releasedSinceTrim += bytes
        if releasedSinceTrim >= 4 << 20 {
            releasedSinceTrim = 0
            Memory.returnFreedMemory()
        }
    }
}
