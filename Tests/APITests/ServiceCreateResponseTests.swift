@testable import API
import XCTest

/// The create answer written without an encoder is byte for byte what `JSONEncoder` gives, and
/// an id that would need escaping still goes through the encoder.
final class ServiceCreateResponseTests: XCTestCase {
    func testDirectBodyMatchesTheEncoder() throws {
        for id in ["svc1xxxxxxxxxxxxxxxxxxxxx", "0", "ABCxyz019", #"we"ird\id"#] {
            XCTAssertEqual(ServiceCreateResponse.body(id: id), try DockerAPI.encode(ServiceCreateResponse(id: id)), id)
        }
    }
}
