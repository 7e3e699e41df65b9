import Foundation

/// Outcomes over time: per hour or day, how many interactions there were, how many ended badly
/// or well, the same for the exposures of each arm (with lessons against withheld), and the
/// lessons created and retired. A topic whose negative rate climbs is drift; the treatment line
/// under the control line is the loop working.
public struct TrendQuery: Sendable, Equatable {
    public enum Bucket: String, Sendable, CaseIterable, Codable {
        case hour, day

        public var seconds: TimeInterval { self == .hour ? 3600 : 86_400 }

        /// The start of the bucket `date` falls in (UTC).
        public func start(of date: Date) -> Date {
            Date(timeIntervalSince1970: (date.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
        }
    }

    public var agent: String?
    public var topic: String?
    /// Only the interactions exposed to this lesson, and its own exposures, creation and retirements.
    public var lessonId: String?
    public var bucket: Bucket
    /// The first bucket's start and the end (exclusive) of the last.
    public var since: Date
    public var until: Date

    /// The most buckets one query answers: 90 days of hours, ten years of days.
    public static let maxBuckets = 3660

    public init(agent: String? = nil, topic: String? = nil, lessonId: String? = nil, bucket: Bucket, since: Date, until: Date) {
        self.agent = agent
        self.topic = topic
        self.lessonId = lessonId
        self.bucket = bucket
        self.since = bucket.start(of: since)
        self.until = bucket.start(of: until) < until ? bucket.start(of: until) + bucket.seconds : until
    }

    /// The span from `since` (by default two days of hours or thirty days of days) up to now;
    /// throws naming `since` when it is later than now or needs more than `maxBuckets` buckets.
    public static func recent(
        agent: String? = nil, topic: String? = nil, lessonId: String? = nil, bucket: Bucket, since: Date?, now: Date = Date()
    ) throws -> TrendQuery {
        let since = since ?? now - (bucket == .hour ? 48 : 30) * bucket.seconds
        guard since <= now else { throw RasiError.invalidField("since", "is in the future") }
        let query = TrendQuery(agent: agent, topic: topic, lessonId: lessonId, bucket: bucket, since: since, until: now)
        guard query.bucketStarts.count <= maxBuckets else {
            throw RasiError.invalidField("since", "spans more than \(maxBuckets) \(bucket.rawValue)s; use a later since or bucket=day")
        }
        return query
    }

    /// Every bucket's start, in order.
    public var bucketStarts: [Date] {
        Array(stride(from: since, to: until, by: bucket.seconds))
    }
}

/// One arm's exposures in a bucket, with their negative-outcome rate.
public struct TrendArm: Codable, Sendable, Equatable {
    public var exposures: Int
    public var negative: Int
    public var positive: Int
    public var negativeRate: Double?

    public init(_ arm: LiftArm) {
        exposures = arm.exposures
        negative = arm.negative
        positive = arm.positive
        negativeRate = arm.exposures == 0 ? nil : arm.negativeRate
    }

    enum CodingKeys: String, CodingKey {
        case exposures, negative, positive
        case negativeRate = "negative_rate"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(exposures, forKey: .exposures)
        try container.encode(negative, forKey: .negative)
        try container.encode(positive, forKey: .positive)
        try container.encode(negativeRate, forKey: .negativeRate)
    }
}

/// What a store counts for one bucket; buckets with nothing in them are left out.
public struct TrendCounts: Sendable, Equatable {
    public var interactions = 0
    public var negative = 0
    public var positive = 0
    public var treatment = LiftArm(exposures: 0, negative: 0, positive: 0)
    public var control = LiftArm(exposures: 0, negative: 0, positive: 0)
    public var lessonsCreated = 0
    public var lessonsRetired = 0

    public init() {}
}

/// One bucket of `GET /api/v1/trends`. Rates are null where there is nothing to divide by.
public struct TrendBucket: Codable, Sendable, Equatable {
    public var start: Date
    public var interactions: Int
    public var negative: Int
    public var positive: Int
    public var negativeRate: Double?
    public var positiveRate: Double?
    public var treatment: TrendArm
    public var control: TrendArm
    public var lessonsCreated: Int
    public var lessonsRetired: Int

    public init(start: Date, counts: TrendCounts) {
        self.start = start
        interactions = counts.interactions
        negative = counts.negative
        positive = counts.positive
        negativeRate = counts.interactions == 0 ? nil : Double(counts.negative) / Double(counts.interactions)
        positiveRate = counts.interactions == 0 ? nil : Double(counts.positive) / Double(counts.interactions)
        treatment = TrendArm(counts.treatment)
        control = TrendArm(counts.control)
        lessonsCreated = counts.lessonsCreated
        lessonsRetired = counts.lessonsRetired
    }

    enum CodingKeys: String, CodingKey {
        case start, interactions, negative, positive, treatment, control
        case negativeRate = "negative_rate"
        case positiveRate = "positive_rate"
        case lessonsCreated = "lessons_created"
        case lessonsRetired = "lessons_retired"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(start, forKey: .start)
        try container.encode(interactions, forKey: .interactions)
        try container.encode(negative, forKey: .negative)
        try container.encode(positive, forKey: .positive)
        try container.encode(negativeRate, forKey: .negativeRate)
        try container.encode(positiveRate, forKey: .positiveRate)
        try container.encode(treatment, forKey: .treatment)
        try container.encode(control, forKey: .control)
        try container.encode(lessonsCreated, forKey: .lessonsCreated)
        try container.encode(lessonsRetired, forKey: .lessonsRetired)
    }
}

/// `GET /api/v1/trends`: the query as answered, and every bucket from `since` to now, empty ones included.
public struct Trends: Codable, Sendable, Equatable {
    public var agent: String?
    public var topic: String?
    public var lessonId: String?
    public var bucket: TrendQuery.Bucket
    public var since: Date
    public var until: Date
    public var buckets: [TrendBucket]

    public init(query: TrendQuery, counts: [Date: TrendCounts]) {
        agent = query.agent
        topic = query.topic
        lessonId = query.lessonId
        bucket = query.bucket
        since = query.since
        until = query.until
        buckets = query.bucketStarts.map { TrendBucket(start: $0, counts: counts[$0] ?? TrendCounts()) }
    }

    enum CodingKeys: String, CodingKey {
        case agent, topic, bucket, since, until, buckets
        case lessonId = "lesson_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agent, forKey: .agent)
        try container.encode(topic, forKey: .topic)
        try container.encodeIfPresent(lessonId, forKey: .lessonId)
        try container.encode(bucket, forKey: .bucket)
        try container.encode(since, forKey: .since)
        try container.encode(until, forKey: .until)
        try container.encode(buckets, forKey: .buckets)
    }
}

/// Trends as a store counts them.
public protocol TrendStore: Sendable {
    /// The counts of each bucket of `query` with anything in it, by the bucket's start.
    func trendCounts(_ query: TrendQuery, rules: OutcomeRules) async throws -> [Date: TrendCounts]
    /// The agents (`byTopic` false) or topics with the most interactions in `query`'s span and
    /// filters, busiest first.
    func busiest(byTopic: Bool, in query: TrendQuery, limit: Int) async throws -> [(name: String, interactions: Int)]
}
