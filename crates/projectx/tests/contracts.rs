//! The contract resolver against the simulator: every symbol form, exact product matching (NQ is not the
//! natural-gas or crude minis), CME → ProjectX roots, caching, ttl expiry, negative caching, single flight and
//! the stale fallback during a gateway outage.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;

use std::time::Duration;

use chrono::Datelike;
use common::*;
use projectx::contracts::{ContractResolver, DEFAULT_TTL, ResolveError, SymbolRef, parse_symbol};
use projectx_sim::{Scope, SimHandle};

const MNQ_Z25: &str = "CON.F.US.MNQ.Z25";
const SEARCH: &str = "/api/Contract/search";
const BY_ID: &str = "/api/Contract/searchById";

async fn ready(ttl: Duration) -> (SimHandle, ContractResolver) {
    let sim = sim().await;
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    // Outage tests want the failure now, not after the client's own read retries.
    cfg.read_retries = 0;
    let resolver = ContractResolver::new(client(cfg), ttl);
    (sim, resolver)
}

async fn id_of(resolver: &ContractResolver, symbol: &str) -> String {
    match resolver.resolve(symbol).await {
        Ok(contract) => contract.id.to_string(),
        Err(e) => panic!("{symbol}: {e}"),
    }
}

fn lookups(sim: &SimHandle) -> u64 {
    let counters = sim.counters();
    counters.calls(SEARCH) + counters.calls(BY_ID)
}

#[tokio::test]
async fn every_form_of_mnq_resolves_to_the_active_contract() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    for symbol in
        ["MNQ", "mnq", " MNQ1! ", "CME_MINI:MNQ1!", "MNQZ25", "mnqz25", "MNQZ2025", "CME_MINI:mnqz2025", MNQ_Z25]
    {
        assert_eq!(id_of(&resolver, symbol).await, MNQ_Z25, "{symbol}");
    }
    let contract = resolver.resolve("MNQ").await.unwrap();
    assert!(contract.active_contract);
    assert_eq!(contract.tick_size, "0.25".parse().unwrap());
}

/// The rows of the table under `### Symbol forms` in `docs/tradingview.md` (the same table the parser's unit test
/// reads): (example, ProjectX root or `—`, `active` / `next` / a contract id), backticks removed.
fn documented_forms() -> Vec<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tradingview.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (_, section) = doc.split_once("### Symbol forms").expect("a Symbol forms section");
    let rows: Vec<_> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().replace('`', "")).collect();
            (cells[1].clone(), cells[3].clone(), cells[4].clone())
        })
        .collect();
    assert!(rows.len() >= 8, "{rows:?}");
    rows
}

#[tokio::test]
async fn every_documented_symbol_form_resolves_against_the_gateway() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    for (example, root, contract) in documented_forms() {
        let parsed = parse_symbol(&example).unwrap_or_else(|e| panic!("{example}: {e}"));
        if let SymbolRef::Month { year, .. } = parsed
            && parsed.contract_id().as_deref() != Some(contract.as_str())
        {
            // A one-digit year is read relative to the clock and the table is read in 2026: once the clock leaves
            // the window the row names another year (the unit test checks the table with a fixed year).
            assert!(year % 10 == u16::from(example.as_bytes()[example.len() - 1] - b'0'), "{example}: {parsed:?}");
            continue;
        }
        let got = resolver.resolve(&example).await.unwrap_or_else(|e| panic!("{example}: {e}"));
        if matches!(contract.as_str(), "active" | "next") {
            assert_eq!(got.active_contract, contract == "active", "{example}: {got:?}");
            assert!(got.id.as_str().starts_with(&format!("CON.F.US.{root}.")), "{example}: {got:?}");
        } else {
            assert_eq!(got.id.as_str(), contract, "{example}");
        }
    }
}

#[tokio::test]
async fn one_digit_year_is_read_within_two_years_back_and_seven_ahead() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    // Decided rule: the year in [now - 2, now + 7] ending in the digit. In 2024..=2027 `Z5` is December 2025,
    // which the sim lists; later it names 2035, which it does not.
    let Ok(SymbolRef::Month { year, .. }) = parse_symbol("MNQZ5") else { panic!("MNQZ5 is a month code") };
    let now = u16::try_from(chrono::Utc::now().year()).unwrap();
    assert!((now - 2..=now + 7).contains(&year) && year % 10 == 5);
    if year == 2025 {
        assert_eq!(id_of(&resolver, "MNQZ5").await, MNQ_Z25);
        assert_eq!(id_of(&resolver, "MNQH6").await, "CON.F.US.MNQ.H26");
    } else {
        assert!(matches!(resolver.resolve("MNQZ5").await, Err(ResolveError::UnknownSymbol { .. })));
    }
}

