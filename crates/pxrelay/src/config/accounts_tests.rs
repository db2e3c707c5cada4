//! `ACCOUNT_GROUPS` and `ACCOUNT_LIMITS` parsing.

use super::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn members(groups: &AccountGroups, name: &str) -> Vec<(String, Decimal)> {
    groups.get(name).expect("group").members.iter().map(|m| (m.account.clone(), m.multiplier)).collect()
}

#[test]
fn groups_read_names_ids_and_multipliers_with_one_as_the_default() {
    let groups = AccountGroups::parse(" evals = 50KTC-1234*1, 50KTC-5678*2 ;funded=PA-9012; ;mixed=9001*0.5,9002*1.50")
        .expect("valid");
    assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["evals", "funded", "mixed"]);
    assert_eq!(members(&groups, "EVALS"), [("50KTC-1234".into(), dec("1")), ("50KTC-5678".into(), dec("2"))]);
    assert_eq!(members(&groups, "funded"), [("PA-9012".into(), dec("1"))]);
    assert_eq!(members(&groups, "mixed"), [("9001".into(), dec("0.5")), ("9002".into(), dec("1.5"))]);
    assert!(groups.get("nope").is_none());
    let of: Vec<&str> = groups.groups_of(|a| a == "PA-9012").collect();
    assert_eq!(of, ["funded"]);
    assert!(AccountGroups::parse("").expect("blank").is_empty());
}

#[test]
fn bad_groups_are_refused_saying_what_is_accepted() {
    for (text, expected) in [
        ("evals", "`evals` is not a group; expected name=account*N,account"),
        ("evals=", "group `evals` has no account"),
        ("=A*1", "an empty group name"),
        ("evals=A*0", "multiplier `*0`: expected a number greater than 0"),
        ("evals=A*-1", "multiplier `*-1` is not accepted"),
        ("evals=A*two", "multiplier `*two` is not accepted"),
        ("evals=A*1e2", "multiplier `*1e2` is not accepted"),
        ("evals=A*101", "at most 100"),
        ("evals=A*", "multiplier `*` is not accepted"),
        ("evals=A,a*2", "group `evals`: account `a` is listed twice"),
        ("evals=A;EVALS=B", "group `EVALS` is defined twice"),
        ("evals=*2", "group `evals`: an empty account"),
        ("ev:als=A", "group name `ev:als` contains one of"),
    ] {
        let err = AccountGroups::parse(text).expect_err(text);
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn limits_read_every_key_and_fall_back_to_none() {
    let table = LimitsTable::parse(
        "50KTC-1234:max_contracts=2, daily_loss_limit=1000.50;PA-9012:max_contracts=5,daily_loss_action=BLOCK,\
         daily_profit_target=750",
    )
    .expect("valid");
    let first = table.for_account("50ktc-1234");
    assert_eq!(first.max_contracts, Some(2));
    assert_eq!(first.daily_loss_limit, Some(dec("1000.50")));
    assert_eq!((first.daily_profit_target, first.daily_loss_action), (None, None));
    let second = table.for_account("PA-9012");
    assert_eq!(second.max_contracts, Some(5));
    assert_eq!(second.daily_loss_action, Some(DailyLossAction::Block));
    assert_eq!(second.daily_profit_target, Some(dec("750")));
    assert_eq!(table.for_account("other"), AccountLimits::default());
    assert_eq!(table.find(|a| a == "PA-9012").max_contracts, Some(5));
    assert_eq!(table.iter().count(), 2);
}

#[test]
fn bad_limits_are_refused_naming_the_account_and_the_keys() {
    for (text, expected) in [
        ("A", "`A` is not an account's limits; expected account:key=value"),
        ("A:max_contracts", "`A`: `max_contracts` is not key=value"),
        ("A:max_contracts=0", "`A`: max_contracts=`0` is not accepted; expected a whole number >= 1"),
        ("A:max_contracts=1.5", "max_contracts=`1.5` is not accepted"),
        ("A:daily_loss_limit=-5", "daily_loss_limit=`-5` is not accepted; expected an amount"),
        ("A:daily_loss_action=panic", "daily_loss_action=`panic` is not accepted; use `flatten` or `block`"),
        ("A:stop=3", "`stop` is not a per-account setting; keys: max_contracts, daily_loss_limit"),
        ("A:", "`A` sets no limit"),
        ("A:max_contracts=1;a:max_contracts=2", "account `a` is listed twice"),
    ] {
        let err = LimitsTable::parse(text).expect_err(text);
        assert!(err.contains(expected), "{text}: {err}");
    }
}
