//! The gateway's integer enums. Each (de)serialises as its documented number; a number this client does not know
//! decodes to `Other(n)` instead of failing the whole response (the swagger has grown new values before).

macro_rules! int_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $var:ident = $val:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $var,)+
            /// A value not in this client's table.
            Other(i32),
        }
        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                match v { $($name::$var => $val,)+ $name::Other(n) => n }
            }
        }
        impl From<i32> for $name {
            fn from(n: i32) -> Self {
                match n { $($val => Self::$var,)+ other => Self::Other(other) }
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i32(i32::from(*self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <i32 as serde::Deserialize>::deserialize(d).map(Self::from)
            }
        }
    };
}

int_enum! {
    /// `OrderSide`.
    OrderSide {
        /// Buy.
        Bid = 0,
        /// Sell.
        Ask = 1,
    }
}

int_enum! {
    /// `OrderType`.
    OrderType {
        /// 0.
        Unknown = 0,
        /// Limit order (`limitPrice`).
        Limit = 1,
        /// Market order.
        Market = 2,
        /// Stop-limit (not accepted by `Order/place`).
        StopLimit = 3,
        /// Stop order (`stopPrice`); also the stop-loss bracket type.
        Stop = 4,
        /// Trailing stop (`trailPrice`).
        TrailingStop = 5,
        /// Join the best bid.
        JoinBid = 6,
        /// Join the best ask.
        JoinAsk = 7,
    }
}

int_enum! {
    /// `OrderStatus`.
    OrderStatus {
        /// 0.
        None = 0,
        /// Working.
        Open = 1,
        /// Completely filled.
        Filled = 2,
        /// Cancelled.
        Cancelled = 3,
        /// Expired.
        Expired = 4,
        /// Rejected.
        Rejected = 5,
        /// Pending.
        Pending = 6,
        /// Cancel requested.
        PendingCancellation = 7,
        /// Suspended (bracket children waiting for their parent).
        Suspended = 8,
    }
}

int_enum! {
    /// `PositionType`.
    PositionType {
        /// 0.
        Undefined = 0,
        /// Long.
        Long = 1,
        /// Short.
        Short = 2,
    }
}

int_enum! {
    /// `AggregateBarUnit`.
    BarUnit {
        /// 0.
        Unspecified = 0,
        /// Seconds.
        Second = 1,
        /// Minutes.
        Minute = 2,
        /// Hours.
        Hour = 3,
        /// Days.
        Day = 4,
        /// Weeks.
        Week = 5,
        /// Months.
        Month = 6,
    }
}

impl OrderSide {
    /// The other side.
    pub fn opposite(self) -> Self {
        match self {
            Self::Bid => Self::Ask,
            _ => Self::Bid,
        }
    }
}

impl OrderStatus {
    /// Whether the order can still fill or be cancelled.
    pub fn is_working(self) -> bool {
        matches!(self, Self::Open | Self::Pending | Self::Suspended | Self::PendingCancellation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_numbers_on_the_wire_and_unknown_numbers_survive() {
        assert_eq!(serde_json::to_string(&OrderType::TrailingStop).unwrap(), "5");
        assert_eq!(serde_json::from_str::<OrderStatus>("2").unwrap(), OrderStatus::Filled);
        assert_eq!(serde_json::from_str::<OrderStatus>("42").unwrap(), OrderStatus::Other(42));
        assert_eq!(serde_json::to_string(&OrderStatus::Other(42)).unwrap(), "42");
        assert_eq!(OrderSide::Bid.opposite(), OrderSide::Ask);
    }
}
