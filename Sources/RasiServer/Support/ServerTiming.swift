import HTTPTypes
import Hummingbird
import RasiCore

extension HTTPField.Name {
    static let serverTiming = Self("Server-Timing")!
}

extension PhaseTimings {
    /// Runs a handler with its phases recorded, and reports them in its response's `Server-Timing`
    /// (the gateway's calls and `POST /api/v1/retrieve`, which select lessons the same way).
    static func reported(_ handler: () async throws -> Response) async throws -> Response {
        let timings = PhaseTimings()
        var response = try await $current.withValue(timings) { try await handler() }
        response.headers[.serverTiming] = timings.headerValue
        return response
    }
}
