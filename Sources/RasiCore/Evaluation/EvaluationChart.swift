import Foundation

/// The learning curve as a self-contained SVG: pass rate (0–100 %) against the lessons live,
/// one line per split, with each point's value written beside it.
public enum EvaluationChart {
    static let colors = ["learn": "#8a5a00", "test": "#1f5fbf"]

    public static func svg(_ report: EvaluationReport) -> String {
        let width = 680.0
        let height = 360.0
        let left = 56.0
        let right = 180.0
        let top = 40.0
        let bottom = 64.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let maxLessons = max(1, report.curve.map(\.lessons).max() ?? 1)
        func x(_ lessons: Int) -> Double { left + Double(lessons) / Double(maxLessons) * plotWidth }
        func y(_ rate: Double) -> Double { top + (1 - rate) * plotHeight }
        func n(_ value: Double) -> String { String(format: "%.1f", value) }

        var parts: [String] = [
            ##"""
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \##(Int(width)) \##(Int(height))" \##
            width="\##(Int(width))" height="\##(Int(height))" font-family="sans-serif" font-size="12" role="img" \##
            aria-label="Learning curve of \##(escape(report.suite))">
            """##,
            ##"<rect width="100%" height="100%" fill="#ffffff"/>"##,
            ##"""
            <text x="\##(n(left))" y="22" font-size="14" font-weight="bold">\##
            \##(escape("Learning curve: \(report.suite) on \(report.model)"))</text>
            """##
        ]
        for tick in stride(from: 0, through: 100, by: 25) {
            let ty = y(Double(tick) / 100)
            parts.append(##"<line x1="\##(n(left))" y1="\##(n(ty))" x2="\##(n(left + plotWidth))" y2="\##(n(ty))" stroke="#e3e3e3"/>"##)
            parts.append(##"<text x="\##(n(left - 8))" y="\##(n(ty + 4))" text-anchor="end">\##(tick)%</text>"##)
        }
        parts.append(
            ##"<line x1="\##(n(left))" y1="\##(n(top + plotHeight))" x2="\##(n(left + plotWidth))" y2="\##(n(top + plotHeight))" stroke="#555"/>"##)
        for lessons in Set(report.curve.map(\.lessons)).sorted() {
            parts.append(##"<text x="\##(n(x(lessons)))" y="\##(n(top + plotHeight + 18))" text-anchor="middle">\##(lessons)</text>"##)
        }
        parts.append(##"<text x="\##(n(left + plotWidth / 2))" y="\##(n(top + plotHeight + 38))" text-anchor="middle">lessons live</text>"##)

        for (index, split) in report.splits.keys.sorted().enumerated() {
            let color = colors[split] ?? "#444"
            let points = report.curve.compactMap { point in point.passRate[split].map { (x(point.lessons), y($0), $0) } }
            parts.append(
                ##"""
                <polyline class="split-\##(escape(split))" fill="none" stroke="\##(color)" stroke-width="2.5" \##
                points="\##(points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " "))"/>
                """##
            )
            for point in points {
                parts.append(##"<circle cx="\##(n(point.0))" cy="\##(n(point.1))" r="4" fill="\##(color)"/>"##)
                parts.append(##"<text x="\##(n(point.0 + 6))" y="\##(n(point.1 - 8))" fill="\##(color)">\##(n(point.2 * 100))%</text>"##)
            }
            let summary = report.splits[split]!
            let legendY = top + 12 + Double(index) * 52
            parts.append(##"<rect x="\##(n(width - right + 52))" y="\##(n(legendY - 9))" width="12" height="12" fill="\##(color)"/>"##)
            parts.append(
                ##"<text x="\##(n(width - right + 70))" y="\##(n(legendY + 1))" font-weight="bold">\##(escape(split)) (\##(summary.tasks))</text>"##)
            parts.append(
                ##"""
                <text x="\##(n(width - right + 70))" y="\##(n(legendY + 17))">\##
                fixed \##(summary.fixed.count), broken \##(summary.broken.count)</text>
                """##
            )
            parts.append(
                ##"""
                <text x="\##(n(width - right + 70))" y="\##(n(legendY + 33))">\##
                \##(String(format: "%.0f", summary.injectedTokensPerRequestAfter)) tokens/request</text>
                """##
            )
        }
        parts.append(
            ##"""
            <text x="\##(n(left))" y="\##(n(height - 6))" fill="#555">\##
            \##(escape(
                "\(report.lessonsCreated) lessons created from the learn split's failures; \(report.results.count) tasks; \(report.endpoint)"))</text>
            """##
        )
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
