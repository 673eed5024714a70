import XCTest
@testable import Linearizability
import SeededRandom

final class HistoryFormatTests: XCTestCase {
    private func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> HistoryParseError? {
        do {
            _ = try History.parse(text)
            XCTFail("expected a parse error for: \(text)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testParsesEveryKindAndOutcome() throws {
        let text = """
        {"process": 3, "key": "k1", "kind": "write", "value": "v7", "invoke": 1200, "complete": 3400, "outcome": "ok"}

        {"process": 1, "key": "k1", "kind": "read", "value": null, "invoke": 1000, "complete": 5000, "outcome": "ok"}
        {"process": 2, "key": "k1", "kind": "cas", "expected": "v7", "value": "v8", "invoke": 3500, "complete": null, "outcome": "unknown"}
          {"outcome":"fail","complete":9,"invoke":8,"kind":"cas","expected":null,"value":"x","key":"k2","process":0}   \r
        {"process": 4, "key": "k1", "kind": "read", "invoke": -5, "complete": null, "outcome": "unknown", "error": {"why": ["timeout", 1.5e3]}}
        """
        let history = try History.parse(text)
        XCTAssertEqual(history.operations, [
            RegisterOperation(process: 3, key: "k1", kind: .write, value: "v7", invoke: 1200, complete: 3400, outcome: .ok, line: 1),
            RegisterOperation(process: 1, key: "k1", kind: .read, value: nil, invoke: 1000, complete: 5000, outcome: .ok, line: 3),
            RegisterOperation(process: 2, key: "k1", kind: .cas, value: "v8", expected: "v7", invoke: 3500, complete: nil,
                              outcome: .unknown, line: 4),
            RegisterOperation(process: 0, key: "k2", kind: .cas, value: "x", expected: nil, invoke: 8, complete: 9,
                              outcome: .fail, line: 5),
            RegisterOperation(process: 4, key: "k1", kind: .read, value: nil, invoke: -5, complete: nil, outcome: .unknown, line: 6),
        ])
    }

    func testWrittenHistoryParsesBackUnchanged() throws {
        var history = RegisterHistoryGenerator(processes: 3, keys: 2, operations: 200, unknownRate: 0.1).generate(seed: 9)
        history.operations.append(.write(process: 9, key: "quote\"back\\slash\nnewline\u{1}é😀", value: "tab\tend",
                                         invoke: .min, complete: .max))
        let parsed = try History.parse(history.jsonLines)
        XCTAssertEqual(parsed.operations.count, history.operations.count)
        for (index, (original, reread)) in zip(history.operations, parsed.operations).enumerated() {
            var expected = original
            expected.line = index + 1
            XCTAssertEqual(reread, expected)
        }
    }

    func testUnicodeEscapesDecode() throws {
        let history = try History.parse(#"{"process": 1, "key": "\u00e9\ud83d\ude00\/", "kind": "write", "value": "\"", "invoke": 1, "complete": 2, "outcome": "ok"}"#)
        XCTAssertEqual(history.operations.first?.key, "é😀/")
        XCTAssertEqual(history.operations.first?.value, "\"")
    }

    func testErrorsNameTheLine() {
        let good = #"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#
        func line3(_ bad: String) -> HistoryParseError? { parseError(good + "\n\n" + bad + "\n" + good) }
        let cases: [(String, String)] = [
            (#"{"process": 1, "key": "k""#, "invalid JSON at column 26: expected ',' or '}' in object"),
            ("not json", "invalid JSON at column 2: invalid literal, expected 'null'"),
            ("# comment", "invalid JSON at column 1: unexpected character '#', expected a value"),
            ("[1, 2]", "expected a JSON object, got an array"),
            (#"{"key": "k", "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#, "missing field \"process\""),
            (#"{"process": -1, "key": "k", "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "\"process\" must be a whole number from 0 to 2147483647"),
            (#"{"process": 1, "key": 7, "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "\"key\" must be a string, got a number"),
            (#"{"process": 1, "key": "k", "kind": "delete", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "\"kind\" must be \"read\", \"write\" or \"cas\", got \"delete\""),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "maybe"}"#,
             "\"outcome\" must be \"ok\", \"fail\" or \"unknown\", got \"maybe\""),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 1.5, "complete": 2, "outcome": "ok"}"#,
             "\"invoke\" must be a whole number of nanoseconds that fits in 64 bits, got 1.5"),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 99999999999999999999, "complete": 2, "outcome": "ok"}"#,
             "\"invoke\" must be a whole number of nanoseconds that fits in 64 bits, got 99999999999999999999"),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": "1", "complete": 2, "outcome": "ok"}"#,
             "\"invoke\" must be a whole number of nanoseconds, got a string"),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 5, "complete": 2, "outcome": "ok"}"#,
             "\"complete\" (2) is before \"invoke\" (5)"),
            (#"{"process": 1, "key": "k", "kind": "read", "value": null, "invoke": 1, "complete": null, "outcome": "ok"}"#,
             "an operation with outcome \"ok\" needs a \"complete\" time"),
            (#"{"process": 1, "key": "k", "kind": "read", "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "a read with outcome \"ok\" needs \"value\": the value it saw, or null if the key was absent"),
            (#"{"process": 1, "key": "k", "kind": "write", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "a write needs \"value\": the new value, a string"),
            (#"{"process": 1, "key": "k", "kind": "cas", "value": "b", "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "a cas needs \"expected\": the value it compares with, or null for absent"),
            (#"{"process": 1, "key": "k", "kind": "write", "value": "a", "expected": "b", "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "\"expected\" is only for cas, not write"),
            (#"{"process": 1, "process": 2, "key": "k", "kind": "read", "value": null, "invoke": 1, "complete": 2, "outcome": "ok"}"#,
             "field \"process\" appears twice"),
            (#"{"process": 1, "key": "k\x"}"#, "invalid JSON at column 26: invalid escape '\\x' in string"),
            (#"{"process": 1, "key": "k"#, "invalid JSON at column 25: unterminated string"),
            (String(repeating: "[", count: 100_000), "invalid JSON at column 33: nested more than 32 levels deep"),
        ]
        for (bad, message) in cases {
            let error = line3(bad)
            XCTAssertEqual(error?.line, 3, bad)
            XCTAssertEqual(error?.message, message, bad)
        }
        XCTAssertEqual(line3(#"{"a": 1}"#)?.description, "line 3: missing field \"process\"")
    }

    /// Truncations and byte flips of a valid history either parse or throw; they never trap.
    func testDamagedInputNeverCrashes() {
        let text = Array(RegisterHistoryGenerator(processes: 3, keys: 2, operations: 6, unknownRate: 0.3)
            .generate(seed: 3).jsonLines.utf8)
        var random = SplitMix64(seed: 5)
        var errors = 0
        for cut in 0...text.count {
            do { _ = try History.parse(bytes: Array(text.prefix(cut))) } catch { errors += 1 }
        }
        for _ in 0..<3000 {
            var damaged = text
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                damaged[Int.random(in: 0..<damaged.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            if let history = try? History.parse(bytes: damaged) {
                _ = LinearizabilityChecker.check(history)
            } else {
                errors += 1
            }
        }
        XCTAssertGreaterThan(errors, 1000)
    }
}
