//! Account resolution: targets (groups, names, ids, lists, unknown names), the startup check, size scaling, and
//! the cached listing.

use std::sync::Arc;

use super::*;

const SEARCH: &str = "/api/Account/search";

#[tokio::test]
async fn a_burst_of_picks_costs_one_account_search() {
    let (sim, _, gateway) = crate::testing::sim_gateway(&[]).await;
    sim.set_latency(Duration::from_millis(100));
    let accounts = Arc::new(Accounts::new(gateway, None));
    let picks: Vec<_> = (0..20)
        .map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.pick(None).await })
        })
        .collect();
    for pick in picks {
        assert_eq!(pick.await.unwrap(), Ok(AccountId::new(9001)));
    }
    assert_eq!(accounts.pick(Some("sim-paper-1")).await, Ok(AccountId::new(9001)));
    assert_eq!(sim.counters().calls(SEARCH), 1);
}

#[tokio::test]
async fn a_failed_listing_is_not_cached() {
    let (sim, _, gateway) = crate::testing::sim_gateway(&[]).await;
    sim.fail_next(1, 400, projectx_sim::Scope::Path(SEARCH.into()));
    let accounts = Accounts::new(gateway, None);
    let err = accounts.pick(None).await.unwrap_err();
    assert!(err.contains("could not list accounts"), "{err}");
    assert_eq!(accounts.pick(None).await, Ok(AccountId::new(9001)));
    assert_eq!(sim.counters().calls(SEARCH), 2);
}

mod resolution {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::super::resolve;
    use super::*;
    use crate::config::{AccountGroups, LimitsTable};

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn account(id: i32, name: &str, can_trade: bool) -> Account {
        Account {
            id: AccountId::new(id),
            name: name.to_owned(),
            balance: Decimal::ZERO,
            can_trade,
            is_visible: true,
            simulated: true,
        }
    }

    fn login() -> Vec<Account> {
        vec![
            account(101, "50KTC-1234", true),
            account(102, "50KTC-5678", true),
            account(103, "PA-9012", false),
            account(104, "PA-3456", true),
        ]
    }

    fn groups() -> AccountGroups {
        AccountGroups::parse("evals=50KTC-1234*1,102*2;funded=pa-9012*0.5,PA-3456").unwrap()
    }

    /// (id, multiplier, can_trade) of the targets of `requested`.
    fn resolved(requested: &[&str]) -> Result<Vec<(i64, Decimal, bool)>, String> {
        let requested: Vec<String> = requested.iter().map(|r| (*r).to_owned()).collect();
        let targets = resolve::targets(&login(), &groups(), None, &requested)?;
        Ok(targets.iter().map(|t| (t.account.get().into(), t.multiplier, t.can_trade)).collect())
    }

    #[test]
    fn a_group_expands_to_its_accounts_with_their_multipliers_and_names() {
        let requested = vec!["EVALS".to_owned()];
        let targets = resolve::targets(&login(), &groups(), None, &requested).unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!((targets[0].name.as_str(), targets[0].multiplier), ("50KTC-1234", dec("1")));
        assert_eq!((targets[1].name.as_str(), targets[1].multiplier), ("50KTC-5678", dec("2")), "member by id");
    }

    #[test]
    fn names_ids_and_lists_resolve_and_a_repeated_account_keeps_its_first_multiplier() {
        assert_eq!(resolved(&["pa-3456"]), Ok(vec![(104, dec("1"), true)]), "by name, any case");
        assert_eq!(resolved(&["101"]), Ok(vec![(101, dec("1"), true)]), "by id");
        assert_eq!(resolved(&["101, PA-3456"]), Ok(vec![(101, dec("1"), true), (104, dec("1"), true)]), "a list");
        // 102 comes first through `evals` (*2), then directly: first wins; 104 directly, then in `funded`.
        assert_eq!(
            resolved(&["evals", "102", "PA-3456", "funded"]),
            Ok(vec![(101, dec("1"), true), (102, dec("2"), true), (104, dec("1"), true), (103, dec("0.5"), false)])
        );
    }

    #[test]
    fn an_account_that_cannot_trade_is_a_target_marked_so() {
        assert_eq!(resolved(&["funded"]), Ok(vec![(103, dec("0.5"), false), (104, dec("1"), true)]));
    }

