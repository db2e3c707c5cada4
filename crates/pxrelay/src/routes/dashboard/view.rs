//! The dashboard's pages around the live panels: the page shell (styles, the 500 ms poll, the actions, the
//! builder's script), the login form, the "off" hint and one journal entry. No external asset: everything is in the
//! page, so it works offline and behind any proxy.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The styles.
const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#24292f;color:#fff}
header h1{font-size:18px;margin:0} header form{margin-left:auto}
main{display:flex;flex-wrap:wrap;gap:10px;padding:10px}
#live{display:contents}
.panel{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;flex:1 1 300px;min-width:280px}
.wide{flex-basis:100%}
h2{font-size:15px;margin:.2em 0 .4em} h3{font-size:14px;margin:.6em 0 .2em} h4{font-size:12px;margin:.5em 0 .1em;color:#57606a}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0} dt{color:#57606a} dd{margin:0}
table{border-collapse:collapse;font-size:12px} td,th{border-bottom:1px solid #eaeef2;padding:2px 6px;text-align:left;vertical-align:top}
.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.pos{color:#1a7f37}.neg{color:#cf222e}.muted{color:#57606a}
tr.stale td{color:#9a6700;background:#fff8c5}
.figures{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start} figure{margin:0} figcaption{font-size:11px;color:#57606a}
.status.placed,.status.closed{color:#1a7f37}.status.rejected,.status.failed,.status.unknown{color:#cf222e}
td.msg{max-width:360px} pre{background:#f6f8fa;padding:6px;white-space:pre-wrap;word-break:break-all;margin:4px 0}
button{font:inherit;padding:3px 10px;cursor:pointer} .danger{background:#cf222e;color:#fff;border:1px solid #a40e26}
";

/// The poll: `GET /dashboard/live` every 500 ms swapped into `#live`; a 401 goes to the login form. Every page built
/// with [`shell`] runs it.
const POLL_JS: &str = r#"
const live=document.getElementById('live');
async function poll(){try{const r=await fetch('/dashboard/live',{cache:'no-store'});
 if(r.status===401){location.href='/login';return}
 if(r.ok){live.innerHTML=await r.text();document.getElementById('conn').textContent=''}}
 catch(e){document.getElementById('conn').textContent='(relay not answering)'}
 setTimeout(poll,500)}
setTimeout(poll,500);
"#;

/// The actions and the builder of `serve`'s page. Every POST is same-origin `fetch`, so the browser sends `Origin`.
const ACTIONS_JS: &str = r#"
async function post(path,body){const r=await fetch(path,{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(body||{})});
 const t=await r.text();document.getElementById('action-result').textContent=r.status+' '+t;return r}
document.getElementById('kill-on').onclick=()=>post('/dashboard/kill',{enabled:true});
document.getElementById('kill-off').onclick=()=>post('/dashboard/kill',{enabled:false});
document.getElementById('flatten').onclick=()=>{if(confirm('Flatten all: turn the kill switch on, cancel every working order and close every position pxrelay manages, on every watched account?'))post('/dashboard/flatten',{})};
const bf=document.getElementById('builder-form');
async function build(test){const f=Object.fromEntries(new FormData(bf));f.test=!!test;
 const r=await fetch('/dashboard/builder',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(f)});
 if(!r.ok){document.getElementById('check').textContent=r.status+' '+await r.text();return}
 const a=await r.json();document.getElementById('message').textContent=a.message;
 document.getElementById('webhook-url').textContent=a.webhook_url;
 document.getElementById('secret-note').textContent=a.secret_note+(a.webhooks_enabled?'':' (WEBHOOK_SECRET is not set: webhooks are refused until it is.)');
 const c=document.getElementById('check');c.className=a.check.ok?'good':'bad';
 c.textContent=a.check.ok?'✓ the webhook parser accepts it (TradingView placeholders checked with samples)':'✗ '+a.check.error;
 document.getElementById('test-result').textContent=a.test?JSON.stringify(a.test,null,2):''}
bf.oninput=()=>build(false);document.getElementById('test-alert').onclick=()=>build(true);build(false);
"#;

/// The whole page: header, the live panels (`live`, refreshed by the poll), actions and the builder.
pub(super) fn page(mode: &str, live: Markup, builder: Markup, can_log_out: bool) -> Markup {
    let actions = html! {
        section #actions.panel {
            h2 { "Actions" }
            button #kill-on.danger type="button" { "Kill switch ON" } " "
            button #kill-off type="button" { "Kill switch OFF" } " "
            button #flatten.danger type="button" { "Flatten all…" }
            pre #action-result.muted {}
        }
        (builder)
    };
    shell(mode, live, actions, can_log_out, ACTIONS_JS)
}

/// A dashboard page: the header (`mode`, the connection note, "Log out" when `can_log_out`), `#live` holding `live`
/// (swapped by the 500 ms poll), then `rest` (not refreshed); the poll's script, then `script` (plain JS, may be
/// empty). Used by `serve`'s page and the relay's ([`crate::relay::dashboard`]).
pub(crate) fn shell(mode: &str, live: Markup, rest: Markup, can_log_out: bool, script: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "pxrelay · " (mode) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "pxrelay" } span { (mode) } span #conn.muted {}
                    @if can_log_out { form method="post" action="/logout" { button { "Log out" } } }
                }
                main {
                    div #live { (live) }
                    (rest)
                }
                script { (PreEscaped(POLL_JS)) (PreEscaped(script)) }
            }
        }
    }
}

/// The login form; `error` after a wrong password.
pub(crate) fn login(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "pxrelay · log in" } style { (PreEscaped(CSS)) } }
            body { main { section.panel style="max-width:320px" {
                h2 { "pxrelay dashboard" }
                form method="post" action="/login" {
                    label { "Password " input #password type="password" name="password" autofocus; }
                    " " button #login type="submit" { "Log in" }
                }
                @if let Some(e) = error { p.bad { (e) } }
            } } }
        }
    }
}

/// One journal entry, as `GET /alerts/{id}` gives it, for a person.
pub(crate) fn entry(id: &str, pretty: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "pxrelay · alert " (id) } style { (PreEscaped(CSS)) } }
            body { main { section.panel.wide { h2 { "Alert " (id) } p { a href="/" { "← dashboard" } } pre { (pretty) } } } }
        }
    }
}
