//! Figure 7: fan-out (issue 13). One alert naming an account group of N paper accounts → the **last** of its N
//! `Order/place` calls arriving at the simulator (the latest sim order `created` among the alert's orders), for
//! N = 1, 10 and 50. Floor: the same N `Order/place` calls made directly and concurrently by a
//! `projectx::Client` of its own on the same simulator, send → last arrival.
//!
//! Every alert is a market buy of 1 on every account of the group (as [`child::bench_alert`] explains, a growing
//! position makes each alert exactly one `Order/place` per account and leaves every account in a comparable
//! state). Alerts are sent one after another, each once the previous one was answered, so the rounds never
//! overlap. Correctness (checked in `--quick` too): every answer is `placed` with N accounts, and every alert
//! leaves exactly one order on each of the N accounts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId, OrderSide, OrderType, PlaceOrder};
use projectx_sim::SimOrder;

use crate::child::{self, Relay, SECRET};
use crate::stats::{ms, summary};
use crate::{Row, Scale};

/// The contract every order is for (the simulator's default MNQ month).
const CONTRACT: &str = "CON.F.US.MNQ.Z25";

/// `SimOrder::status` of a refused order.
const REJECTED: i32 = 5;

/// The group every alert names.
const GROUP: &str = "bench";

pub(crate) async fn run(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let sizes: &[u16] = scale.pick(&[1, 10, 50], &[1, 10]);
    let rounds = scale.pick(50, 3);
    let mut rows = Vec::new();
    for &n in sizes {
        rows.push(figure(binary, n, rounds).await?);
    }
    Ok(rows)
}

/// One row: `rounds` alerts to a group of `n` accounts, beside `rounds` rounds of `n` direct calls.
async fn figure(binary: &PathBuf, n: u16, rounds: usize) -> anyhow::Result<Row> {
    let sim = child::sim(projectx_sim::SimConfig::default().with_paper_accounts(n)).await?;
    let mut env = child::env(&sim);
    env.insert("ACCOUNT_GROUPS".into(), group_spec(n));
    let relay = Relay::start(binary, &env)?;
    let http = reqwest::Client::new();
    let floor_client = child::direct_client(&sim)?;
    let mut problems = Vec::new();

    // Warm both paths (connections, token, contract and account caches) before measuring.
    problems.extend(alert(&http, &relay, n, &format!("fan{n}-warm")).await?.problem);
    direct(&floor_client, n, &format!("fan{n}-fwarm")).await?;

    let (mut relay_rounds, mut answers) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for r in 0..rounds {
        let sent = alert(&http, &relay, n, &format!("fan{n}-r{r}")).await?;
        problems.extend(sent.problem.clone());
        answers.push(sent.answered);
        relay_rounds.push(sent.round);
    }
    let mut floor_rounds = Vec::with_capacity(rounds);
    for r in 0..rounds {
        floor_rounds.push(direct(&floor_client, n, &format!("fan{n}-f{r}")).await?);
    }
    let orders = sim.orders();
    let (mut relay_first, mut relay_lat) = arrivals(&orders, &relay_rounds, n, &mut problems);
    let (mut floor_first, mut floor_lat) = arrivals(&orders, &floor_rounds, n, &mut problems);

    let (r50, _, rmax) = summary(&mut relay_lat);
    let (f50, _, fmax) = summary(&mut floor_lat);
    let (rfirst50, _, _) = summary(&mut relay_first);
    let (ffirst50, _, _) = summary(&mut floor_first);
    let (a50, _, _) = summary(&mut answers);
    let mut row = Row::new(
        format!(
            "7. fan-out: alert → last account's `Order/place` received, {n} account(s), {rounds} alerts (p50 / max)"
        ),
        format!("{} / {}", ms(r50), ms(rmax)),
        format!("{} / {} ({n} × `Order/place` direct, concurrent)", ms(f50), ms(fmax)),
    )
    .ratio(r50.as_secs_f64(), f50.as_secs_f64())
    .notes(format!(
        "ratio at p50; one alert naming a group of {n} (`ACCOUNT_GROUPS`), each account one market order; \
         first account's `Order/place` p50 {} (floor {}); answer (all accounts placed) p50 {}",
        ms(rfirst50),
        ms(ffirst50),
        ms(a50)
    ));
    if !problems.is_empty() {
        row.broken = Some(format!("fan-out to {n}: {}", problems.join("; ")));
    }
    Ok(row)
}

/// `ACCOUNT_GROUPS` value naming paper accounts 1..=n by id, multiplier 1: `bench=9001*1,9002*1,…`.
fn group_spec(n: u16) -> String {
    let members: Vec<String> =
        (1..=i32::from(n)).map(|k| format!("{}*1", projectx_sim::SimAccount::paper(k).id)).collect();
    format!("{GROUP}={}", members.join(","))
}

