import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import RasiCore

extension Upstream {
    /// Posts `json` to `path` and reads the whole JSON reply, at most `maxBodyBytes` of it: what
    /// every non-streaming model call does, whatever its API. An error status, a body that is not
    /// JSON, or one that `isReply` refuses (it is told what is missing) throws `RasiError.upstream`.
    func call(
        _ path: String, json: JSONValue, headers: [(name: String, value: String)] = [], maxBodyBytes: Int,
        expecting missing: String, isReply: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        let response = try await send(.POST, path, json: json, headers: headers)
        let body = try await response.body.collect(upTo: maxBodyBytes)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw RasiError.upstream(status: status, message: Upstream.errorMessage(body))
        }
        guard let reply = try? JSONValue(parsing: body.readableBytesView), isReply(reply) else {
            throw RasiError.upstream(status: 502, message: "the reply has no \(missing)")
        }
        return reply
    }
}
