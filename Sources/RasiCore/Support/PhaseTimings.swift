import Foundation
import Synchronization

/// Where one request's time went, phase by phase (embedding the request, each side of
/// retrieval, the selection, the log write). The gateway reports them in its `Server-Timing`
/// header, so an operator, a browser's developer tools and `rasi bench gateway` can each see
/// what rasi added to a model call, and which part of it.
///
/// The recorder travels with the request as a task local, so the code that does the work
/// (a retriever, a store) records its phase without any parameter threaded through it; child
/// tasks (`async let`) inherit it. Without a recorder, `measure` only runs its body.
public final class PhaseTimings: Sendable {
    @TaskLocal public static var current: PhaseTimings?

    private let phases = Mutex<[(name: String, duration: Duration)]>([])

    public init() {}

    /// Runs `body`, adding its duration to the current request's phase `name` (if one is being timed).
    public static func measure<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        guard let timings = current else { return try await body() }
        let started = ContinuousClock.now
        defer { timings.add(name, ContinuousClock.now - started) }
        return try await body()
    }

    /// Adds `duration` to phase `name`; a phase measured twice (two writes) reports their sum.
    public func add(_ name: String, _ duration: Duration) {
        phases.withLock { phases in
            if let index = phases.firstIndex(where: { $0.name == name }) {
                phases[index].duration += duration
            } else {
                phases.append((name, duration))
            }
        }
    }

    /// Each phase's total, in the order first measured.
    public var recorded: [(name: String, duration: Duration)] { phases.withLock { $0 } }

    /// The W3C `Server-Timing` value: `embed;dur=3.21, dense;dur=0.84` (milliseconds). A phase
    /// under 10 µs (an in-memory search of a small store) gets four decimals, not a `0.00` that
    /// would read as not measured.
    public var headerValue: String {
        recorded.map { phase in
            let milliseconds = phase.duration.seconds * 1000
            return "\(phase.name);dur=" + String(format: milliseconds >= 0.01 ? "%.2f" : "%.4f", milliseconds)
        }.joined(separator: ", ")
    }

    /// Reads a `Server-Timing` value back into milliseconds per phase (what the bench aggregates).
    public static func parse(_ header: String) -> [String: Double] {
        var parsed: [String: Double] = [:]
        for metric in header.split(separator: ",") {
            let parts = metric.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let name = parts.first, !name.isEmpty else { continue }
            for parameter in parts.dropFirst() where parameter.hasPrefix("dur=") {
                if let value = Double(parameter.dropFirst(4)) { parsed[name, default: 0] += value }
            }
        }
        return parsed
    }
}
