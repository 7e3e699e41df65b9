import Foundation

/// Which arm of the holdout an exposure is in: `treatment` (the lesson was injected) or
/// `control` (the policy selected it, and it was withheld to measure what it changes).
public enum ExposureArm: String, Codable, Sendable, CaseIterable {
    case treatment
    case control
}

/// The holdout: each lesson the policy selects is withheld with probability `share`, decided
/// by a hash of the lesson and the conversation, so a conversation never flips between arms and
/// every process decides alike (no random state, no seed).
public enum Holdout {
    /// Holdouts above this leave too little treatment to be worth a lesson.
    public static let maxShare = 0.5

    /// Whether the lesson is withheld from the conversation.
    public static func withholds(lessonId: String, conversation: String, share: Double) -> Bool {
        guard share > 0 else { return false }
        return unit(lessonId + "\u{1F}" + conversation) < min(share, maxShare)
    }

    /// A stable hash of `text` mapped to [0, 1): FNV-1a over its UTF-8, then a 64-bit mix (FNV's
    /// low bits alone are poorly spread for short keys that differ at the end).
    static func unit(_ text: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }
}

extension LessonSelection {
    /// The selection with the holdout applied for one conversation: the lessons it withholds
    /// move to `withheld` (recorded as control exposures) and the context is rendered from the
    /// rest. A merged (synthesised) block is kept only when nothing was withheld.
    public func holdingOut(share: Double, conversation: String?) -> LessonSelection {
        guard share > 0, let conversation, !lessons.isEmpty else { return self }
        var kept: [ScoredLesson] = []
        var held: [ScoredLesson] = []
        for scored in lessons {
            if Holdout.withholds(lessonId: scored.lesson.id, conversation: conversation, share: share) {
                held.append(scored)
            } else {
                kept.append(scored)
            }
        }
        guard !held.isEmpty else { return self }
        let block = kept.reduce(LessonRenderer.Block()) { $0.adding($1.lesson) }
        var next = LessonSelection(lessons: kept, context: block.text, tokens: block.tokens, setAside: setAside)
        next.withheld = held
        return next
    }
}
