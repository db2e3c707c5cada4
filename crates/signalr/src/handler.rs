//! [`InvocationHandler`]: server invocations handled on the connection's own task, straight from the socket
//! buffer, in one pass over the record; and [`dispatch`], the per-record routing the connection applies (public so
//! a benchmark can run exactly that path without a socket).

use crate::protocol::{self, Incoming};

/// Handles the invocations of some targets on the connection's own task: no copy of the record, no event channel,
/// one parse. For hot, high-rate methods such as market data; everything else is better served by
/// [`HubEvent::Invocation`](crate::HubEvent::Invocation).
///
/// Ordering: handled invocations take effect as they arrive, possibly before the consumer has read earlier events
/// still queued on the event channel (e.g. `Connected`); the other invocations are delivered as events, in order.
pub trait InvocationHandler: Send + Sync + 'static {
    /// Whether invocations of `target` go to [`handle`](Self::handle) (asked for every invocation record).
    fn wants(&self, target: &str) -> bool;

    /// One invocation record of a wanted target: the whole record without its separator, borrowed from the socket
    /// buffer, to be decoded in one pass with [`protocol::parse_invocation`]. Not validated yet: a malformed record
    /// is the handler's to report. Must not block: it runs on the task that reads the socket.
    fn handle(&self, record: &[u8]);
}

/// What [`dispatch`] did with a record.
#[derive(Debug)]
pub enum Dispatched<'a> {
    /// An invocation the handler wanted: it has handled it.
    Handled,
    /// Anything else, parsed: the caller processes it as usual.
    Parsed(Result<Incoming<'a>, serde_json::Error>),
}

/// Routes one record: an invocation whose target `handler` wants goes to it whole, anything else is parsed. The
/// target is peeked without parsing when the record has the server's usual layout
/// ([`protocol::peek_invocation_target`]), so a handled record is parsed once, by the handler; in any other layout
/// the record is parsed first and, if it is a wanted invocation, then handed over too.
pub fn dispatch<'a>(handler: &dyn InvocationHandler, record: &'a [u8]) -> Dispatched<'a> {
    if let Some(target) = protocol::peek_invocation_target(record) {
        if handler.wants(target) {
            handler.handle(record);
            return Dispatched::Handled;
        }
        return Dispatched::Parsed(protocol::parse(record));
    }
    match protocol::parse(record) {
        Ok(Incoming::Invocation { target, .. }) if handler.wants(target) => {
            handler.handle(record);
            Dispatched::Handled
        }
        parsed => Dispatched::Parsed(parsed),
    }
}