#[tokio::test]
async fn nq_resolves_to_the_nasdaq_product_not_the_energy_minis() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    for symbol in ["NQ", "CME_MINI:NQ1!", "NQZ5", "NQZ25"] {
        assert_eq!(id_of(&resolver, symbol).await, "CON.F.US.ENQ.Z25", "{symbol}");
    }
    // The energy minis are their own products, reachable by their own roots.
    assert_eq!(id_of(&resolver, "NQG").await, "CON.F.US.NQG.Z25");
    assert_eq!(id_of(&resolver, "NYMEX:NQM1!").await, "CON.F.US.NQM.Z25");
}

#[tokio::test]
async fn cme_roots_are_translated_to_projectx_roots() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    for symbol in ["ES", "CME:ES1!", "ESZ5", "EP"] {
        assert_eq!(id_of(&resolver, symbol).await, "CON.F.US.EP.Z25", "{symbol}");
    }
    assert_eq!(id_of(&resolver, "MES").await, "CON.F.US.MES.Z25", "MES is its own product, not ES");
    assert_eq!(id_of(&resolver, "COMEX:GC1!").await, "CON.F.US.GCE.Z25");
}

#[tokio::test]
async fn second_continuous_contract_is_the_one_after_the_active_one() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    let next = resolver.resolve("CME_MINI:MNQ2!").await.unwrap();
    assert_eq!(next.id, "CON.F.US.MNQ.H26");
    assert!(!next.active_contract);
    // The sim lists no second Nasdaq month.
    let err = resolver.resolve("NQ2!").await.unwrap_err();
    assert!(matches!(&err, ResolveError::UnknownSymbol { symbol } if symbol == "NQ2!"), "{err:?}");
}

#[tokio::test]
async fn an_explicit_month_resolves_even_when_inactive_but_a_root_never_picks_it() {
    let (_sim, resolver) = ready(DEFAULT_TTL).await;
    let h26 = resolver.resolve("MNQH26").await.unwrap();
    assert_eq!(h26.id, "CON.F.US.MNQ.H26");
    assert!(!h26.active_contract);
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
}

#[tokio::test]
async fn unknown_symbols_are_client_errors_and_cached_briefly() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    for symbol in ["ZZZ", "CON.F.US.ZZZ.Z25", "MNQM24"] {
        let err = resolver.resolve(symbol).await.unwrap_err();
        assert!(matches!(&err, ResolveError::UnknownSymbol { symbol: s } if s == symbol), "{symbol}: {err:?}");
        assert!(err.is_client_error());
    }
    let before = lookups(&sim);
    assert!(resolver.resolve("zzz").await.is_err());
    assert_eq!(lookups(&sim), before, "a miss is cached (60 s) so a looping alert does not spend the rate budget");
}

#[tokio::test]
async fn garbage_is_invalid_without_a_gateway_call() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    let long = "M".repeat(40);
    for symbol in ["", "   ", "MN$Q", "MNQ Z25", "CME:MNQ3!", "1234", long.as_str(), "CME_MINI:MNQZ51!"] {
        let err = resolver.resolve(symbol).await.unwrap_err();
        assert!(matches!(err, ResolveError::InvalidSymbol { .. }), "{symbol:?}: {err:?}");
        assert!(err.is_client_error());
        assert!(err.to_string().contains("CME_MINI:MNQ1!"), "the message names the accepted forms: {err}");
    }
    assert_eq!(lookups(&sim), 0);
}

#[tokio::test]
async fn a_second_resolve_is_served_from_the_cache() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    assert_eq!(sim.counters().calls(SEARCH), 1);
    // Same key, a clone of the resolver, and the contract's own id (filled by the root lookup): no call.
    assert_eq!(id_of(&resolver.clone(), "CME_MINI:MNQ1!").await, MNQ_Z25);
    assert_eq!(id_of(&resolver, MNQ_Z25).await, MNQ_Z25);
    assert_eq!(id_of(&resolver, "MNQZ25").await, MNQ_Z25);
    assert_eq!(lookups(&sim), 1);

    resolver.invalidate_all();
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    assert_eq!(sim.counters().calls(SEARCH), 2, "invalidate_all forces a refetch");
}

#[tokio::test]
async fn an_expired_entry_is_refetched() {
    let (sim, resolver) = ready(Duration::from_millis(200)).await;
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(sim.counters().calls(SEARCH), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(sim.counters().calls(SEARCH), 2);
}

#[tokio::test]
async fn concurrent_resolves_of_one_symbol_share_one_gateway_call() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    sim.set_latency(Duration::from_millis(100));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let resolver = resolver.clone();
            tokio::spawn(async move { resolver.resolve("ES").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().id, "CON.F.US.EP.Z25");
    }
    assert_eq!(sim.counters().calls(SEARCH), 1);
}

