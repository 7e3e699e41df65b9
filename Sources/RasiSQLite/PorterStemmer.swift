import Foundation

/// The words of a text as SQLite's FTS5 `porter unicode61` tokenizer makes them: runs of letters
/// and digits, lower-cased, Latin diacritics removed, then reduced by Porter's stemmer. The
/// in-process lexical index (`LexicalIndex`) uses it, so its terms are the ones the lessons'
/// full-text table holds (a test compares the two over CLINC150's vocabulary).
enum LexicalTokens {
    static func tokens(_ text: String) -> [String] {
        var folded = text.lowercased()
        if !folded.utf8.allSatisfy({ $0 < 0x80 }) {
            folded = folded.folding(options: .diacriticInsensitive, locale: nil)
        }
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar.properties.generalCategory == .privateUse {
                current.append(scalar)
            } else if !current.isEmpty {
                tokens.append(PorterStemmer.stem(String(current)))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { tokens.append(PorterStemmer.stem(String(current))) }
        return tokens
    }
}

/// Porter's suffix-stripping algorithm (1980), with the details of SQLite's FTS5 implementation:
/// words shorter than 3 or longer than 64 bytes are kept whole, and in the "contains a vowel"
/// test a `y` counts as a vowel anywhere but first.
enum PorterStemmer {
    typealias Rule = (suffix: [UInt8], replacement: [UInt8])

    static func stem(_ word: String) -> String {
        var w = Array(word.utf8)
        guard w.count >= 3, w.count <= 64 else { return word }
        step1(&w)
        apply(step2, to: &w) { stem, _ in measure(stem) > 0 }
        apply(step3, to: &w) { stem, _ in measure(stem) > 0 }
        apply(step4, to: &w) { stem, suffix in
            // "-ion" goes only after an s or a t.
            measure(stem) > 1 && (suffix != Array("ion".utf8) || [UInt8(ascii: "s"), UInt8(ascii: "t")].contains(stem.last!))
        }
        // Step 5a: a final e goes when the rest is long enough.
        if w.last == UInt8(ascii: "e") {
            let rest = Array(w.dropLast())
            let m = measure(rest)
            if m > 1 || (m == 1 && !endsCVC(rest)) { w.removeLast() }
        }
        // Step 5b: -ll becomes -l in long words.
        if w.count > 1, w[w.count - 1] == UInt8(ascii: "l"), w[w.count - 2] == UInt8(ascii: "l"), measure(Array(w.dropLast())) > 1 {
            w.removeLast()
        }
        return String(decoding: w, as: UTF8.self)
    }

    /// Plurals, -ed and -ing, and a final y after a vowel-bearing stem.
    static func step1(_ w: inout [UInt8]) {
        let s = UInt8(ascii: "s")
        let e = UInt8(ascii: "e")
        let i = UInt8(ascii: "i")
        let n = w.count
        if w[n - 1] == s {
            if w[n - 2] == e {
                if (n > 4 && w[n - 4] == s && w[n - 3] == s) || (n > 3 && w[n - 3] == i) { w.removeLast(2) } else { w.removeLast() }
            } else if w[n - 2] != s {
                w.removeLast()
            }
        }
        var strippedEdOrIng = false
        if w.count > 3, ends(w, "eed") {
            if measure(Array(w.dropLast(3))) > 0 { w.removeLast() }
        } else if ends(w, "ed"), w.count > 2, containsVowel(w.dropLast(2)) {
            w.removeLast(2)
            strippedEdOrIng = true
        } else if ends(w, "ing"), w.count > 3, containsVowel(w.dropLast(3)) {
            w.removeLast(3)
            strippedEdOrIng = true
        }
        if strippedEdOrIng, w.count >= 2 {
            if w.count > 2, ends(w, "at") || ends(w, "bl") || ends(w, "iz") {
                w.append(e)
            } else if let c = w.last, !isVowelLetter(c), ![UInt8(ascii: "l"), s, UInt8(ascii: "z")].contains(c), c == w[w.count - 2] {
                w.removeLast()
            } else if measure(w) == 1, endsCVC(w) {
                w.append(e)
            }
        }
        if w.last == UInt8(ascii: "y"), containsVowel(w.dropLast()) { w[w.count - 1] = i }
    }

    /// Replaces the first rule's suffix the word ends with (the word being longer than it),
    /// if `condition` holds for what precedes it and that suffix; later rules are not tried.
    static func apply(_ rules: [Rule], to w: inout [UInt8], condition: (_ stem: [UInt8], _ suffix: [UInt8]) -> Bool) {
        for rule in rules where w.count > rule.suffix.count && w.suffix(rule.suffix.count).elementsEqual(rule.suffix) {
            let stem = Array(w.dropLast(rule.suffix.count))
            if condition(stem, rule.suffix) { w = stem + rule.replacement }
            return
        }
    }

    static func rules(_ pairs: [(String, String)]) -> [Rule] {
        pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) }
    }

    static let step2 = rules([
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("logi", "log"),
        ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
        ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
        ("iviti", "ive"), ("biliti", "ble")
    ])
    static let step3 = rules([
        ("ical", "ic"), ("ness", ""), ("icate", "ic"), ("iciti", "ic"), ("ful", ""), ("ative", ""), ("alize", "al")
    ])
    static let step4 = rules([
        ("al", ""), ("ance", ""), ("ence", ""), ("er", ""), ("ic", ""), ("able", ""), ("ible", ""), ("ant", ""), ("ement", ""),
        ("ment", ""), ("ent", ""), ("ion", ""), ("ou", ""), ("ism", ""), ("ate", ""), ("iti", ""), ("ous", ""), ("ive", ""), ("ize", "")
    ])

    static func ends(_ w: [UInt8], _ suffix: String) -> Bool {
        w.count >= suffix.utf8.count && w.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
    }

    static func isVowelLetter(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "a") || c == UInt8(ascii: "e") || c == UInt8(ascii: "i") || c == UInt8(ascii: "o") || c == UInt8(ascii: "u")
    }

    /// Which letters are consonants: a y is one at the start or after a vowel.
    static func consonants(_ w: [UInt8]) -> [Bool] {
        var result: [Bool] = []
        result.reserveCapacity(w.count)
        var previous = false
        for c in w {
            previous = !(isVowelLetter(c) || (c == UInt8(ascii: "y") && previous))
            result.append(previous)
        }
        return result
    }

    /// Porter's m: how many vowel-consonant sequences the stem has.
    static func measure(_ w: [UInt8]) -> Int {
        var m = 0
        var previous = true
        for consonant in consonants(w) {
            if consonant && !previous { m += 1 }
            previous = consonant
        }
        return m
    }

    static func containsVowel(_ w: ArraySlice<UInt8>) -> Bool {
        w.enumerated().contains { isVowelLetter($0.element) || ($0.element == UInt8(ascii: "y") && $0.offset > 0) }
    }

    /// Ends consonant-vowel-consonant, the last not w, x or y (Porter's *o).
    static func endsCVC(_ w: [UInt8]) -> Bool {
        guard w.count >= 3, let last = w.last, ![UInt8(ascii: "w"), UInt8(ascii: "x"), UInt8(ascii: "y")].contains(last) else { return false }
        let c = consonants(w)
        return c[w.count - 3] && !c[w.count - 2] && c[w.count - 1]
    }
}
