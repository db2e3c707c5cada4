//! No orphan legs (issue 11): which working orders belong to a position that just went flat ([`belonging`], the one
//! rule, `CANCEL_ON_FLAT`), and the cancel round that removes them ([`cancel_round`]). Used by the executor after
//! its own closes and by the books task when an event (a bracket fill) leaves a position flat; see
//! [`crate::books::Books::tidy_flat`].
//!
//! Why: `Position/closeContract` leaves a position's Auto-OCO bracket legs working; a stop left behind after an
//! exit opens a new, unwanted position when the price reaches it.

use projectx::{ContractId, Order, OrderId};

/// `CANCEL_ON_FLAT`: what is cancelled on a contract once a position there goes flat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CancelOnFlat {
    /// The legs of entries pxrelay placed: working orders whose `parentOrderId` is an order pxrelay placed, or whose
    /// own `customTag` is pxrelay's (`pxr…`/`pxh…`, see [`crate::signal::custom_tag`]).
    #[default]
    Brackets,
    /// Every working order on that contract of that account (the TradersPost rule).
    All,
    /// Nothing.
    None,
}

impl CancelOnFlat {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brackets => "brackets",
            Self::All => "all",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for CancelOnFlat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "brackets" => Ok(Self::Brackets),
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            _ => Err(()),
        }
    }
}

/// Whether `tag` is a `customTag` pxrelay gives its orders ([`crate::signal::custom_tag`]: `pxr<leg>-…` or
/// `pxh<leg>-…`).
pub fn is_pxrelay_tag(tag: Option<&str>) -> bool {
    tag.is_some_and(|t| t.starts_with("pxr") || t.starts_with("pxh"))
}

/// The rule: of `working` (an account's working orders), those on `contract` that `rule` cancels once the position
/// there is flat. `placed_by_pxrelay(id)` says whether order `id` (a leg's parent) is one pxrelay placed.
pub fn belonging(
    rule: CancelOnFlat,
    contract: &ContractId,
    working: &[Order],
    placed_by_pxrelay: impl Fn(OrderId) -> bool,
) -> Vec<Order> {
    working
        .iter()
        .filter(|o| &o.contract_id == contract && o.status.is_working())
        .filter(|o| match rule {
            CancelOnFlat::None => false,
            CancelOnFlat::All => true,
            CancelOnFlat::Brackets => {
                o.parent_order_id.is_some_and(&placed_by_pxrelay) || is_pxrelay_tag(o.custom_tag.as_deref())
            }
        })
        .cloned()
        .collect()
}

/// What a cancel round did.
#[derive(Debug, Default)]
pub struct Round {
    /// Cancelled (or already gone when the gateway refused: an OCO sibling the gateway cancelled first).
    pub cancelled: Vec<OrderId>,
    /// Refused by the gateway and still working: the orphans, with the gateway's answer.
    pub refused: Vec<(Order, String)>,
}

/// Cancels `orders` one by one (`Order/cancel`, never retried). A refused order is read back with
/// `Order/searchOpen`: one no longer working (the gateway's OCO cancelled it first) is not an orphan; one still
/// working (or unknown, when that read fails) is.
pub async fn cancel_round(gateway: &projectx::Client, orders: Vec<Order>) -> Round {
    let mut round = Round::default();
    let mut failed = Vec::new();
    for order in orders {
        match gateway.cancel_order(order.account_id, order.id).await {
            Ok(()) => round.cancelled.push(order.id),
            Err(e) => failed.push((order, e.to_string())),
        }
    }
    let Some(account) = failed.first().map(|(o, _)| o.account_id) else { return round };
    let still_working: Option<Vec<OrderId>> =
        gateway.open_orders(account).await.ok().map(|open| open.iter().map(|o| o.id).collect());
    for (order, error) in failed {
        match &still_working {
            Some(open) if !open.contains(&order.id) => round.cancelled.push(order.id),
            _ => round.refused.push((order, error)),
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: i64, contract: &str, parent: Option<i64>, tag: Option<&str>) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": id, "accountId": 1, "contractId": contract, "creationTimestamp": "2026-01-01T00:00:00Z",
            "status": 1, "type": 4, "side": 1, "size": 1, "fillVolume": 0,
            "customTag": tag, "parentOrderId": parent,
        }))
        .expect("an order")
    }

    #[test]
    fn brackets_takes_the_legs_of_pxrelay_entries_and_pxrelay_orders_on_the_contract_only() {
        let mnq: ContractId = "CON.F.US.MNQ.Z26".into();
        let working = vec![
            order(10, "CON.F.US.MNQ.Z26", Some(1), None), // leg of pxrelay's entry 1
            order(11, "CON.F.US.MNQ.Z26", Some(2), None), // leg of someone else's entry
            order(12, "CON.F.US.MNQ.Z26", None, Some("pxr1-abc")), // pxrelay's own working order
            order(13, "CON.F.US.MNQ.Z26", None, Some("manual")), // the trader's
            order(14, "CON.F.US.MES.Z26", Some(1), None), // another contract
        ];
        let ids = |rule| belonging(rule, &mnq, &working, |p| p == OrderId::from(1)).iter().map(|o| o.id).collect();
        let ids: &dyn Fn(CancelOnFlat) -> Vec<OrderId> = &ids;
        assert_eq!(ids(CancelOnFlat::Brackets), vec![OrderId::from(10), OrderId::from(12)]);
        assert_eq!(ids(CancelOnFlat::All), [10, 11, 12, 13].map(OrderId::from).to_vec());
        assert!(ids(CancelOnFlat::None).is_empty());
    }

    #[test]
    fn the_setting_reads_its_three_words() {
        assert_eq!("brackets".parse(), Ok(CancelOnFlat::Brackets));
        assert_eq!("ALL".parse(), Ok(CancelOnFlat::All));
        assert_eq!("none".parse(), Ok(CancelOnFlat::None));
        assert!("some".parse::<CancelOnFlat>().is_err());
        assert_eq!(CancelOnFlat::default().as_str(), "brackets");
    }
}
