import Foundation
import RasiCore
import Testing

/// `JSONValue(parsing:)` against `JSONDecoder`'s `Codable` route, which it replaced on the
/// gateway's paths: the same value for every valid text, a refusal for every invalid one.
@Suite struct JSONParserTests {
    static let valid: [String] = [
        #"{}"#, #"[]"#, #"null"#, #"true"#, #"false"#, #""""#, #"0"#, #"-0"#, #"  7  "#, "\n\t{\r\n}\n",
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.7}"#,
        #"[1, -1, 1.5, -2.25, 1.0, 1e2, 1E-2, 2.5e+3, 0.1, 1e308, -1e-308, 5e-324]"#,
        #"[9223372036854775807, -9223372036854775808, 9223372036854775808, -9223372036854775809, 12345678901234567890]"#,
        #"[9007199254740993, 4.0e18, 1.5e19, 123456789.000]"#,
        #"["a\"b", "back\\slash", "\/", "\b\f\n\r\t", "\u00e9\u4e2d", "\ud83d\ude00", "é中😀", "tab\u0009"]"#,
        #"{"a":1,"a":2}"#, "[1,]", #"{"a":1,}"#, "[ 1 , ]",
        #"{"nested":{"deeper":[[[{"x":[null,{}]}]]]},"k":"v"}"#,
        #"{"choices":[{"delta":{"content":" word"},"index":0,"finish_reason":null}],"id":"c-1"}"#,
        "\"" + String(repeating: "long text ", count: 500) + "\""
    ]

    static let invalid: [String] = [
        "", " ", "{", "}", "[,]", "[1,,]", "{,}", "[1 2]", #"{"a"}"#, #"{"a":}"#, #"{a:1}"#, "'x'", "tru", "nul",
        "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "1e400", #""abc"#, #""a\x""#,
        #""\u12""#, #""\ud83d""#, #""\ude00""#, "\"a\u{01}b\"", "[1] [2]", "{} x", "[\"\\"
    ]

    static func decoded(_ text: String) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    @Test(arguments: valid) func validTextParsesToWhatJSONDecoderGives(text: String) throws {
        let expected = try #require(Self.decoded(text), "JSONDecoder reads \(text)")
        let parsed = try JSONValue(parsing: text)
        #expect(parsed == expected, "parsed \(parsed), JSONDecoder \(expected)")
        #expect(try JSONValue(parsing: Data(text.utf8)) == expected)
        #expect(try JSONValue(parsing: Array(text.utf8)[...]) == expected)
    }

    @Test(arguments: invalid) func invalidTextIsRefusedAsJSONDecoderRefusesIt(text: String) {
        #expect(Self.decoded(text) == nil, "JSONDecoder refuses \(text)")
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func numbersKeepTheirKind() throws {
        #expect(try JSONValue(parsing: "42") == .int(42))
        #expect(try JSONValue(parsing: "1.0") == .int(1))
        #expect(try JSONValue(parsing: "0.5") == .double(0.5))
        #expect(try JSONValue(parsing: "9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test func invalidUTF8InAStringIsRefused() {
        let bytes: [UInt8] = [UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")]
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
        #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))) == nil)
    }

    @Test func nestingIsBoundedAndTheErrorSaysWhere() throws {
        let deepest = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect(throws: Never.self) { try JSONValue(parsing: deepest) }
        let tooDeep = String(repeating: "[", count: 100_000)
        let error = try #require(throws: JSONParseError.self) { try JSONValue(parsing: tooDeep) }
        #expect(error.offset == JSONValue.maxDepth)
        #expect(error.description.contains("nested deeper than 512 levels"))
        let unclosed = try #require(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a": [1, 2"#) }
        #expect(unclosed.offset == 11)
    }

    /// Texts a seeded generator builds from random values, written by JSONEncoder: each reads back equal.
    @Test func encodedRandomValuesReadBack() throws {
        var generator = SplitMix64(seed: 26)
        for _ in 0..<300 {
            let value = Self.random(depth: 0, using: &generator)
            let data = try JSONEncoder().encode(value)
            #expect(try JSONValue(parsing: data) == JSONDecoder().decode(JSONValue.self, from: data))
        }
    }

    static func random(depth: Int, using generator: inout SplitMix64) -> JSONValue {
        let pick = generator.next() % (depth > 3 ? 5 : 7)
        switch pick {
        case 0: return .null
        case 1: return .bool(generator.next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: generator.next()) >> (generator.next() % 64))
        case 3: return .double(Double(Int64(bitPattern: generator.next()) % 1_000_000) / 977.0)
        case 4:
            let alphabet = Array("ab c\"\\/\n\té中😀\u{7f}\u{1}")
            return .string(String((0..<Int(generator.next() % 12)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        case 5: return .array((0..<Int(generator.next() % 5)).map { _ in random(depth: depth + 1, using: &generator) })
        default:
            var fields: [String: JSONValue] = [:]
            for i in 0..<Int(generator.next() % 5) { fields["k\(i)\(generator.next() % 3)"] = random(depth: depth + 1, using: &generator) }
            return .object(fields)
        }
    }
}
