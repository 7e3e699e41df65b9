import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import RasiCore

/// Renders the panel's pages: a page's template inside the layout, with the navigation of
/// the signed-in role.
enum PanelPages {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in PanelTemplates.all {
            // The templates are constants of this file's module; a test renders every page.
            try! library.register(text, named: name)
        }
        return library
    }()

    struct NavItem {
        let href: String
        let label: String
        let key: String
        let current: Bool
    }

    static func page(
        _ template: String, title: String, data: [String: Any], context: RasiRequestContext,
        status: HTTPResponse.Status = .ok, notice: String? = nil, problem: String? = nil, headers: HTTPFields = [:]
    ) -> Response {
        var data = data
        if data["csrf"] == nil { data["csrf"] = context.session?.csrfToken ?? "" }
        let body = library.render(data, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "body": body]
        if let notice { layout["notice"] = notice }
        if let problem { layout["problem"] = problem }
        if let key = context.key {
            let current = template == "interaction" ? "interactions" : template == "lesson" ? "lessons" : template == "evaluation" ? "evaluations" : template
            var items = [("interactions", "Interactions", "i"), ("review", "Review queue", "r"), ("lessons", "Lessons", "l"), ("retrieve", "Try retrieval", "t"), ("evaluations", "Evaluations", "e")]
            if key.role == .admin { items.append(("keys", "Keys", "k")) }
            layout["signedIn"] = true
            layout["nav"] = items.map { NavItem(href: "/admin/\($0.0)", label: $0.1, key: $0.2, current: $0.0 == current) }
            layout["who"] = key.name
            layout["role"] = key.role.rawValue
            layout["csrf"] = context.session?.csrfToken ?? ""
        }
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Pages are never framed by other sites.
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'"
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// An error as a page, with the status the API would answer.
    static func error(_ error: any Error, context: RasiRequestContext) -> Response {
        let (status, _, _, message) = ErrorMiddleware<RasiRequestContext>.describe(error)
        let title = status == .notFound ? "Not found" : status == .forbidden ? "Not allowed" : status.code >= 500 ? "Something went wrong" : "That did not work"
        return page("error", title: title, data: ["message": message], context: context, status: status)
    }

    /// A time as `2026-11-24 22:51`, UTC.
    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        return String(Timestamp.format(date).prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    static func clip(_ text: String?, _ limit: Int = 140) -> String {
        guard let text else { return "" }
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// Options of a `<select>`, with the current value selected.
    static func options(_ choices: [(String, String)], selected: String?) -> [[String: Any]] {
        choices.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == (selected ?? "")] }
    }

    /// A query string of the non-empty parameters, for links that keep the filters.
    static func query(_ parameters: [(String, String?)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_.~"))
        let pairs = parameters.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return name + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }
        return pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&")
    }
}
