import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RasiCore

/// The error body a route speaks: OpenAI's, `{"error": {"message", "type", "code"}}`, everywhere
/// but Anthropic's Messages API, whose SDKs read `{"type": "error", "error": {"type", "message"}}`.
enum ErrorShape: Sendable {
    case openAI
    case anthropic

    init(path: String) {
        self = path == "/v1/messages" || path.hasPrefix("/v1/messages/") ? .anthropic : .openAI
    }

    /// Anthropic's error types, by status.
    static func anthropicType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        default: "api_error"
        }
    }
}

/// Maps every error to an HTTP status and the route's error body, once, at the edge.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let response = Self.response(for: error, shape: ErrorShape(path: request.uri.path))
            if response.status == .internalServerError { context.logger.error("request failed", metadata: ["error": "\(error)"]) }
            return response
        }
    }

    static func response(for error: any Error, shape: ErrorShape = .openAI) -> Response {
        let (status, type, code, message) = describe(error)
        var response = response(status: status, type: type, code: code, message: message, shape: shape)
        switch error as? RasiError {
        case .rateLimited(let seconds)?: response.headers[.retryAfter] = String(seconds)
        case .overloaded?: response.headers[.retryAfter] = "1"
        // The store is away (PostgreSQL stopped, a full disk): worth trying again in a few seconds.
        case .unavailable?: response.headers[.retryAfter] = "5"
        default: if (error as? any StoreOutageError)?.outage != nil { response.headers[.retryAfter] = "5" }
        }
        return response
    }

    static func describe(_ error: any Error) -> (HTTPResponse.Status, String, String, String) {
        switch error {
        case let error as RasiError:
            switch error {
            case .invalidField: return (.badRequest, "invalid_request_error", "invalid_field", error.description)
            case .malformedJSON: return (.badRequest, "invalid_request_error", "malformed_json", error.description)
            case .notFound: return (.notFound, "invalid_request_error", "not_found", error.description)
            case .unauthorized: return (.unauthorized, "authentication_error", "invalid_api_key", error.description)
            case .forbidden: return (.forbidden, "permission_error", "forbidden", error.description)
            case .payloadTooLarge: return (.contentTooLarge, "invalid_request_error", "payload_too_large", error.description)
            case .conflict: return (.conflict, "invalid_request_error", "conflict", error.description)
            case .upstream(let status, _):
                return (.init(code: status), "upstream_error", "upstream_error", error.description)
            case .unavailable: return (.serviceUnavailable, "server_error", "unavailable", error.description)
            case .rateLimited: return (.tooManyRequests, "rate_limit_error", "rate_limited", error.description)
            case .overloaded: return (.serviceUnavailable, "server_error", "overloaded", error.description)
            }
        case let error as any StoreOutageError where error.outage != nil:
            return (.serviceUnavailable, "server_error", "store_unavailable", error.outage!)
        case let error as EmbeddingError:
            return (.badGateway, "upstream_error", "embeddings_error", error.description)
        case is NIOTooManyBytesError:
            return (.contentTooLarge, "invalid_request_error", "payload_too_large", "request body is larger than the limit")
        case let error as HTTPError:
            return (
                error.status, error.status.code >= 500 ? "server_error" : "invalid_request_error", "http_\(error.status.code)",
                error.body ?? error.status.reasonPhrase
            )
        default:
            return (.internalServerError, "server_error", "internal_error", "internal error")
        }
    }

    static func response(status: HTTPResponse.Status, type: String, code: String, message: String, shape: ErrorShape = .openAI) -> Response {
        let body: JSONValue =
            switch shape {
            case .openAI: ["error": ["message": .string(message), "type": .string(type), "code": .string(code)]]
            case .anthropic: ["type": "error", "error": ["type": .string(ErrorShape.anthropicType(status)), "message": .string(message)]]
            }
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: RasiJSON.canonical(body))))
    }
}
