import Foundation
import HummingbirdTesting
import Logging
import RasiCore
import RasiEngine
import Testing

@testable import ScriptedModel
@testable import rasi

/// A gateway call is open on its interaction, under its process's name, from its beginning to
/// its end. One left open by a process that stopped (killed mid-stream) can never end: it is
/// marked interrupted once that process holds no live lease, on both stores alike.
@Suite struct InterruptedCallTests {
    static let prefix = RasiServices.processLeasePrefix
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// An interaction whose call `process` began (nil: a call that has ended).
    func interaction(openBy process: String?, error: String? = nil) -> Interaction {
        var interaction = Interaction(agent: "default", request: "Tell me a story", error: error, createdAt: now.addingTimeInterval(-60))
        interaction.callOpenBy = process
        return interaction
    }

    /// `process` says it is alive until `seconds` past `now`.
    func alive(_ process: String, for seconds: Double, in store: any RasiStore) async throws {
        #expect(
            try await store.acquireLease(
                Self.prefix + process, holder: process, until: now.addingTimeInterval(seconds), now: now.addingTimeInterval(-60)))
    }

    @Test(arguments: StoreKind.allCases) func theProcessWithACallOpenIsStoredAndClearedWhenTheCallEnds(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            var begun = interaction(openBy: "proc_a")
            try await store.createInteraction(begun, turnKey: nil)
            #expect(try await store.interaction(id: begun.id)?.callOpenBy == "proc_a")

            begun.callOpenBy = nil
            begun.response = "Once upon a time."
            try await store.updateInteraction(begun, appendingSteps: [])

            let ended = try #require(try await store.interaction(id: begun.id))
            #expect(ended.callOpenBy == nil && ended.response == "Once upon a time.")
        }
    }

    @Test(arguments: StoreKind.allCases) func aCallOpenByAProcessThatHoldsNoLiveLeaseIsMarkedInterrupted(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let neverAlive = interaction(openBy: "proc_gone")
            let ranOut = interaction(openBy: "proc_killed")
            try await store.createInteraction(neverAlive, turnKey: nil)
            try await store.createInteraction(ranOut, turnKey: nil)
            try await alive("proc_killed", for: -1, in: store)

            let marked = try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now)

            #expect(Set(marked) == [neverAlive.id, ranOut.id])
            for id in marked {
                let logged = try #require(try await store.interaction(id: id))
                #expect(logged.error == Interaction.interruptedError)
                #expect(logged.response == nil && logged.callOpenBy == nil && logged.updatedAt == now)
            }
            // Marked once: no call is open any more.
            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func aCallOpenByALiveProcessStaysOpenUntilItsLeaseRunsOut(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let open = interaction(openBy: "proc_live")
            try await store.createInteraction(open, turnKey: nil)
            try await alive("proc_live", for: 15, in: store)

            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now).isEmpty)
            let untouched = try #require(try await store.interaction(id: open.id))
            #expect(untouched.callOpenBy == "proc_live" && untouched.error == nil && untouched.updatedAt == open.updatedAt)

            // Unrenewed, the lease runs out: the process is taken for stopped.
            let later = now.addingTimeInterval(16)
            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: later) == [open.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func aLeaseOfAnotherNameDoesNotKeepACallOpen(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let open = interaction(openBy: "proc_sweeper")
            try await store.createInteraction(open, turnKey: nil)
            // The process holds a sweep's lease, not its own.
            #expect(try await store.acquireLease("abandonment sweep", holder: "proc_sweeper", until: now.addingTimeInterval(30), now: now))

            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now) == [open.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func aCallThatEndedIsLeftAsItIs(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            var answered = interaction(openBy: nil)
            answered.response = "Once upon a time."
            let failed = interaction(openBy: nil, error: "upstream returned 500: model crashed")
            try await store.createInteraction(answered, turnKey: nil)
            try await store.createInteraction(failed, turnKey: nil)

            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now).isEmpty)
            #expect(try await store.interaction(id: answered.id) == answered)
            #expect(try await store.interaction(id: failed.id) == failed)
        }
    }

    @Test(arguments: StoreKind.allCases) func anErrorAlreadyLoggedIsKept(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let open = interaction(openBy: "proc_gone", error: "stream interrupted: connection reset")
            try await store.createInteraction(open, turnKey: nil)

            #expect(try await store.markInterruptedCalls(error: Interaction.interruptedError, leasePrefix: Self.prefix, now: now) == [open.id])
            let logged = try #require(try await store.interaction(id: open.id))
            #expect(logged.error == "stream interrupted: connection reset" && logged.callOpenBy == nil)
        }
    }

    @Test func anInterruptedCallIsFlaggedAsAnUpstreamError() async throws {
        try await TestRasi.run { rasi, _ in
            try await rasi.services.renewProcessLease()
            let stopped = interaction(openBy: "proc_gone")
            let ours = interaction(openBy: rasi.services.instance)
            try await rasi.store.createInteraction(stopped, turnKey: nil)
            try await rasi.store.createInteraction(ours, turnKey: nil)

            let marked = try await rasi.services.markInterruptedCalls(logger: .init(label: "test"))

            #expect(marked == [stopped.id])
            let flagged = try #require(try await rasi.store.interaction(id: stopped.id))
            #expect(flagged.flags.map(\.rule) == [.upstreamError])
            #expect(flagged.flags.first?.reason.contains("interrupted") == true)
            #expect(try await rasi.store.interaction(id: ours.id)?.callOpenBy == rasi.services.instance)
        }
    }

    @Test func aStreamedCallIsOpenUnderThisProcessUntilItsStreamEnds() async throws {
        let script = #"{"rules": [], "default": {"content": "Once upon a time there was a gateway.", "hold_after_first_chunk": "story"}}"#
        try await withScriptedModel(try JSONDecoder().decode(Script.self, from: Data(script.utf8))) { port, model in
            try await TestRasi.run(upstreamPort: port) { rasi, client in
                let body = #"{"model": "m", "stream": true, "messages": [{"role": "user", "content": "Tell me a story"}]}"#
                async let streamed = client.call(.post, "/v1/chat/completions", key: rasi.keys[.agent], json: body)
                // The upstream holds the stream open after its first chunk.
                var open: Interaction?
                for _ in 0..<500 where open == nil {
                    if await model.holding == ["story"] { open = try await rasi.store.listInteractions(InteractionFilter()).first }
                    if open == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                let held = try #require(open)
                #expect(held.callOpenBy == rasi.services.instance && held.error == nil && held.response == nil)

                await model.release("story")
                #expect(try await streamed.0 == .ok)
                let ended = try #require(try await rasi.store.interaction(id: held.id))
                #expect(ended.callOpenBy == nil && ended.response == "Once upon a time there was a gateway.")
            }
        }
    }
}
