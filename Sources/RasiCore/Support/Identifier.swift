import Foundation
import Synchronization

/// Time-ordered identifiers: a prefix, 12 hex digits of milliseconds since 1970 and 8 of
/// randomness. Sorting ids sorts by creation time, which makes cursors simple.
public enum Identifier {
    private static let last = Mutex<UInt64>(0)

    public static func make(_ prefix: String, at date: Date = Date()) -> String {
        // Strictly increasing within the process, so ids made in the same millisecond keep order.
        let millis = last.withLock { last in
            let now = UInt64(max(0, date.timeIntervalSince1970 * 1000))
            last = max(now, last + 1)
            return last
        }
        let random = UInt32.random(in: .min ... .max)
        return prefix + "_" + hex(millis, width: 12) + hex(UInt64(random), width: 8)
    }

    private static func hex(_ value: UInt64, width: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

extension Sequence<UInt8> {
    /// Lowercase hexadecimal, two digits a byte. `String(format: "%02x")` a byte at a time took
    /// 40–100 µs for a SHA-256, and every model call hashes its key and its turn.
    public var hexadecimal: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
