//! The gateway's REST endpoints as data: path, whether a call moves money, which rate budget it draws on, and the
//! endpoint's own `errorCode` names.
//!
//! ProjectX numbers its business errors per endpoint (code 2 is `PositionNotFound` on `closeContract` but
//! `PositionNotFound` is also 2 on partial close while `InvalidCloseSize` is 5 there), so code names are looked up
//! here, per endpoint, never from a global table.

/// What a call does to the trading account; decides whether a failed call may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Reads state: safe to repeat, retried on transient failures.
    Read,
    /// Moves money or changes orders: never retried blindly; an unknown outcome is [`crate::Error::Ambiguous`].
    Mutation,
    /// Login and validate: retried by the [`crate::TokenManager`] with its own backoff.
    Auth,
}

/// Which client-side rate budget a call draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// 200 requests / 60 s by default.
    General,
    /// `History/retrieveBars`: 50 requests / 30 s by default, and also counted against the general budget.
    History,
}

/// One REST endpoint of the gateway.
#[derive(Debug)]
pub struct Endpoint {
    /// Path below the REST base, e.g. `/api/Order/place`.
    pub path: &'static str,
    /// Read, mutation or auth.
    pub kind: Kind,
    /// Rate budget.
    pub bucket: Bucket,
    /// A money-moving call that only reduces risk (a position close, an order cancel): it may use the exit part of
    /// the rate budget's reserve ([`crate::Priority::Exit`]), which entries cannot take.
    pub reduces_risk: bool,
    /// `errorCode` names, indexed by code.
    codes: &'static [&'static str],
}

impl Endpoint {
    const fn new(path: &'static str, kind: Kind, codes: &'static [&'static str]) -> Self {
        Self { path, kind, bucket: Bucket::General, reduces_risk: false, codes }
    }

    /// The documented name of `code` for this endpoint, or `"Unknown"` for a code the docs do not list.
    pub fn code_name(&self, code: i64) -> &'static str {
        usize::try_from(code).ok().and_then(|i| self.codes.get(i)).copied().unwrap_or("Unknown")
    }
}

const SUCCESS_ONLY: &[&str] = &["Success"];
const ACCOUNT_NOT_FOUND: &[&str] = &["Success", "AccountNotFound"];
const LOGIN: &[&str] = &[
    "Success",
    "UserNotFound",
    "PasswordVerificationFailed",
    "InvalidCredentials",
    "AppNotFound",
    "AppVerificationFailed",
    "InvalidDevice",
    "AgreementsNotSigned",
    "UnknownError",
    "ApiSubscriptionNotFound",
    "ApiKeyAuthenticationDisabled",
];

/// `POST /api/Auth/loginKey`.
pub const LOGIN_KEY: Endpoint = Endpoint::new("/api/Auth/loginKey", Kind::Auth, LOGIN);
/// `POST /api/Auth/validate`.
pub const VALIDATE: Endpoint = Endpoint::new(
    "/api/Auth/validate",
    Kind::Auth,
    &["Success", "InvalidSession", "SessionNotFound", "ExpiredToken", "UnknownError"],
);
/// `GET /api/Status/ping`: public (no token, no body), answers the string `pong` instead of an envelope. The
/// keep-warm call ([`crate::client::ClientConfig::keep_warm`]).
pub const STATUS_PING: Endpoint = Endpoint::new("/api/Status/ping", Kind::Read, SUCCESS_ONLY);
/// `POST /api/Account/search`.
pub const ACCOUNT_SEARCH: Endpoint = Endpoint::new("/api/Account/search", Kind::Read, SUCCESS_ONLY);
/// `POST /api/Contract/search`.
pub const CONTRACT_SEARCH: Endpoint = Endpoint::new("/api/Contract/search", Kind::Read, SUCCESS_ONLY);
/// `POST /api/Contract/searchById`.
pub const CONTRACT_SEARCH_BY_ID: Endpoint =
    Endpoint::new("/api/Contract/searchById", Kind::Read, &["Success", "ContractNotFound"]);
