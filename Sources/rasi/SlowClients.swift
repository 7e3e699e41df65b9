import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import RasiEngine

/// HTTP/1 with both bounds on a client that holds its connection: one that sends nothing is closed
/// after the idle timeout (Hummingbird's timer counts HTTP parts, not bytes, so a head trickled a byte
/// at a time is cut by it too), one that trickles a body by the body read timeout.
func httpServer(_ configuration: RasiConfiguration) -> HTTPServerBuilder {
    let bodyReadTimeout = TimeAmount.seconds(Int64(configuration.bodyReadTimeoutSeconds))
    return .http1(
        configuration: .init(
            additionalChannelHandlers: [RequestReadDeadline(timeout: bodyReadTimeout)],
            idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))))
}

/// Bounds the time a request takes to arrive, from its head to its end: each byte of a trickled body
/// is a part that keeps the idle timer from firing. Past the deadline the request's body fails with a
/// 408, which the route answers through the error middleware (and its error body) with `Connection:
/// close`, and the connection closes once that is written. If the answer had begun (a route that
/// does not read its body, whose rest Hummingbird drains), the connection closes at once.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Request heads read and answers begun: equal when the latest request's answer has begun.
    private var requests = 0
    private var answers = 0
    private var expired = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The connection is closing: nothing sent after the deadline is read.
        guard !expired else { return }
        switch unwrapInboundIn(data) {
        case .head:
            requests += 1
            deadline?.cancel()
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { self.expire(context: context) }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            answers += 1
            guard expired else { break }
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        case .end where expired:
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func expire(context: ChannelHandlerContext) {
        deadline = nil
        expired = true
        if answers == requests {
            context.close(promise: nil)
        } else {
            let seconds = timeout.nanoseconds / 1_000_000_000
            context.fireErrorCaught(HTTPError(.requestTimeout, message: "the request did not arrive whole within \(seconds) seconds"))
        }
    }
}

@available(*, unavailable)
extension RequestReadDeadline: Sendable {}
