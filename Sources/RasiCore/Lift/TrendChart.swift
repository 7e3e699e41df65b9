import Foundation

/// Trends drawn as self-contained SVG for the panel (no script): the negative-outcome rate over
/// time for all interactions, for exposures with lessons and for those the holdout withheld,
/// with lesson creations and retirements marked; and a lesson's exposures over time by arm.
/// Every point carries its figures as a tooltip (`<title>`), and the chart a text summary (`<desc>`).
public enum TrendChart {
    public static let allColor = "#5d6677"
    public static let treatmentColor = "#2f5bd3"
    public static let controlColor = "#b54708"
    static let createdColor = "#067647"
    static let retiredColor = "#b42318"

    struct Frame {
        let width: Double
        let height: Double
        let left = 46.0
        let right = 12.0
        let top: Double
        let bottom = 44.0
        let count: Int

        var plotWidth: Double { width - left - right }
        var plotHeight: Double { height - top - bottom }
        var baseline: Double { top + plotHeight }
        func x(_ index: Int) -> Double { left + (Double(index) + 0.5) * plotWidth / Double(max(count, 1)) }
        var slot: Double { plotWidth / Double(max(count, 1)) }
    }

    /// The negative-outcome rate per bucket: all interactions, with lessons, withheld.
    public static func rates(_ trends: Trends, title: String, id: String, width: Int = 760, height: Int = 240) -> String {
        let buckets = trends.buckets
        let frame = Frame(width: Double(width), height: Double(height), top: 30, count: buckets.count)
        let highest = buckets.flatMap { [$0.negativeRate, $0.treatment.negativeRate, $0.control.negativeRate] }.compactMap { $0 }.max() ?? 0
        let top = min(1, max(0.1, (highest * 10).rounded(.up) / 10))
        func y(_ rate: Double) -> Double { frame.top + (1 - rate / top) * frame.plotHeight }
        let total = trends.total
        let summary =
            "Negative-outcome rate per \(trends.bucket.rawValue), \(label(trends.since, trends.bucket)) to \(label(trends.until, trends.bucket)): "
            + "all interactions \(rate(total.negative, total.interactions)) of \(total.interactions); "
            + "with lessons \(rate(total.treatment.negative, total.treatment.exposures)) of \(total.treatment.exposures) exposures; "
            + "withheld \(rate(total.control.negative, total.control.exposures)) of \(total.control.exposures); "
            + "\(total.lessonsCreated) lessons created, \(total.lessonsRetired) retired."
        var parts = opening(frame, id: id, title: title, summary: summary)
        for tick in [0, top / 2, top] {
            parts.append(gridLine(frame, y: y(tick), label: String(format: "%.0f%%", tick * 100)))
        }
        parts += xLabels(frame, trends)
        let series: [(String, String, (TrendBucket) -> (Double?, Int, Int), String)] = [
            ("all", allColor, { ($0.negativeRate, $0.negative, $0.interactions) }, "all interactions"),
            ("treatment", treatmentColor, { ($0.treatment.negativeRate, $0.treatment.negative, $0.treatment.exposures) }, "with lessons"),
            ("control", controlColor, { ($0.control.negativeRate, $0.control.negative, $0.control.exposures) }, "withheld")
        ]
        for (name, color, value, caption) in series {
            var path = ""
            var drawing = false
            var dots: [String] = []
            for (index, bucket) in buckets.enumerated() {
                let (rate, negative, of) = value(bucket)
                guard let rate else {
                    drawing = false
                    continue
                }
                path += "\(drawing ? "L" : "M")\(n(frame.x(index))) \(n(y(rate))) "
                drawing = true
                if buckets.count <= 200 {
                    dots.append(
                        ##"<circle cx="\##(n(frame.x(index)))" cy="\##(n(y(rate)))" r="2.5" fill="\##(color)"><title>\##(escape(label(bucket.start, trends.bucket))) · \##(caption): \##(negative) negative of \##(of) (\##(String(format: "%.1f%%", rate * 100)))</title></circle>"##
                    )
                }
            }
            let dash = name == "all" ? #" stroke-dasharray="4 3""# : ""
            if !path.isEmpty {
                parts.append(##"<path class="series-\##(name)" d="\##(path)" fill="none" stroke="\##(color)" stroke-width="2"\##(dash)/>"##)
            }
            parts += dots
        }
        // Lessons created (a triangle) and retired (a cross), under the axis.
        for (index, bucket) in buckets.enumerated() {
            let x = frame.x(index)
            if bucket.lessonsCreated > 0 {
                parts.append(
                    ##"<path class="created" d="M\##(n(x - 4)) \##(n(frame.baseline + 26)) L\##(n(x + 4)) \##(n(frame.baseline + 26)) L\##(n(x)) \##(n(frame.baseline + 19)) Z" fill="\##(createdColor)"><title>\##(escape(label(bucket.start, trends.bucket))): \##(bucket.lessonsCreated) lesson\##(bucket.lessonsCreated == 1 ? "" : "s") created</title></path>"##
                )
            }
            if bucket.lessonsRetired > 0 {
                let (a, b) = (frame.baseline + 29, frame.baseline + 37)
                parts.append(
                    ##"<path class="retired" d="M\##(n(x - 4)) \##(n(a)) L\##(n(x + 4)) \##(n(b)) M\##(n(x + 4)) \##(n(a)) L\##(n(x - 4)) \##(n(b))" stroke="\##(retiredColor)" stroke-width="2"><title>\##(escape(label(bucket.start, trends.bucket))): \##(bucket.lessonsRetired) lesson\##(bucket.lessonsRetired == 1 ? "" : "s") retired</title></path>"##
                )
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// A lesson's exposures per bucket, stacked: injected (treatment) under withheld (control).
    public static func exposures(_ trends: Trends, title: String, id: String, width: Int = 760, height: Int = 180) -> String {
        let buckets = trends.buckets
        let frame = Frame(width: Double(width), height: Double(height), top: 26, count: buckets.count)
        let highest = max(1, buckets.map { $0.treatment.exposures + $0.control.exposures }.max() ?? 0)
        func y(_ count: Int) -> Double { frame.top + (1 - Double(count) / Double(highest)) * frame.plotHeight }
        let total = trends.total
        let summary =
            "Exposures per \(trends.bucket.rawValue), \(label(trends.since, trends.bucket)) to \(label(trends.until, trends.bucket)): "
            + "\(total.treatment.exposures) injected (\(total.treatment.negative) negative outcomes), "
            + "\(total.control.exposures) withheld (\(total.control.negative) negative)."
        var parts = opening(frame, id: id, title: title, summary: summary)
        for tick in Set([0, highest / 2, highest]).sorted() {
            parts.append(gridLine(frame, y: y(tick), label: "\(tick)"))
        }
        parts += xLabels(frame, trends)
        let barWidth = max(1, frame.slot * 0.7)
        for (index, bucket) in buckets.enumerated() where bucket.treatment.exposures + bucket.control.exposures > 0 {
            let x = frame.x(index) - barWidth / 2
            let (t, c) = (bucket.treatment.exposures, bucket.control.exposures)
            let when = escape(label(bucket.start, trends.bucket))
            if t > 0 {
                parts.append(
                    ##"<rect class="treatment" x="\##(n(x))" y="\##(n(y(t)))" width="\##(n(barWidth))" height="\##(n(frame.baseline - y(t)))" fill="\##(treatmentColor)"><title>\##(when): \##(t) injected, \##(bucket.treatment.negative) negative</title></rect>"##
                )
            }
            if c > 0 {
                parts.append(
                    ##"<rect class="control" x="\##(n(x))" y="\##(n(y(t + c)))" width="\##(n(barWidth))" height="\##(n(y(t) - y(t + c)))" fill="\##(controlColor)"><title>\##(when): \##(c) withheld, \##(bucket.control.negative) negative</title></rect>"##
                )
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    static func opening(_ frame: Frame, id: String, title: String, summary: String) -> [String] {
        [
            ##"""
            <svg xmlns="http://www.w3.org/2000/svg" id="\##(escape(id))" viewBox="0 0 \##(Int(frame.width)) \##(Int(frame.height))" \##
            width="100%" style="max-width:\##(Int(frame.width))px" font-family="sans-serif" font-size="11" role="img" \##
            aria-labelledby="\##(escape(id))-title \##(escape(id))-desc">
            """##,
            ##"<title id="\##(escape(id))-title">\##(escape(title))</title>"##,
            ##"<desc id="\##(escape(id))-desc">\##(escape(summary))</desc>"##,
            ##"<rect width="100%" height="100%" fill="#ffffff"/>"##,
            ##"<text x="\##(n(frame.left))" y="16" font-size="13" font-weight="bold">\##(escape(title))</text>"##
        ]
    }

    static func gridLine(_ frame: Frame, y: Double, label: String) -> String {
        ##"<line x1="\##(n(frame.left))" y1="\##(n(y))" x2="\##(n(frame.left + frame.plotWidth))" y2="\##(n(y))" stroke="#e3e3e3"/>"##
            + ##"<text x="\##(n(frame.left - 6))" y="\##(n(y + 4))" text-anchor="end" fill="#5d6677">\##(escape(label))</text>"##
    }

    /// The first, middle and last buckets' times under the axis.
    static func xLabels(_ frame: Frame, _ trends: Trends) -> [String] {
        let count = trends.buckets.count
        guard count > 0 else { return [] }
        var parts = [
            ##"<line x1="\##(n(frame.left))" y1="\##(n(frame.baseline))" x2="\##(n(frame.left + frame.plotWidth))" y2="\##(n(frame.baseline))" stroke="#5d6677"/>"##
        ]
        for (index, anchor) in Set([0, count / 2, count - 1]).sorted().map({ ($0, $0 == 0 ? "start" : $0 == count - 1 ? "end" : "middle") }) {
            parts.append(
                ##"<text x="\##(n(frame.x(index)))" y="\##(n(frame.baseline + 14))" text-anchor="\##(anchor)" fill="#5d6677">\##(escape(label(trends.buckets[index].start, trends.bucket)))</text>"##
            )
        }
        return parts
    }

    /// `2026-12-06 14:00` for an hour, `2026-12-06` for a day (UTC).
    public static func label(_ date: Date, _ bucket: TrendQuery.Bucket) -> String {
        let text = Timestamp.format(date).replacingOccurrences(of: "T", with: " ")
        return String(text.prefix(bucket == .hour ? 16 : 10))
    }

    static func rate(_ part: Int, _ whole: Int) -> String {
        whole == 0 ? "n/a" : String(format: "%.1f%%", Double(part) / Double(whole) * 100)
    }

    static func n(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String { EvaluationChart.escape(text) }
}

extension Trends {
    /// The buckets summed.
    public var total: TrendCounts {
        var total = TrendCounts()
        for bucket in buckets {
            total.interactions += bucket.interactions
            total.negative += bucket.negative
            total.positive += bucket.positive
            total.treatment = total.treatment.adding(bucket.treatment)
            total.control = total.control.adding(bucket.control)
            total.lessonsCreated += bucket.lessonsCreated
            total.lessonsRetired += bucket.lessonsRetired
        }
        return total
    }
}

extension LiftArm {
    func adding(_ arm: TrendArm) -> LiftArm {
        LiftArm(exposures: exposures + arm.exposures, negative: negative + arm.negative, positive: positive + arm.positive)
    }
}
