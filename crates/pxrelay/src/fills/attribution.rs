//! Attribution (pure state, no I/O): which alert an order belongs to and in what [`Role`], and what each order and
//! trade event of the user hub means for the alerts' timelines.
//!
//! How an order is recognised:
//! - the executor registers the `customTag` of every order **before** sending it ([`Attribution::sending`]) and the
//!   id the gateway answered ([`Attribution::acknowledged`]); the order's first hub event (which may come before the
//!   REST answer) maps the tag to the id;
//! - a bracket leg is an order whose `parentOrderId` is an order of an alert (the same rule as [`crate::legs`]): a
//!   stop or trailing stop is the `stop` leg, a limit the `target` leg; it is journaled on its entry alert as a
//!   `legs` event;
//! - `Position/closeContract` returns no order id: the executor registers a pending close for (account, contract)
//!   ([`Attribution::closing`]); the next closing trade on that contract from an order nobody claimed, within
//!   [`CLOSE_WINDOW`], is that close's (and so is the rest of that order's fills).
//!
//! What a trade means: a fill of an alert's own order (entry or closing order) is a `filled` event on that alert.
//! A trade that opens or adds to a position (no `profitAndLoss`) makes the alert one of the position's entry alerts.
//! A closing trade (`profitAndLoss` set) is a `closed` event on each entry alert whose contracts it closed (first in,
//! first out: a partial close of `n` contracts concerns the oldest `n`; a close that leaves the position flat, all
//! of them) and, when an alert's
//! order closed it, on that alert too, with `by`: `alert` (an alert's order or close), `stop`/`target` (a bracket
//! leg), `other` (an order pxrelay did not send: the trader in the platform). `flatten` is kept for pxrelay's own
//! risk flatten (a later issue). Once the position is flat (the book says so, or is not live) its entry list is
//! cleared; an opening fill on the other side replaces it (a position that crossed zero).
//!
//! Memory: order ids and alert facts are kept for the process's life (tens of bytes per order); tags are dropped
//! once mapped; trade ids (for repeated events) are forgotten past [`MAX_SEEN_TRADES`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use projectx::{AccountId, ContractId, Order, OrderId, OrderSide, OrderType, Trade};
use rust_decimal::Decimal;
use serde_json::json;
use tokio::time::Instant;

use crate::journal::timeline::slippage_ticks;
use crate::journal::{Event, TimelineWrite};

/// How long after `Position/closeContract` was sent an unclaimed closing trade on that contract is taken as its.
pub const CLOSE_WINDOW: Duration = Duration::from_secs(10);

/// Trade ids remembered to ignore a repeated event; the set is emptied past this.
pub const MAX_SEEN_TRADES: usize = 100_000;

/// What an order is to its alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The alert's order that opens (or reduces, when it crosses zero) a position.
    Entry,
    /// The alert's closing order or `Position/closeContract`.
    Close,
    /// The entry's stop-loss bracket leg.
    Stop,
    /// The entry's take-profit bracket leg.
    Target,
    /// A `Position/closeContract` of pxrelay's own risk flatten (kill switch, daily loss, flat-by), recorded as its
    /// own journal row ([`crate::executor::flatten`]).
    Flatten,
}

impl Role {
    /// The word in the timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Close => "close",
            Self::Stop => "stop",
            Self::Target => "target",
            Self::Flatten => "flatten",
        }
    }

    /// Whether the order is the alert's own (not a bracket leg).
    fn own(self) -> bool {
        matches!(self, Self::Entry | Self::Close | Self::Flatten)
    }
}

/// An order's alert and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The alert.
    pub alert_id: String,
    /// The order's role.
    pub role: Role,
}

/// What slippage is measured against, per alert.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reference {
    /// The reference price at arrival, if any.
    pub price: Option<Decimal>,
    /// The contract's tick size.
    pub tick_size: Decimal,
}

/// One fill of an alert's own order, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FillStat {
    /// The order's role.
    pub role: Role,
    /// This fill's slippage in ticks, when the alert has a reference price.
    pub slippage_ticks: Option<f64>,
}

/// The entry alerts of one open position.
#[derive(Debug)]
struct Open {
    /// The position's side (long when its entries bought).
    buy: bool,
    /// The position's contracts in the order they were opened (first in, first out): a closing trade of `n`
    /// contracts closes the oldest `n`, so it concerns only the entries it consumes, however long the position's
    /// history (issue 17: a 1-lot exit of a 2,000-lot position built by 2,000 alerts used to write 2,000 events each
    /// listing 2,000 alerts).
    lots: VecDeque<Lot>,
}