/// What one round was: when it started and the `customTag`s its orders may carry.
struct Round {
    sent: DateTime<Utc>,
    tags: HashSet<String>,
}

/// One alert's round, how long its answer took, and what was wrong with the answer, if anything.
struct Sent {
    round: Round,
    answered: Duration,
    problem: Option<String>,
}

/// Sends one alert naming the group and waits for its answer.
async fn alert(http: &reqwest::Client, relay: &Relay, n: u16, id: &str) -> anyhow::Result<Sent> {
    let mut body = child::bench_alert(id);
    body["account"] = GROUP.into();
    let started = tokio::time::Instant::now();
    let sent = Utc::now();
    let answer = http.post(relay.url(&format!("/webhook/{SECRET}"))).json(&body).send().await?;
    let status = answer.status();
    let answer: serde_json::Value = answer.json().await.unwrap_or_default();
    let answered = started.elapsed();
    let accounts = answer["accounts"].as_array().map_or(0, Vec::len);
    let problem = (!status.is_success() || answer["status"] != "placed" || accounts != usize::from(n))
        .then(|| format!("alert {id}: HTTP {status}, status {}, {accounts} of {n} accounts", answer["status"]));
    // A group of one keeps the single-account path (the tag of the alert id); a real fan-out tags each account's
    // order from that account's journal row (`child_id`).
    let tags = (1..=i32::from(n))
        .map(|k| {
            let account = AccountId::new(projectx_sim::SimAccount::paper(k).id);
            pxrelay::signal::custom_tag(&pxrelay::routes::fanout::child_id(id, account), 1)
        })
        .chain([pxrelay::signal::custom_tag(id, 1)])
        .collect();
    Ok(Sent { round: Round { sent, tags }, answered, problem })
}

/// The floor's round: `n` concurrent `Order/place` calls, one per account, all with the tag of `id`.
async fn direct(client: &projectx::Client, n: u16, id: &str) -> anyhow::Result<Round> {
    let tag = pxrelay::signal::custom_tag(id, 1);
    let sent = Utc::now();
    let calls: Vec<_> = (1..=i32::from(n))
        .map(|k| {
            let order = PlaceOrder {
                account_id: AccountId::new(projectx_sim::SimAccount::paper(k).id),
                contract_id: ContractId::new(CONTRACT),
                order_type: OrderType::Market,
                side: OrderSide::Bid,
                size: 1,
                limit_price: None,
                stop_price: None,
                trail_price: None,
                custom_tag: Some(tag.clone()),
                stop_loss_bracket: None,
                take_profit_bracket: None,
            };
            let client = client.clone();
            tokio::spawn(async move { client.place_order(&order).await })
        })
        .collect();
    for call in calls {
        call.await??;
    }
    Ok(Round { sent, tags: HashSet::from([tag]) })
}

/// Per round, its start → the earliest and → the latest `created` among its orders. A round that did not leave
/// exactly one accepted order on each of the `n` accounts is a correctness problem (and has no sample).
fn arrivals(
    orders: &[SimOrder],
    rounds: &[Round],
    n: u16,
    problems: &mut Vec<String>,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut by_tag: HashMap<&str, Vec<&SimOrder>> = HashMap::new();
    for order in orders {
        if let Some(tag) = &order.custom_tag {
            by_tag.entry(tag.as_str()).or_default().push(order);
        }
    }
    let (mut first, mut last) = (Vec::with_capacity(rounds.len()), Vec::with_capacity(rounds.len()));
    for round in rounds {
        let mine: Vec<&SimOrder> =
            round.tags.iter().flat_map(|t| by_tag.get(t.as_str()).into_iter().flatten()).copied().collect();
        let accounts: HashSet<i32> = mine.iter().map(|o| o.account_id).collect();
        let rejected = mine.iter().filter(|o| o.status == REJECTED).count();
        if mine.len() != usize::from(n) || accounts.len() != usize::from(n) || rejected > 0 {
            problems.push(format!(
                "{:?}: {} orders ({rejected} rejected) on {} of {n} accounts",
                round.tags,
                mine.len(),
                accounts.len()
            ));
            continue;
        }
        let since_sent = |at: DateTime<Utc>| (at - round.sent).to_std().unwrap_or(Duration::ZERO);
        if let (Some(earliest), Some(latest)) =
            (mine.iter().map(|o| o.created).min(), mine.iter().map(|o| o.created).max())
        {
            first.push(since_sent(earliest));
            last.push(since_sent(latest));
        }
    }
    (first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_names_every_paper_account_once() {
        assert_eq!(group_spec(1), "bench=9001*1");
        assert_eq!(group_spec(3), "bench=9001*1,9002*1,9003*1");
    }
}
