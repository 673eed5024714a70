import ClusterState

/// `/secrets` and `/configs` until secrets and configs exist here (issue 17): lists are empty
/// (there are none), an inspect is a 404, and a create is refused saying what to do. The docker
/// CLI's `stack rm` lists a stack's secrets and configs before removing its services, and
/// `stack deploy` of a compose file with secrets must fail clearly, not with "page not found".
extension DockerAPI {
    func secretsPlaceholderRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        let kind = segments[0] == "secrets" ? "secret" : "config"
        switch (request.method, segments.count) {
        case ("GET", 1):
            guard manager(reply) != nil else { return () }
            return reply(json(200, [String]()))
        case ("POST", 2) where segments[1] == "create":
            return reply(APIError(status: 501, "\(kind)s are not implemented by this cluster yet: remove the \(kind)s from the service "
                + "or compose file (top-level \(kind)s: and each service's \(kind)s:)").response)
        case ("GET", 2):
            return reply(APIError(status: 404, "\(kind) \(segments[1]) not found").response)
        default:
            return nil
        }
    }
}
