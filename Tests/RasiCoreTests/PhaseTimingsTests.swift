import RasiCore
import Testing

@Suite struct PhaseTimingsTests {
    @Test func phasesAreRecordedInOrderWithRepeatsSummedAndChildTasksIncluded() async throws {
        let timings = PhaseTimings()
        try await PhaseTimings.$current.withValue(timings) {
            try await PhaseTimings.measure("embed") { try await Task.sleep(for: .milliseconds(20)) }
            async let side: Void = PhaseTimings.measure("lexical") { try await Task.sleep(for: .milliseconds(5)) }
            try await side
            try await PhaseTimings.measure("embed") { try await Task.sleep(for: .milliseconds(20)) }
        }
        let recorded = timings.recorded
        #expect(recorded.map(\.name) == ["embed", "lexical"])
        #expect(recorded[0].duration >= .milliseconds(40))
        // Only lower bounds: a loaded machine may wake a sleeper late, so no upper bound holds.
        #expect(recorded[1].duration >= .milliseconds(5))
    }

    @Test func withoutARecorderTheBodyOnlyRuns() async throws {
        let value = await PhaseTimings.measure("embed") { 42 }
        #expect(value == 42)
        #expect(PhaseTimings.current == nil)
    }

    @Test func theHeaderValueIsServerTimingSyntaxAndReadsBack() {
        let timings = PhaseTimings()
        timings.add("embed", .microseconds(3_214))
        timings.add("log", .microseconds(800))
        #expect(timings.headerValue == "embed;dur=3.21, log;dur=0.80")
        #expect(PhaseTimings.parse(timings.headerValue) == ["embed": 3.21, "log": 0.8])
        #expect(PhaseTimings.parse("cache;desc=\"hit\", db;dur=1.5;desc=x, ;dur=2") == ["db": 1.5])
        // A phase of a few microseconds is still reported as taking time.
        let quick = PhaseTimings()
        quick.add("lexical", .nanoseconds(3_400))
        #expect(quick.headerValue == "lexical;dur=0.0034")
    }
}
