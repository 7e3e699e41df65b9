/// Turns text into the content terms lexical retrieval compares: lower-cased words without
/// stop words, with common English suffixes stripped so "refunds" and "refund" meet.
public enum TextTerms {
    /// Words that carry no topic, including the boilerplate of lesson situations
    /// ("the user asks about ..."), so they never make two texts look alike.
    static let stopWords: Set<String> = [
        "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
        "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
        "does", "doing", "down", "during", "each", "few", "for", "from", "further", "get", "got", "had", "has",
        "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it",
        "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only",
        "or", "other", "our", "out", "over", "own", "please", "same", "she", "should", "so", "some", "such",
        "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through",
        "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
        "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "want", "wants",
        "user", "users", "ask", "asks", "asked", "asking", "agent", "tell", "know", "need", "needs", "like",
        "thanks", "thank", "hi", "hello", "hey", "ok", "okay", "yes", "don", "t", "s", "m", "ll", "re", "ve"
    ]

    /// The most frequent function words only. Hybrid retrieval leaves just these out of its
    /// BM25 query: question words and verbs ("how", "should", "need") help tell requests apart
    /// (CLINC150: top-1 0.893 with this list, 0.882 without all stop words), while these few
    /// would make the query scan most of the index (5× the postings of the rest together).
    public static let functionWords: Set<String> = [
        "a", "an", "the", "i", "me", "my", "you", "your", "to", "of", "in", "on", "for", "and", "or", "is", "are",
        "it", "this", "that", "be", "with", "at", "from", "by", "please", "can", "do"
    ]

    public static func terms(_ text: String) -> [String] {
        var result: [String] = []
        var seen: Set<String> = []
        for word in words(text) where !stopWords.contains(word) {
            let term = stem(word)
            if seen.insert(term).inserted { result.append(term) }
        }
        return result
    }

    /// Lower-cased runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in text.lowercased().unicodeScalars {
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// A light suffix stripper, not a full Porter stemmer: enough to join plural and
    /// verb forms, and identical for queries and lessons, which is what matters.
    static func stem(_ word: String) -> String {
        guard word.count > 4 else { return word }
        for (suffix, replacement) in [("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", "")] {
            if word.hasSuffix(suffix), word.count - suffix.count >= 3, !word.hasSuffix("ss") {
                return String(word.dropLast(suffix.count)) + replacement
            }
        }
        return word
    }

    /// Cosine similarity of two term sets (each term weighs one): shared / sqrt(|a|·|b|).
    public static func similarity(_ a: [String], _ b: [String]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        let shared = Set(a).intersection(b).count
        return Double(shared) / (Double(a.count) * Double(b.count)).squareRoot()
    }
}

/// Counts tokens the way OpenAI-style BPE tokenizers (cl100k, o200k) roughly do for English:
/// a word of up to six letters is one token and longer words one more per six letters, digits
/// go in groups of three, each punctuation mark is one token, and non-ASCII letters count
/// double (byte-level BPE splits them). Within about 15% of cl100k on English prose.
public enum TokenEstimator {
    public static func count(_ text: String) -> Int {
        var tokens = 0
        var letters = 0
        var digits = 0
        func endRun() {
            if letters > 0 { tokens += 1 + (letters - 1) / 6 }
            if digits > 0 { tokens += (digits + 2) / 3 }
            letters = 0
            digits = 0
        }
        for scalar in text.unicodeScalars {
            // ASCII is classified by value: Unicode's property tables (the same answers there)
            // cost more than the rest of the count, and this runs on every model call's path.
            let value = scalar.value
            let isDigit = value &- 48 < 10
            let isLetter = value < 128 ? (value | 0x20) &- 97 < 26 : scalar.properties.isAlphabetic
            if isDigit {
                if letters > 0 { endRun() }
                digits += 1
            } else if isLetter {
                if digits > 0 { endRun() }
                letters += value < 128 ? 1 : 2
            } else {
                endRun()
                let isSpace = value < 128 ? value == 32 || value &- 9 < 5 : scalar.properties.isWhitespace
                if !isSpace { tokens += 1 }
            }
        }
        endRun()
        return tokens
    }
}
