import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// The judge on demand, its logged runs, and the job queue that runs it in the background.
struct JudgeController {
    let services: RasiServices

    func register(_ routes: GuardedRouter) {
        routes.on(.post, "/api/v1/interactions/{id}/judge", .role(.reviewer), judge)
        routes.on(.get, "/api/v1/interactions/{id}/judge", .role(.reviewer), runs)
        routes.on(.get, "/api/v1/jobs", .role(.admin), jobs)
    }

    struct Result: Encodable {
        var run: JudgeRun
        var verdict: JudgeVerdict?
        var lesson: Lesson?
    }

    /// Runs the judge now and logs the run. A valid verdict is answered with 200 and the lesson
    /// it proposed; a judge that failed (unreachable, or invalid output after its retries) is a
    /// 502 naming the run, which is logged all the same.
    @Sendable func judge(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let (run, lesson) = try await services.judgeNow(try context.id())
        guard run.status == .ok else {
            throw RasiError.upstream(status: 502, message: "the judge failed (run \(run.id)): \(run.error ?? run.status.rawValue)")
        }
        return try JSONBody.response(Result(run: run, verdict: run.verdict, lesson: lesson))
    }

    @Sendable func runs(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        return try JSONBody.response(["runs": try await services.judgeRuns(of: id)])
    }

    @Sendable func jobs(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let jobs = try await services.judgeJobs(status: try query.oneOf("status", Job.Status.self), limit: try query.limit())
        return try JSONBody.response(["jobs": jobs])
    }
}
