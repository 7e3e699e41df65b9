import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// The reports of `rasi eval`: sent by the command (or any client), listed, and drawn as the
/// learning curve.
struct EvaluationsController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.post, "/api/v1/evaluations", .role(.reviewer), create)
        routes.on(.get, "/api/v1/evaluations", .role(.reviewer), list)
        routes.on(.get, "/api/v1/evaluations/{id}", .role(.reviewer), get)
        routes.on(.get, "/api/v1/evaluations/{id}/chart.svg", .role(.reviewer), chart)
    }

    /// A report without its per-task results, for lists.
    struct Summary: Encodable {
        var id: String
        var suite: String
        var model: String
        var endpoint: String
        var createdAt: Date
        var lessonsCreated: Int
        var tasks: Int
        var splits: [String: EvaluationReport.SplitSummary]
        var curve: [EvaluationReport.Point]

        init(_ report: EvaluationReport) {
            id = report.id
            suite = report.suite
            model = report.model
            endpoint = report.endpoint
            createdAt = report.createdAt
            lessonsCreated = report.lessonsCreated
            tasks = report.results.count
            splits = report.splits
            curve = report.curve
        }

        enum CodingKeys: String, CodingKey {
            case id, suite, model, endpoint, tasks, splits, curve
            case createdAt = "created_at"
            case lessonsCreated = "lessons_created"
        }
    }

    @Sendable func create(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let report = try await request.decodeJSON(EvaluationReport.self, limit: max(limits.maxBodyBytes, 16 << 20))
        guard !report.id.isEmpty else { throw RasiError.invalidField("id", "must not be empty") }
        guard !report.curve.isEmpty, report.results.allSatisfy({ $0.attempts.count == report.curve.count }) else {
            throw RasiError.invalidField("curve", "must have one point per round, as each result has one attempt per round")
        }
        try await services.saveEvaluation(report, by: context.actor)
        return try JSONBody.response(Summary(report), status: .created)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let reports = try await services.evaluations(limit: try Query(request).limit())
        return try JSONBody.response(["evaluations": reports.map(Summary.init)])
    }

    @Sendable func get(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(try await services.evaluation(context.id()))
    }

    @Sendable func chart(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let svg = EvaluationChart.svg(try await services.evaluation(context.id()))
        return Response(status: .ok, headers: [.contentType: "image/svg+xml"], body: .init(byteBuffer: ByteBuffer(string: svg)))
    }
}
