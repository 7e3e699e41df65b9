import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import RasiCore

/// Renders the panel's pages: a page's view model through its template, inside the layout,
/// with the navigation of the signed-in role.
enum PanelPages {
    /// The templates in `Templates/`, compiled into the binary (`embedInCode` in Package.swift):
    /// a page's by the page's name, and the partials the pages share. Server-rendered: every page
    /// reads without JavaScript, links and buttons are real ones, and nothing is fetched from the internet.
    static let templates: [String: [UInt8]] = [
        "layout": PackageResources.layout_mustache, "error": PackageResources.error_mustache,
        "signin": PackageResources.signin_mustache, "interactions": PackageResources.interactions_mustache,
        "interaction": PackageResources.interaction_mustache, "review": PackageResources.review_mustache,
        "lessons": PackageResources.lessons_mustache, "lesson": PackageResources.lesson_mustache,
        "impact": PackageResources.impact_mustache, "retrieve": PackageResources.retrieve_mustache,
        "evaluations": PackageResources.evaluations_mustache, "evaluation": PackageResources.evaluation_mustache,
        "keys": PackageResources.keys_mustache, "trends": PackageResources.trends_mustache,
        // Partials: `{{> csrf}}` in every form, `{{> option}}` in every `<select>`.
        "csrf": PackageResources.csrf_mustache, "option": PackageResources.option_mustache,
        "conflict_lesson": PackageResources.conflict_lesson_mustache, "evaluation_task": PackageResources.evaluation_task_mustache,
        "example_buttons": PackageResources.example_buttons_mustache
    ]

    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, bytes) in templates {
            // A file's last line break is not part of the page, nor of a partial placed within a line.
            var text = String(decoding: bytes, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }
            // The templates are part of this module; a test renders every page.
            try! library.register(text, named: name)
        }
        return library
    }()

    static func page(
        _ page: some PanelPage, context: RasiRequestContext,
        status: HTTPResponse.Status = .ok, notice: String? = nil, problem: String? = nil, headers: HTTPFields = [:]
    ) -> Response {
        var page = page
        if page.csrf.isEmpty { page.csrf = context.session?.csrfToken ?? "" }
        let body = library.render(fields(of: page), withTemplate: type(of: page).template) ?? ""
        var nav: [LayoutView.NavItem] = []
        if let key = context.key {
            var items = [
                ("interactions", "Interactions", "i"), ("review", "Review queue", "r"), ("lessons", "Lessons", "l"),
                ("trends", "Trends", "d"), ("retrieve", "Try retrieval", "t"), ("evaluations", "Evaluations", "e")
            ]
            if key.role == .admin { items.append(("keys", "Keys", "k")) }
            let current = type(of: page).section
            nav = items.map { LayoutView.NavItem(href: "/admin/\($0.0)", label: $0.1, key: $0.2, current: $0.0 == current) }
        }
        let layout = LayoutView(
            title: page.title, body: body, notice: notice, problem: problem, signedIn: context.key != nil, nav: nav,
            who: context.key?.name, role: context.key?.role.rawValue, csrf: context.key.map { _ in context.session?.csrfToken ?? "" })
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Pages are never framed by other sites.
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'"
        let html = library.render(fields(of: layout), withTemplate: "layout") ?? ""
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A view model as the dictionaries Mustache reads names from, made with one Mirror walk.
    /// Mustache can read a struct itself, but through a new Mirror of the whole struct at every
    /// name it looks up (and at every miss as it climbs the enclosing sections): 50 interaction
    /// rows took 4.3 ms to render that way, 1.6 ms this way (release build). A nil is left out,
    /// which Mustache reads as it reads a nil: absent.
    static func fields(of value: Any) -> Any {
        switch value {
        case is String, is Int, is Bool, is Double:
            return value
        case let list as [Any]:
            return list.map(fields(of:))
        default:
            let mirror = Mirror(reflecting: value)
            guard mirror.displayStyle == .struct else { return value }
            var fields: [String: Any] = [:]
            for case (let name?, let child) in mirror.children {
                if let optional = child as? any OptionalField {
                    if let wrapped = optional.wrapped { fields[name] = Self.fields(of: wrapped) }
                } else {
                    fields[name] = Self.fields(of: child)
                }
            }
            return fields
        }
    }

    /// An error as a page, with the status the API would answer.
    static func error(_ error: any Error, context: RasiRequestContext) -> Response {
        let (status, _, _, message) = ErrorMiddleware<RasiRequestContext>.describe(error)
        let title =
            status == .notFound
            ? "Not found"
            : status == .forbidden
                ? "Not allowed"
                : status.code >= 500 ? "Something went wrong" : "That did not work"
        return page(ErrorPage(title: title, message: message), context: context, status: status)
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

    static func percent(_ rate: Double) -> String { String(format: "%.1f%%", rate * 100) }

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

/// An optional property of a view model, whatever it wraps.
private protocol OptionalField {
    var wrapped: Any? { get }
}

extension Optional: OptionalField {
    fileprivate var wrapped: Any? { map { $0 } }
}