/// Contracts of a position opened by one alert's fills (`None`: an order pxrelay did not send).
#[derive(Debug)]
struct Lot {
    alert_id: Option<String>,
    size: i64,
}

impl Open {
    /// Adds `size` contracts opened by `alert_id`'s order (merged into the newest lot when it is the same alert's).
    fn add(&mut self, alert_id: Option<String>, size: i64) {
        match self.lots.back_mut() {
            Some(last) if last.alert_id == alert_id => last.size += size,
            _ => self.lots.push_back(Lot { alert_id, size }),
        }
    }

    /// Takes the oldest `size` contracts; returns the alerts whose contracts they were, oldest first, once each.
    fn take(&mut self, mut size: i64) -> Vec<String> {
        let mut alerts: Vec<String> = Vec::new();
        while size > 0 {
            let Some(first) = self.lots.front_mut() else { break };
            let taken = first.size.min(size);
            first.size -= taken;
            size -= taken;
            if let Some(id) = first.alert_id.as_ref().filter(|id| !alerts.contains(id)) {
                alerts.push(id.clone());
            }
            if first.size == 0 {
                self.lots.pop_front();
            }
        }
        alerts
    }

    /// Every alert with contracts still open, oldest first, once each.
    fn all_alerts(&self) -> Vec<String> {
        let mut alerts: Vec<String> = Vec::new();
        for id in self.lots.iter().filter_map(|l| l.alert_id.as_ref()) {
            if !alerts.contains(id) {
                alerts.push(id.clone());
            }
        }
        alerts
    }
}

/// At most this many alert ids are listed in a `closed` event's `alerts` (with `alerts_count` giving them all), so a
/// position closed at once after thousands of entries writes events of a bounded size.
pub const MAX_LISTED_ALERTS: usize = 50;

type Key = (AccountId, ContractId);

/// The attribution state. See the module docs.
#[derive(Debug, Default)]
pub struct Attribution {
    tags: HashMap<String, Owner>,
    orders: HashMap<OrderId, Owner>,
    references: HashMap<String, Reference>,
    closes: HashMap<Key, (Owner, Instant)>,
    open: HashMap<Key, Open>,
    seen_trades: HashSet<i64>,
}

impl Attribution {
    /// An order with `tag` is about to be sent for `owner`, whose slippage is measured against `reference` (the
    /// alert's first registration wins).
    pub fn sending(&mut self, tag: String, owner: Owner, reference: Reference) {
        self.references.entry(owner.alert_id.clone()).or_insert(reference);
        self.tags.insert(tag, owner);
    }

    /// The gateway answered order `id` for `owner`.
    pub fn acknowledged(&mut self, id: OrderId, owner: Owner) {
        self.orders.insert(id, owner);
    }

    /// `Position/closeContract` is about to be sent for `owner` (an alert's close, or a flatten) on
    /// `(account, contract)`.
    pub fn closing(
        &mut self,
        account: AccountId,
        contract: ContractId,
        owner: Owner,
        reference: Reference,
        now: Instant,
    ) {
        self.references.entry(owner.alert_id.clone()).or_insert(reference);
        self.closes.insert((account, contract), (owner, now));
    }

    /// An order event: maps a registered tag to the order's id; a new bracket leg of an alert's order becomes a
    /// `legs` event on that alert.
    pub fn order(&mut self, order: &Order) -> Vec<TimelineWrite> {
        if let Some(owner) = order.custom_tag.as_deref().and_then(|t| self.tags.remove(t)) {
            self.orders.insert(order.id, owner);
        }
        let parent = order.parent_order_id.and_then(|p| self.orders.get(&p)).filter(|p| p.role.own()).cloned();
        let Some(parent) = parent.filter(|_| !self.orders.contains_key(&order.id)) else { return Vec::new() };
        let (role, price) = match order.order_type {
            OrderType::Limit => (Role::Target, order.limit_price),
            _ => (Role::Stop, order.stop_price.or(order.limit_price)),
        };
        self.orders.insert(order.id, Owner { alert_id: parent.alert_id.clone(), role });
        vec![TimelineWrite {
            alert_id: parent.alert_id,
            event: Event::Legs,
            at: order.update_timestamp.unwrap_or(order.creation_timestamp),
            data: json!({ "order_id": order.id, "role": role.as_str(), "price": price, "parent_order_id": order.parent_order_id }),
        }]
    }

