import Foundation

/// A unit of background work kept in the store, so none is lost or run twice across restarts.
public struct Job: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Run the judge over a newly flagged interaction.
        case judge
    }

    public enum Status: String, Codable, Sendable, CaseIterable {
        case queued
        case running
        case done
        case failed
    }

    public var id: String
    public var kind: Kind
    public var interactionId: String
    public var status: Status
    /// Tries started so far.
    public var attempts: Int
    /// Not run before this time (backoff after a failure).
    public var runAfter: Date
    /// The process that claimed it, while running.
    public var owner: String?
    public var lastError: String?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
        id: String = Identifier.make("job"), kind: Kind, interactionId: String, status: Status = .queued, attempts: Int = 0,
        runAfter: Date, owner: String? = nil, lastError: String? = nil, createdAt: Date, finishedAt: Date? = nil
    ) {
        self.id = id
        self.kind = kind
        self.interactionId = interactionId
        self.status = status
        self.attempts = attempts
        self.runAfter = runAfter
        self.owner = owner
        self.lastError = lastError
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, status, attempts, owner
        case interactionId = "interaction_id"
        case runAfter = "run_after"
        case lastError = "last_error"
        case createdAt = "created_at"
        case finishedAt = "finished_at"
    }
}

/// How a claimed job ended.
public enum JobOutcome: Sendable, Equatable {
    case done
    /// Failed for now; queued again for this time.
    case retry(at: Date, error: String)
    /// Failed for good.
    case failed(error: String)
}