#[tokio::test]
async fn a_stale_contract_is_served_while_the_gateway_fails() {
    let (sim, resolver) = ready(Duration::from_millis(200)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.fail_for(Duration::from_secs(60), 503, Scope::Path(SEARCH.into()));
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25, "the previous answer beats no answer");
    assert_eq!(sim.counters().calls(SEARCH), 2, "the refresh was attempted");
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    assert_eq!(sim.counters().calls(SEARCH), 2, "the stale answer is reused for a while, not refetched per call");
}

#[tokio::test]
async fn without_a_previous_answer_a_gateway_failure_is_a_gateway_error() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    sim.fail_for(Duration::from_secs(60), 503, Scope::Path(SEARCH.into()));
    let err = resolver.resolve("MNQ").await.unwrap_err();
    assert!(matches!(&err, ResolveError::Gateway(e) if e.is_retryable()), "{err:?}");
    assert!(!err.is_client_error());
    sim.clear_chaos();
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25, "failures are not cached");
}

#[tokio::test]
async fn a_roll_is_picked_up_when_the_cached_answer_expires() {
    let (sim, resolver) = ready(Duration::from_millis(200)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, "CON.F.US.MNQ.Z25");
    sim.roll_to("CON.F.US.MNQ.H26");
    assert_eq!(id_of(&resolver, "CME_MINI:MNQ1!").await, "CON.F.US.MNQ.Z25", "cached until the entry expires");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, "CON.F.US.MNQ.H26", "the new front month after the roll");
    assert_eq!(id_of(&resolver, "MNQ1!").await, "CON.F.US.MNQ.H26");
    assert_eq!(id_of(&resolver, "MNQZ25").await, "CON.F.US.MNQ.Z25", "an explicit month still resolves");
}

#[tokio::test]
async fn invalidating_a_symbol_picks_up_a_roll_at_once() {
    let (sim, resolver) = ready(DEFAULT_TTL).await;
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    sim.roll_to("CON.F.US.MNQ.H26");
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25, "cached for a day");
    let forgotten = resolver.invalidate("CME_MINI:MNQ1!").map(|c| c.id.to_string());
    assert_eq!(forgotten.as_deref(), Some(MNQ_Z25), "any spelling of the symbol names the same answer");
    let before = lookups(&sim);
    assert_eq!(id_of(&resolver, "MNQ").await, "CON.F.US.MNQ.H26", "asked again: the new front month");
    assert_eq!(id_of(&resolver, MNQ_Z25).await, MNQ_Z25, "the old contract's own entry was forgotten too");
    assert_eq!(lookups(&sim), before + 2);
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(lookups(&sim), before + 2, "other symbols stay cached");
    assert!(resolver.invalidate("ZZZ").is_none() && resolver.invalidate("M$Q").is_none());
}

#[tokio::test]
async fn refreshing_ahead_keeps_resolves_off_the_gateway_and_picks_up_a_roll() {
    let (sim, resolver) = ready(Duration::from_millis(400)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(resolver.refresh_ahead().await, 0, "both answers are younger than half the ttl");
    tokio::time::sleep(Duration::from_millis(250)).await;
    sim.roll_to("CON.F.US.MNQ.H26");
    let before = lookups(&sim);
    assert_eq!(resolver.refresh_ahead().await, 2, "both are past half their ttl: asked again");
    assert_eq!(lookups(&sim), before + 2);
    // Past the first answers' ttl: an alert's resolve is served fresh, without a gateway call, with the roll.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, "CON.F.US.MNQ.H26");
    assert_eq!(id_of(&resolver, "NQ").await, "CON.F.US.ENQ.Z25");
    assert_eq!(lookups(&sim), before + 2, "the resolves after the refresh cost no gateway call");
}

#[tokio::test]
async fn a_failed_refresh_ahead_keeps_the_current_answer() {
    let (sim, resolver) = ready(Duration::from_millis(400)).await;
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25);
    tokio::time::sleep(Duration::from_millis(250)).await;
    sim.fail_for(Duration::from_secs(60), 503, Scope::Path(SEARCH.into()));
    assert_eq!(resolver.refresh_ahead().await, 1);
    let before = lookups(&sim);
    assert_eq!(id_of(&resolver, "MNQ").await, MNQ_Z25, "still fresh: served without asking");
    assert_eq!(lookups(&sim), before);
}