    /// A trade event. `flat_after` says whether the position on the trade's contract is flat now (`None`: not
    /// known, taken as flat after a closing trade). Returns the timeline events, and the fill for the metrics when
    /// it was an alert's own order's.
    pub fn trade(
        &mut self,
        trade: &Trade,
        flat_after: Option<bool>,
        now: Instant,
    ) -> (Vec<TimelineWrite>, Option<FillStat>) {
        if trade.voided || !self.seen_trades.insert(trade.id) {
            return (Vec::new(), None);
        }
        if self.seen_trades.len() > MAX_SEEN_TRADES {
            self.seen_trades.clear();
            self.seen_trades.insert(trade.id);
        }
        let key: Key = (trade.account_id, trade.contract_id.clone());
        let closing = trade.profit_and_loss.is_some();
        let mut owner = self.orders.get(&trade.order_id).cloned();
        if owner.is_none() && closing {
            let pending = self.closes.remove(&key).filter(|(_, at)| now.saturating_duration_since(*at) <= CLOSE_WINDOW);
            if let Some((close, _)) = pending {
                self.orders.insert(trade.order_id, close.clone());
                owner = Some(close);
            }
        }
        let buy = trade.side == OrderSide::Bid;
        let mut writes = Vec::new();
        let mut stat = None;
        if let Some(own) = owner.as_ref().filter(|o| o.role.own()) {
            let reference = self.references.get(&own.alert_id).copied();
            stat = Some(FillStat {
                role: own.role,
                slippage_ticks: reference
                    .and_then(|r| slippage_ticks(r.price, r.tick_size, [(buy, trade.price, i64::from(trade.size))])),
            });
            writes.push(TimelineWrite {
                alert_id: own.alert_id.clone(),
                event: Event::Filled,
                at: trade.creation_timestamp,
                data: json!({
                    "order_id": trade.order_id,
                    "trade_id": trade.id,
                    "price": trade.price,
                    "size": trade.size,
                    "fees": trade.fees,
                    "side": if buy { "buy" } else { "sell" },
                    "role": own.role.as_str(),
                    "tick_size": reference.map(|r| r.tick_size),
                }),
            });
        }
        if closing {
            // Flat now (or not known): every entry is closed; else the oldest `size` contracts are.
            let entries = match (flat_after, self.open.get_mut(&key)) {
                (_, None) => Vec::new(),
                (Some(false), Some(open)) => open.take(i64::from(trade.size)),
                (_, Some(open)) => open.all_alerts(),
            };
            if flat_after != Some(false) || self.open.get(&key).is_some_and(|o| o.lots.is_empty()) {
                self.open.remove(&key);
            }
            writes.extend(closed(trade, entries, owner.as_ref()));
        } else {
            let own = owner.filter(|o| o.role.own()).map(|o| o.alert_id);
            if own.is_some() || self.open.contains_key(&key) {
                let open = self.open.entry(key).or_insert_with(|| Open { buy, lots: VecDeque::new() });
                if open.buy != buy {
                    // The other side opened: the contracts listed belong to a position that is gone.
                    *open = Open { buy, lots: VecDeque::new() };
                }
                open.add(own, i64::from(trade.size));
            }
        }
        (writes, stat)
    }
}

