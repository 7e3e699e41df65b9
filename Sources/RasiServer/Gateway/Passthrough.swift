import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import RasiCore
import RasiEngine
import RasiModelClient

/// Every `/v1` route that is not an agent API (embeddings, moderations, audio, images, files,
/// models, ...) goes to the upstream unchanged: an agent that uses one
/// base URL for everything keeps working behind rasi. rasi's key is checked (by the route) and
/// the upstream's substituted; the upstream's status and headers come back. Not an interaction.
///
/// The client's body is read whole (up to `maxBodyBytes`, 413 beyond) before it is sent on; the
/// upstream's reply is streamed back. Streaming the request too left the upload reading the
/// client's connection after the upstream had answered without reading it (a 404, an early 401),
/// while the server drained the same connection for the next request: two readers of one
/// stream, which NIO stops the process for.
struct Passthrough: Sendable {
    let metrics: RasiMetrics
    let inFlight: InFlight
    /// Largest body passed through (file and audio uploads are larger than any chat request).
    let maxBodyBytes: Int

    /// Hop-by-hop headers, and those that carry the client's credentials for rasi or describe
    /// rasi's own connection: never forwarded either way.
    static let dropped: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length",
        "authorization", "x-api-key", "cookie"
    ]

    /// Forwards the request to `upstream` at `prefix` followed by the path under the route's `**`.
    func forward(_ request: Request, context: RasiRequestContext, to upstream: Upstream, path prefix: String) async throws -> Response {
        guard let lease = inFlight.enter() else {
            throw RasiError.overloaded("rasi has \(inFlight.limit) model calls in flight; try again shortly")
        }
        let rest = context.parameters.getCatchAll().joined(separator: "/")
        let route = prefix.isEmpty ? String(rest.prefix { $0 != "/" }) : "messages"
        var url = upstream.baseURL + "/" + prefix + rest
        if let query = request.uri.query, !query.isEmpty { url += "?" + query }

        var forwarded = HTTPClientRequest(url: url)
        forwarded.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.dropped.contains(field.name.canonicalName) && !field.name.canonicalName.hasPrefix("x-rasi-") {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        upstream.authorize(&forwarded.headers)
        var request = request
        let sent = try await request.bytes(limit: maxBodyBytes)
        if sent.readableBytes > 0 || ![.get, .head].contains(request.method) { forwarded.body = .bytes(sent) }

        let response: HTTPClientResponse
        do {
            response = try await upstream.client.execute(forwarded, timeout: upstream.timeout)
        } catch {
            metrics.passedThrough(route: route, status: 502)
            throw RasiError.upstream(status: 502, message: "upstream unreachable: \(GatewayController.describe(error))")
        }
        metrics.passedThrough(route: route, status: Int(response.status.code))
        var headers: HTTPFields = [:]
        for header in response.headers where !Self.dropped.contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        let length = response.headers.first(name: "content-length").flatMap(Int.init)
        let body = ResponseBody(contentLength: length) { writer in
            for try await chunk in response.body { try await writer.write(chunk) }
            try await writer.finish(nil)
            withExtendedLifetime(lease) {}
        }
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: body)
    }
}