/// `POST /api/Contract/available`.
pub const CONTRACT_AVAILABLE: Endpoint = Endpoint::new("/api/Contract/available", Kind::Read, SUCCESS_ONLY);
/// `POST /api/History/retrieveBars`.
pub const RETRIEVE_BARS: Endpoint = Endpoint {
    bucket: Bucket::History,
    ..Endpoint::new(
        "/api/History/retrieveBars",
        Kind::Read,
        &["Success", "ContractNotFound", "UnitInvalid", "UnitNumberInvalid", "LimitInvalid"],
    )
};
/// `POST /api/Order/place`.
pub const ORDER_PLACE: Endpoint = Endpoint::new(
    "/api/Order/place",
    Kind::Mutation,
    &[
        "Success",
        "AccountNotFound",
        "OrderRejected",
        "InsufficientFunds",
        "AccountViolation",
        "OutsideTradingHours",
        "OrderPending",
        "UnknownError",
        "ContractNotFound",
        "ContractNotActive",
        "AccountRejected",
    ],
);
/// `POST /api/Order/modify`.
pub const ORDER_MODIFY: Endpoint = Endpoint::new(
    "/api/Order/modify",
    Kind::Mutation,
    &[
        "Success",
        "AccountNotFound",
        "OrderNotFound",
        "Rejected",
        "Pending",
        "UnknownError",
        "AccountRejected",
        "ContractNotFound",
    ],
);
/// `POST /api/Order/cancel`.
pub const ORDER_CANCEL: Endpoint = Endpoint {
    reduces_risk: true,
    ..Endpoint::new(
        "/api/Order/cancel",
        Kind::Mutation,
        &["Success", "AccountNotFound", "OrderNotFound", "Rejected", "Pending", "UnknownError", "AccountRejected"],
    )
};
/// `POST /api/Order/search`.
pub const ORDER_SEARCH: Endpoint = Endpoint::new("/api/Order/search", Kind::Read, ACCOUNT_NOT_FOUND);
/// `POST /api/Order/searchOpen`.
pub const ORDER_SEARCH_OPEN: Endpoint = Endpoint::new("/api/Order/searchOpen", Kind::Read, ACCOUNT_NOT_FOUND);
/// `POST /api/Position/searchOpen`.
pub const POSITION_SEARCH_OPEN: Endpoint = Endpoint::new("/api/Position/searchOpen", Kind::Read, ACCOUNT_NOT_FOUND);
/// `POST /api/Position/closeContract`.
pub const POSITION_CLOSE: Endpoint = Endpoint {
    reduces_risk: true,
    ..Endpoint::new(
        "/api/Position/closeContract",
        Kind::Mutation,
        &[
            "Success",
            "AccountNotFound",
            "PositionNotFound",
            "ContractNotFound",
            "ContractNotActive",
            "OrderRejected",
            "OrderPending",
            "UnknownError",
            "AccountRejected",
        ],
    )
};
/// `POST /api/Position/partialCloseContract` (note the numbering shifted against `closeContract`).
pub const POSITION_PARTIAL_CLOSE: Endpoint = Endpoint {
    reduces_risk: true,
    ..Endpoint::new(
        "/api/Position/partialCloseContract",
        Kind::Mutation,
        &[
            "Success",
            "AccountNotFound",
            "PositionNotFound",
            "ContractNotFound",
            "ContractNotActive",
            "InvalidCloseSize",
            "OrderRejected",
            "OrderPending",
            "UnknownError",
            "AccountRejected",
        ],
    )
};
/// `POST /api/Trade/search`.
pub const TRADE_SEARCH: Endpoint = Endpoint::new("/api/Trade/search", Kind::Read, ACCOUNT_NOT_FOUND);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_per_endpoint() {
        assert_eq!(POSITION_CLOSE.code_name(5), "OrderRejected");
        assert_eq!(POSITION_PARTIAL_CLOSE.code_name(5), "InvalidCloseSize");
        assert_eq!(ORDER_PLACE.code_name(2), "OrderRejected");
        assert_eq!(LOGIN_KEY.code_name(9), "ApiSubscriptionNotFound");
        assert_eq!(ORDER_PLACE.code_name(99), "Unknown");
        assert_eq!(ORDER_PLACE.code_name(-1), "Unknown");
    }

    #[test]
    fn only_bars_use_the_history_budget() {
        assert_eq!(RETRIEVE_BARS.bucket, Bucket::History);
        assert_eq!(ORDER_PLACE.bucket, Bucket::General);
    }

    #[test]
    fn only_closes_and_cancels_count_as_reducing_risk() {
        let reducing: Vec<&str> = [
            &LOGIN_KEY,
            &VALIDATE,
            &ACCOUNT_SEARCH,
            &ORDER_PLACE,
            &ORDER_MODIFY,
            &ORDER_CANCEL,
            &ORDER_SEARCH_OPEN,
            &POSITION_SEARCH_OPEN,
            &POSITION_CLOSE,
            &POSITION_PARTIAL_CLOSE,
        ]
        .into_iter()
        .filter(|ep| ep.reduces_risk)
        .map(|ep| ep.path)
        .collect();
        assert_eq!(
            reducing,
            ["/api/Order/cancel", "/api/Position/closeContract", "/api/Position/partialCloseContract"]
        );
        assert!(reducing.iter().all(|p| p.starts_with("/api/")) && ORDER_CANCEL.kind == Kind::Mutation);
    }
}
