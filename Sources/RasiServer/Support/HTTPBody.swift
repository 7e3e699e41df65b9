import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RasiCore

extension Request {
    /// The body as bytes, refusing (413) anything over `limit`.
    ///
    /// A body over the limit is still read to its end (and dropped) before the 413 goes out, up to
    /// `drainLimit`: a client that sends `Connection: close`, as urllib and every HTTP/1.0-style
    /// client does, writes its whole body before it reads a byte, so a server that stops reading
    /// leaves both sides waiting. Past `drainLimit` the 413 is sent and the connection closed.
    mutating func bytes(limit: Int, drainLimit: Int = 256 << 20) async throws -> ByteBuffer {
        var iterator = body.makeAsyncIterator()
        var collected = ByteBuffer()
        var over = headers[.contentLength].flatMap(Int.init).map { $0 > limit } ?? false
        var dropped = 0
        while let chunk = try await iterator.next() {
            if !over, collected.readableBytes + chunk.readableBytes <= limit {
                collected.writeImmutableBuffer(chunk)
            } else {
                over = true
                dropped += chunk.readableBytes
                if dropped > drainLimit { break }
            }
        }
        if over { throw RasiError.payloadTooLarge(limit) }
        body = RequestBody(buffer: collected)
        return collected
    }

    /// The body decoded as `T`; a decoding failure is a 400 naming the field.
    mutating func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let buffer = try await bytes(limit: limit)
        return try JSONBody.decode(type, from: Data(buffer: buffer))
    }
}

enum JSONBody {
    /// Deepest nesting of arrays and objects accepted: far beyond any real request, and a bound
    /// on the recursion a hostile body can make the decoder do.
    static let maxDepth = 64

    /// The body as an untyped value (a gateway call, passed on with every field it came with).
    static func value(from bytes: some Collection<UInt8>) throws -> JSONValue {
        guard !bytes.isEmpty else { throw RasiError.malformedJSON("the request body is empty") }
        do {
            return try JSONValue(parsing: bytes, maxDepth: maxDepth)
        } catch {
            throw RasiError.malformedJSON("the body is not valid JSON: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        guard !data.isEmpty else { throw RasiError.malformedJSON("the request body is empty") }
        guard depth(of: data) <= maxDepth else { throw RasiError.malformedJSON("nested deeper than \(maxDepth) levels") }
        do {
            return try RasiJSON.decoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw describe(error)
        }
    }

    /// The deepest nesting of `[` and `{` outside strings, found in one pass without parsing.
    static func depth(of data: Data) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in data {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    static func describe(_ error: DecodingError) -> RasiError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .invalidField(path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            return .invalidField(path(context.codingPath), "must be \(typeName(type))")
        case .valueNotFound(let type, let context):
            return .invalidField(path(context.codingPath), "must be \(typeName(type)), not null")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .malformedJSON("the body is not valid JSON") }
            return .invalidField(path(context.codingPath), "has an invalid value")
        @unknown default:
            return .malformedJSON("the body could not be read")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type, is Int64.Type: "a number"
        case is Bool.Type: "a boolean"
        default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let data = try RasiJSON.encoder().encode(value)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