    #[test]
    fn unknown_names_are_one_error_listing_the_groups_and_accounts_there_are() {
        let err = resolved(&["evals", "nope", "999"]).unwrap_err();
        assert_eq!(
            err,
            "unknown `nope`, `999`; groups: evals, funded; accounts: 50KTC-1234 (101), 50KTC-5678 (102), PA-9012 \
             (103, cannot trade), PA-3456 (104)"
        );
        let stale = AccountGroups::parse("old=GONE-1").unwrap();
        let err = resolve::targets(&login(), &stale, None, &["old".to_owned()]).unwrap_err();
        assert!(err.starts_with("unknown `GONE-1` (in group `old`); groups: old;"), "{err}");
    }

    #[test]
    fn nothing_requested_is_the_default_which_may_be_a_group_else_the_only_tradable_account() {
        let ids = |default: Option<&str>, list: &[Account]| {
            resolve::targets(list, &groups(), default, &[])
                .map(|t| t.iter().map(|t| t.account.get()).collect::<Vec<_>>())
        };
        assert_eq!(ids(Some("evals"), &login()), Ok(vec![101, 102]));
        assert_eq!(ids(Some("PA-3456"), &login()), Ok(vec![104]));
        let err = ids(None, &login()).unwrap_err();
        assert!(err.starts_with("several tradable accounts"), "{err}");
        assert_eq!(ids(None, &[account(7, "ONE", true), account(8, "OFF", false)]), Ok(vec![7]));
        assert_eq!(ids(None, &[account(8, "OFF", false)]), Err("no tradable account on this login".to_owned()));
    }

    #[test]
    fn the_startup_check_names_every_unknown_configured_account_and_its_variable() {
        let limits = LimitsTable::parse("101:max_contracts=2;GHOST:max_contracts=1").unwrap();
        let groups = AccountGroups::parse("evals=50KTC-1234,MISSING*2").unwrap();
        let problems = resolve::check_configured(&login(), &groups, &limits, Some("NOPE")).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("ACCOUNT_GROUPS: account `MISSING` (group `evals`) is not an account of this login; accounts: 50KTC-1234 (101)"), "{}", problems[0]);
        assert!(problems[1].starts_with("ACCOUNT_LIMITS: account `GHOST` is not"), "{}", problems[1]);
        assert!(problems[2].starts_with("PROJECT_X_ACCOUNT: account `NOPE` is not"), "{}", problems[2]);
        let ok = resolve::check_configured(
            &login(),
            &self::groups(),
            &LimitsTable::parse("PA-3456:max_contracts=1").unwrap(),
            Some("evals"),
        );
        let ok: Vec<i64> = ok.unwrap().iter().map(|a| a.get().into()).collect();
        assert_eq!(ok, [101, 102, 103, 104], "every configured account once, an untradable one included");
    }

    #[test]
    fn a_group_named_like_an_account_is_a_startup_problem() {
        let groups = AccountGroups::parse("PA-3456=101").unwrap();
        let problems = resolve::check_configured(&login(), &groups, &LimitsTable::default(), None).unwrap_err();
        assert_eq!(
            problems,
            ["ACCOUNT_GROUPS: group `PA-3456` has the name of the account PA-3456 (104); rename the group"]
        );
    }

    #[test]
    fn scaled_sizes_round_down_and_targets_toward_zero() {
        assert_eq!(scaled(3, dec("1")), 3);
        assert_eq!(scaled(3, dec("2")), 6);
        assert_eq!(scaled(3, dec("0.5")), 1);
        assert_eq!(scaled(1, dec("0.5")), 0, "0: the account is skipped");
        assert_eq!(scaled(5, dec("1.5")), 7);
        assert_eq!(scaled(u32::MAX, dec("100")), u32::MAX, "saturates");
        assert_eq!(scaled_target(3, dec("0.5")), 1);
        assert_eq!(scaled_target(-3, dec("0.5")), -1, "toward zero, never a larger short");
        assert_eq!(scaled_target(-1, dec("0.5")), 0);
        assert_eq!(scaled_target(-2, dec("2")), -4);
        assert_eq!(scaled_target(0, dec("2")), 0);
    }
}