/// The `closed` events of a closing trade that closed `entries`' contracts.
fn closed(trade: &Trade, mut entries: Vec<String>, owner: Option<&Owner>) -> Vec<TimelineWrite> {
    let by = match owner.map(|o| o.role) {
        None => "other",
        Some(Role::Entry | Role::Close) => "alert",
        Some(Role::Stop) => "stop",
        Some(Role::Target) => "target",
        Some(Role::Flatten) => "flatten",
    };
    // A leg's entry alert closed by its own leg, even if the entry list was lost (a restart).
    if let Some(o) = owner.filter(|o| !o.role.own())
        && !entries.contains(&o.alert_id)
    {
        entries.push(o.alert_id.clone());
    }
    let closer = owner.filter(|o| o.role.own()).map(|o| o.alert_id.clone());
    let data = json!({
        "realized_pnl": trade.profit_and_loss,
        "fees": trade.fees,
        "exit_price": trade.price,
        "size": trade.size,
        "order_id": trade.order_id,
        "by": by,
        "alerts": entries.iter().take(MAX_LISTED_ALERTS).collect::<Vec<_>>(),
        "alerts_count": entries.len(),
        "closed_by": closer,
    });
    let mut targets = entries.clone();
    if let Some(c) = closer.filter(|c| !targets.contains(c)) {
        targets.push(c);
    }
    targets
        .into_iter()
        .map(|alert_id| TimelineWrite {
            alert_id,
            event: Event::Closed,
            at: trade.creation_timestamp,
            data: data.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNQ: &str = "CON.F.US.MNQ.Z25";

    fn order(id: i64, tag: Option<&str>, parent: Option<i64>, kind: i32, price: f64) -> Order {
        serde_json::from_value(json!({
            "id": id, "accountId": 1, "contractId": MNQ, "creationTimestamp": "2026-01-01T00:00:00Z",
            "status": 1, "type": kind, "side": 1, "size": 1, "fillVolume": 0, "customTag": tag,
            "parentOrderId": parent, "limitPrice": if kind == 1 { Some(price) } else { None },
            "stopPrice": if kind == 4 { Some(price) } else { None },
        }))
        .expect("an order")
    }

    fn trade(id: i64, order: i64, side: i32, price: f64, pnl: Option<f64>) -> Trade {
        serde_json::from_value(json!({
            "id": id, "accountId": 1, "contractId": MNQ, "creationTimestamp": "2026-01-01T00:00:01Z",
            "price": price, "profitAndLoss": pnl, "fees": 0.37, "side": side, "size": 1, "voided": false,
            "orderId": order,
        }))
        .expect("a trade")
    }

    fn owner(alert: &str, role: Role) -> Owner {
        Owner { alert_id: alert.into(), role }
    }

    fn reference(price: &str) -> Reference {
        Reference { price: Some(price.parse().unwrap()), tick_size: "0.25".parse().unwrap() }
    }

    fn events(writes: &[TimelineWrite]) -> Vec<(&str, Event, String)> {
        writes
            .iter()
            .map(|w| (w.alert_id.as_str(), w.event, w.data["by"].as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    #[test]
    fn an_entry_is_found_by_its_tag_its_legs_by_their_parent_and_a_target_fill_closes_it() {
        let mut a = Attribution::default();
        let now = Instant::now();
        a.sending("pxr1-a1".into(), owner("a1", Role::Entry), reference("100"));
        // The hub's order event comes before the REST answer.
        assert!(a.order(&order(10, Some("pxr1-a1"), None, 2, 0.0)).is_empty());
        let (w, stat) = a.trade(&trade(1, 10, 0, 99.75, None), Some(false), now);
        assert_eq!(events(&w), vec![("a1", Event::Filled, String::new())]);
        assert_eq!(w[0].data["price"], json!(99.75));
        assert_eq!(stat, Some(FillStat { role: Role::Entry, slippage_ticks: Some(-1.0) }), "a buy under the ask");
        let stop = a.order(&order(11, None, Some(10), 4, 90.0));
        let target = a.order(&order(12, None, Some(10), 1, 120.0));
        assert_eq!(
            (stop[0].event, &stop[0].data["role"], &stop[0].data["price"]),
            (Event::Legs, &json!("stop"), &json!(90.0))
        );
        assert_eq!((target[0].alert_id.as_str(), &target[0].data["role"]), ("a1", &json!("target")));
        assert!(a.order(&order(12, None, Some(10), 1, 120.0)).is_empty(), "a leg is journaled once");
        let (w, stat) = a.trade(&trade(2, 12, 1, 120.0, Some(40.0)), Some(true), now);
        assert_eq!(events(&w), vec![("a1", Event::Closed, "target".into())]);
        assert_eq!((&w[0].data["realized_pnl"], &w[0].data["exit_price"]), (&json!(40.0), &json!(120.0)));
        assert_eq!(stat, None, "a leg's fill is not the alert's own fill");
        let (w, _) = a.trade(&trade(2, 12, 1, 120.0, Some(40.0)), Some(true), now);
        assert!(w.is_empty(), "a repeated trade event is ignored");
    }

    #[test]
    fn a_partial_close_of_a_long_history_concerns_only_the_oldest_contracts_first_in_first_out() {
        let mut a = Attribution::default();
        let now = Instant::now();
        for i in 0..2_000 {
            a.acknowledged(OrderId::from(10_000 + i), owner(&format!("e{i}"), Role::Entry));
            a.trade(&trade(i + 1, 10_000 + i, 0, 100.0, None), Some(false), now);
        }
        // Three 1-lot sells by the trader: each closes the oldest open contract, one event each.
        for (n, closed) in ["e0", "e1", "e2"].into_iter().enumerate() {
            let (w, _) = a.trade(&trade(5_000 + n as i64, 77, 1, 101.0, Some(1.0)), Some(false), now);
            assert_eq!(events(&w), vec![(closed, Event::Closed, "other".into())]);
            assert_eq!((w[0].data["alerts"].clone(), w[0].data["alerts_count"].clone()), (json!([closed]), json!(1)));
        }
        // The rest closed at once: every remaining entry gets its event, each listing at most MAX_LISTED_ALERTS.
        let (w, _) = a.trade(&trade(6_000, 78, 1, 101.0, Some(1.0)), Some(true), now);
        assert_eq!(w.len(), 1_997);
        assert_eq!(w[0].alert_id, "e3");
        assert_eq!(w[0].data["alerts"].as_array().map(Vec::len), Some(MAX_LISTED_ALERTS));
        assert_eq!(w[0].data["alerts_count"], json!(1_997));
    }

    #[test]
    fn a_close_contract_is_the_next_unclaimed_closing_trade_and_closes_the_entries() {
        let mut a = Attribution::default();
        let now = Instant::now();
        a.acknowledged(OrderId::from(10), owner("a1", Role::Entry));
        a.acknowledged(OrderId::from(11), owner("a2", Role::Entry));
        a.trade(&trade(1, 10, 0, 100.0, None), Some(false), now);
        a.trade(&trade(2, 11, 0, 101.0, None), Some(false), now);
        a.closing(1.into(), MNQ.into(), Owner { alert_id: "x1".into(), role: Role::Close }, reference("102"), now);
        let (w, stat) = a.trade(&trade(3, 99, 1, 102.0, Some(12.0)), Some(true), now);
        assert_eq!(
            events(&w),
            vec![
                ("x1", Event::Filled, String::new()),
                ("a1", Event::Closed, "alert".into()),
                ("a2", Event::Closed, "alert".into()),
                ("x1", Event::Closed, "alert".into()),
            ]
        );
        assert_eq!(w[1].data["closed_by"], json!("x1"));
        assert_eq!(w[1].data["alerts"], json!(["a1", "a2"]));
        assert_eq!(stat.map(|s| s.role), Some(Role::Close));
        // Flat: a later close by the trader names nobody but itself.
        let (w, _) = a.trade(&trade(4, 77, 1, 102.0, Some(1.0)), None, now);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_close_pxrelay_did_not_send_is_by_other_and_a_late_pending_close_is_ignored() {
        let mut a = Attribution::default();
        let now = Instant::now();
        a.acknowledged(OrderId::from(10), owner("a1", Role::Entry));
        a.trade(&trade(1, 10, 0, 100.0, None), Some(false), now);
        a.closing(1.into(), MNQ.into(), Owner { alert_id: "x1".into(), role: Role::Close }, reference("102"), now);
        let later = now + CLOSE_WINDOW + Duration::from_secs(1);
        let (w, _) = a.trade(&trade(2, 55, 1, 99.0, Some(-4.0)), Some(true), later);
        assert_eq!(events(&w), vec![("a1", Event::Closed, "other".into())]);
        assert_eq!(w[0].data["closed_by"], json!(null));
    }

    #[test]
    fn an_order_that_crosses_zero_closes_the_old_entries_and_opens_its_own() {
        let mut a = Attribution::default();
        let now = Instant::now();
        a.acknowledged(OrderId::from(10), owner("a1", Role::Entry));
        a.acknowledged(OrderId::from(20), owner("a2", Role::Entry));
        a.trade(&trade(1, 10, 0, 100.0, None), Some(false), now);
        // One sell of 2: its closing part (the book already shows the new short: not flat), then its opening part.
        let (w, _) = a.trade(&trade(2, 20, 1, 101.0, Some(4.0)), Some(false), now);
        assert_eq!(
            events(&w),
            vec![
                ("a2", Event::Filled, String::new()),
                ("a1", Event::Closed, "alert".into()),
                ("a2", Event::Closed, "alert".into()),
            ]
        );
        a.trade(&trade(3, 20, 1, 101.0, None), Some(false), now);
        let (w, _) = a.trade(&trade(4, 66, 0, 100.0, Some(4.0)), Some(true), now);
        assert_eq!(events(&w), vec![("a2", Event::Closed, "other".into())], "only the short's entry");
    }
}
