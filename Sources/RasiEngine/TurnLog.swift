import Foundation
import Logging
import RasiCore

/// Groups the calls of one agent turn into one interaction and logs each call's outcome.
public struct TurnLog: Sendable {
    let services: RasiServices
    let logger: Logger
    var store: any InteractionStore { services.store }

    public init(services: RasiServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    /// Finds the turn this call continues, or starts a new interaction; records what the
    /// client sent (the user's request, tool results) and which lessons were injected.
    /// `previous` is the interaction that produced the call's `previous_response_id`: its
    /// conversation is this call's, and a call that only sends tool outputs continues its turn.
    public func begin(
        _ call: some AgentRequest, agent: String, userId: String?, conversationHeader: String?, selection: LessonSelection,
        previous: Interaction? = nil
    ) async throws -> (Interaction, isNew: Bool) {
        let now = Date()
        let turnKey = call.turnKey(agent: agent, userId: userId)
        let injectedIds = selection.lessons.map(\.lesson.id)
        let transcript = call.transcript
        var existing: Interaction?
        if call.latestUserIndex == nil {
            existing = previous
        } else if call.continuesTurn {
            existing = try await store.interaction(
                turnKey: turnKey, since: now.addingTimeInterval(-TimeInterval(services.configuration.turnWindowSeconds)))
        }
        if var interaction = existing {
            let known = Set(interaction.steps.filter { $0.kind == .toolResult }.compactMap(\.callId))
            // A result whose call the client did not resend (the upstream keeps it) is named by the logged call.
            let calls = Dictionary(interaction.steps.filter { $0.kind == .toolCall }.compactMap { s in s.callId.map { ($0, s.name) } }) { a, _ in a }
            let steps = call.toolResultSteps(excluding: known, at: now).map { step in
                var step = step
                if step.name == nil, let id = step.callId { step.name = calls[id] ?? nil }
                return step
            }
            // A call that refers to the upstream's copy of the conversation sends only what is new.
            interaction.messages = call.latestUserIndex == nil ? .array((interaction.messages.arrayValue ?? []) + transcript) : .array(transcript)
            interaction.lessonsInjected += injectedIds.filter { !interaction.lessonsInjected.contains($0) }
            interaction.lessonsWithheld += selection.withheld.map(\.lesson.id).filter { !interaction.lessonsWithheld.contains($0) }
            interaction.updatedAt = now
            interaction.callOpenBy = services.instance
            let (logged, loggedSteps) = services.forLog(interaction, appending: steps, context: call.conversationTexts)
            // The injections go in the same transaction: one fsync per call, not two.
            try await store.updateInteraction(logged, appendingSteps: loggedSteps, injections: selection.injections(into: logged.id))
            interaction = logged
            interaction.steps += loggedSteps
            return (interaction, false)
        }
        let request = call.userRequest ?? ""
        // Filed under a topic as it is logged; the request's vector is the one retrieval just made.
        let topic = request.isEmpty ? nil : try? await services.topics.classify(request)
        let conversation =
            conversationHeader.flatMap { $0.isEmpty ? nil : $0 } ?? previous?.conversationId
            ?? call.conversationId(agent: agent, userId: userId, header: nil)
        let userStep = call.userRequest.map { [Step(kind: .message, name: "user", content: $0, at: now)] } ?? []
        var interaction = Interaction(
            agent: agent, conversationId: conversation, userId: userId, request: request, messages: .array(transcript),
            steps: userStep + call.toolResultSteps(excluding: [], at: now), model: call.model, api: type(of: call).api,
            lessonsInjected: injectedIds, topic: topic ?? nil, createdAt: now)
        interaction.lessonsWithheld = selection.withheld.map(\.lesson.id)
        // Open until `finish`: a process killed before then leaves it open, and the next check marks it interrupted.
        interaction.callOpenBy = services.instance
        interaction = services.forLog(interaction, appending: [], context: call.conversationTexts).0
        try await store.createInteraction(interaction, turnKey: turnKey, injections: selection.injections(into: interaction.id))
        return (interaction, true)
    }

    /// Without `findingEarlierTurn`, the turn is looked at alone (a request for a human in it).
    public func detectSignals(startingTurn interaction: Interaction, isNew: Bool, findingEarlierTurn: Bool = true) async {
        guard isNew else { return }
        await services.neverFailing(interaction, logger: logger) {
            try await services.detectSignals(startingTurn: interaction, findingEarlierTurn: findingEarlierTurn)
        }
    }

    /// Records one model call's reply (or failure), its latency and tokens.
    public func finish(
        _ interaction: inout Interaction, call: some AgentRequest, reply: ModelReply?, error: String?, since started: ContinuousClock.Instant
    ) async throws {
        let elapsed = ContinuousClock.now - started
        let now = Date()
        let steps = reply?.steps(at: now) ?? []
        if let reply {
            if let content = reply.content, !content.isEmpty { interaction.response = content }
            if let model = reply.model { interaction.model = model }
            if let usage = reply.usage { interaction.tokens = interaction.tokens + usage }
        }
        interaction.error = error
        interaction.callOpenBy = nil
        interaction.latencyMs += elapsed.milliseconds
        interaction.updatedAt = now
        let (logged, loggedSteps) = services.forLog(interaction, appending: steps, context: call.conversationTexts)
        try await PhaseTimings.measure("log") {
            try await store.updateInteraction(logged, appendingSteps: loggedSteps, responseId: reply?.responseId)
        }
        interaction = logged
        interaction.steps += loggedSteps
        let finished = interaction
        await services.neverFailing(finished, logger: logger) { try await services.detectSignals(afterCall: finished) }
    }
}

/// Calls left open by a process that stopped. Each process renews a lease of its own, named
/// after it, while it runs; a call whose process holds no live lease can no longer end, so it
/// is marked interrupted: at start, and every round of the liveness check, by every replica.
extension RasiServices {
    /// The leases that say a process is alive: this prefix, then the process's instance name.
    public static let processLeasePrefix = "process:"
    /// How often a process renews its lease. Each renewal holds for three rounds, so a process
    /// is taken for stopped (and its open calls marked) 15 to 20 seconds after it stopped.
    public static let processLeaseRenewal: Duration = .seconds(5)

    /// Says that this process is alive for three more renewal rounds.
    public func renewProcessLease(now: Date = Date()) async throws {
        // The name is this process's alone: no other holder can have it.
        _ = try await store.acquireLease(
            Self.processLeasePrefix + instance, holder: instance, until: now.addingTimeInterval(3 * Self.processLeaseRenewal.seconds), now: now)
    }

    /// Marks the calls left open by processes no longer alive as interrupted (the reply never
    /// ended: the turn failed), then runs the flag rules over each, as a failed call's finish
    /// does: `upstream_error` flags it. Returns the ids marked.
    @discardableResult
    public func markInterruptedCalls(now: Date = Date(), logger: Logger) async throws -> [String] {
        let marked = try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.processLeasePrefix, now: now)
        for id in marked {
            do {
                try await applySignals(id)
            } catch {
                logger.warning("flag rules failed on an interrupted call", metadata: ["interaction": "\(id)", "error": "\(error)"])
            }
        }
        if !marked.isEmpty {
            logger.notice("calls left open by a stopped process are marked interrupted", metadata: ["count": "\(marked.count)"])
        }
        return marked
    }
}
