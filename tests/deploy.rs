//! Deployment files: `railway.toml` parses and its health check path is the liveness route (checked on a running
//! app), the Dockerfile's HEALTHCHECK command works against a running app, and the Dockerfile keeps the rules of
//! the deploy issue (multi-stage, `--locked`, non-root, no secrets, no VOLUME, journal on /data).
//!
//! No container engine is needed: the Dockerfile is read as text. `hadolint Dockerfile` (in .ci/run) lints it.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use projectx_sim::SimConfig;
use pxrelay_e2e::{env_for, spawn_app, start_sim};

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_file(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn railway() -> toml::Table {
    read("railway.toml").parse().unwrap_or_else(|e| panic!("railway.toml is not valid TOML: {e}"))
}

fn section<'a>(t: &'a toml::Table, name: &str) -> &'a toml::Table {
    t.get(name).and_then(toml::Value::as_table).unwrap_or_else(|| panic!("railway.toml has no [{name}] table"))
}

fn health_path() -> String {
    let t = railway();
    section(&t, "deploy")["healthcheckPath"].as_str().unwrap().to_owned()
}

/// One Dockerfile instruction: the keyword (upper case), its arguments, and the build stage (0-based) it is in.
#[derive(Debug)]
struct Instruction {
    op: String,
    args: String,
    stage: usize,
}

/// Reads the Dockerfile the way Docker does: comment lines go (also inside a continuation), a trailing backslash
/// joins the next line.
fn dockerfile() -> Vec<Instruction> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    let mut stage = 0;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            continue;
        }
        current.push_str(line);
        let whole = std::mem::take(&mut current);
        let (op, args) = whole.trim().split_once(char::is_whitespace).unwrap_or((whole.trim(), ""));
        let op = op.to_ascii_uppercase();
        if op == "FROM" && out.iter().any(|i: &Instruction| i.op == "FROM") {
            stage += 1;
        }
        out.push(Instruction { op, args: args.trim().to_owned(), stage });
    }
    assert!(current.is_empty(), "the Dockerfile ends inside a line continuation");
    out
}

fn runtime_stage(all: &[Instruction]) -> Vec<&Instruction> {
    let last = all.iter().map(|i| i.stage).max().unwrap();
    all.iter().filter(|i| i.stage == last).collect()
}

/// The exec-form argument list of the HEALTHCHECK instruction.
fn healthcheck_argv() -> Vec<String> {
    let all = dockerfile();
    let hc = all.iter().find(|i| i.op == "HEALTHCHECK").expect("a HEALTHCHECK instruction");
    let json = &hc.args[hc.args.find("CMD").expect("HEALTHCHECK ... CMD") + 3..];
    serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("HEALTHCHECK CMD is not an exec-form array ({e}): {json}"))
}

#[test]
fn railway_toml_builds_the_dockerfile_and_restarts_on_failure() {
    let t = railway();
    let build = section(&t, "build");
    assert_eq!(build["builder"].as_str(), Some("DOCKERFILE"));
    let dockerfile = build["dockerfilePath"].as_str().unwrap();
    assert!(repo_file(dockerfile).is_file(), "dockerfilePath {dockerfile} does not exist");

    let deploy = section(&t, "deploy");
    assert_eq!(deploy["restartPolicyType"].as_str(), Some("ON_FAILURE"));
    assert!(deploy["restartPolicyMaxRetries"].as_integer().is_some_and(|n| n > 0));
    assert!(deploy["healthcheckTimeout"].as_integer().is_some_and(|n| n >= 30), "give startup (login) time");

    // Only documented config-as-code keys (a misspelt key is silently ignored by Railway); numbers as numbers
    // (Railway's parser rejects "10" for drainingSeconds / overlapSeconds).
    let known_build = ["builder", "dockerfilePath", "watchPatterns", "buildCommand"];
    let known_deploy = [
        "healthcheckPath",
        "healthcheckTimeout",
        "restartPolicyType",
        "restartPolicyMaxRetries",
        "startCommand",
        "preDeployCommand",
        "drainingSeconds",
        "overlapSeconds",
        "cronSchedule",
        "multiRegionConfig",
    ];
    for key in build.keys() {
        assert!(known_build.contains(&key.as_str()), "unknown [build] key {key}");
    }
    for key in deploy.keys() {
        assert!(known_deploy.contains(&key.as_str()), "unknown [deploy] key {key}");
    }
    for key in ["drainingSeconds", "overlapSeconds", "healthcheckTimeout", "restartPolicyMaxRetries"] {
        if let Some(v) = deploy.get(key) {
            assert!(v.is_integer(), "{key} must be a number, not {v}");
        }
    }
    assert!(deploy.get("startCommand").is_none(), "the image's ENTRYPOINT/CMD start pxrelay");
}

#[test]
fn railway_watch_patterns_cover_everything_the_image_is_built_from() {
    let t = railway();
    let Some(patterns) = section(&t, "build").get("watchPatterns") else { return };
    let patterns: Vec<&str> = patterns.as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let covered = |path: &str| {
        patterns
            .iter()
            .any(|p| *p == path || p.strip_suffix("/**").is_some_and(|dir| path.starts_with(&format!("{dir}/"))))
    };
    for path in [
        "Dockerfile",
        ".dockerignore",
        "Cargo.toml",
        "Cargo.lock",
        "config/default.toml",
        "crates/pxrelay/src/main.rs",
        "crates/pxrelay/migrations/0001_alerts.sql",
        "crates/projectx/Cargo.toml",
        "tests/Cargo.toml",
    ] {
        assert!(covered(path), "a change to {path} must redeploy; watchPatterns = {patterns:?}");
    }
}

#[test]
fn railway_health_check_path_is_the_liveness_route() {
    assert_eq!(health_path(), "/health");
    let routes = read("crates/pxrelay/src/routes/health.rs");
    assert!(routes.contains(".route(\"/health\""), "crates/pxrelay/src/routes/health.rs no longer routes /health");
}

#[test]
fn railway_toml_names_the_variables_a_user_sets_and_the_volume() {
    let text = read("railway.toml");
    for var in [
        "PROJECT_X_USERNAME",
        "PROJECT_X_API_KEY",
        "WEBHOOK_SECRET",
        "JWT_TOKEN",
        "PROJECT_X_ACCOUNT",
        "QUOTE_SYMBOLS",
        "RAILWAY_DEPLOYMENT_DRAINING_SECONDS",
        "/data",
    ] {
        assert!(text.contains(var), "railway.toml does not mention {var}");
    }
    // Every pxrelay variable its comments name is one pxrelay reads (no stale or misspelt names).
    let known: Vec<&str> = pxrelay::config::ENV_KEYS.iter().map(|(var, _)| *var).collect();
    let comments: String = text.lines().filter_map(|l| l.trim().strip_prefix('#')).collect::<Vec<_>>().join("\n");
    for word in comments.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')) {
        let looks_like_var = word.len() > 3 && word.contains('_') && word.chars().any(|c| c.is_ascii_uppercase());
        if looks_like_var && !word.starts_with("RAILWAY_") {
            assert!(known.contains(&word), "railway.toml names {word}, which is not in pxrelay::config::ENV_KEYS");
        }
    }
}

#[tokio::test]
async fn the_railway_health_check_path_answers_200_on_a_running_app() {
    let sim = start_sim(SimConfig::default()).await;
    let app = spawn_app(sim.clone(), env_for(&sim)).await.unwrap();
    let path = health_path();
    let resp = app.http.get(format!("http://{}{path}", app.addr)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {path} (railway.toml healthcheckPath) on a running pxrelay");
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_dockerfile_healthcheck_command_passes_on_a_running_app_and_fails_without_one() {
    let argv = healthcheck_argv();
    let run = |port: u16| {
        let argv = argv.clone();
        async move {
            let out = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::process::Command::new(&argv[0]).args(&argv[1..]).env("PORT", port.to_string()).output(),
            )
            .await
            .expect("the health check command finishes")
            .unwrap_or_else(|e| panic!("running {argv:?}: {e}"));
            out.status.success()
        }
    };
    let sim = start_sim(SimConfig::default()).await;
    let app = spawn_app(sim.clone(), env_for(&sim)).await.unwrap();
    let port = app.addr.port();
    assert!(run(port).await, "HEALTHCHECK {argv:?} fails against pxrelay on port {port}");
    app.stop().await.unwrap();
    assert!(!run(port).await, "HEALTHCHECK {argv:?} passes with nothing listening on port {port}");
}

#[test]
fn the_dockerfile_is_multi_stage_locked_non_root_and_starts_pxrelay_serve() {
    let all = dockerfile();
    assert!(all.iter().filter(|i| i.op == "FROM").count() >= 2, "multi-stage build");

    let builds: Vec<&Instruction> = all.iter().filter(|i| i.op == "RUN" && i.args.contains("cargo build")).collect();
    assert!(builds.len() >= 2, "a dependency build and an application build");
    for b in &builds {
        assert!(
            b.args.contains("--release") && b.args.contains("--locked"),
            "cargo build without --release --locked: {}",
            b.args
        );
    }
    // The dependency layer comes before the sources are copied in.
    let first_build = all.iter().position(|i| i.op == "RUN" && i.args.contains("cargo build")).unwrap();
    let sources =
        all.iter().position(|i| i.op == "COPY" && i.args.split_whitespace().next() == Some("crates")).unwrap();
    assert!(first_build < sources, "dependencies must build before `COPY crates` so source edits keep the cache");

    let runtime = runtime_stage(&all);
    let from = &runtime[0].args;
    assert!(from.contains("slim") || from.contains("distroless"), "small runtime image, got FROM {from}");
    let user = runtime.iter().rev().find(|i| i.op == "USER").expect("a USER in the runtime stage");
    let name = user.args.split(':').next().unwrap();
    assert!(!["root", "0", ""].contains(&name), "runtime user must not be root: USER {}", user.args);
    assert!(runtime.iter().any(|i| i.op == "EXPOSE" && i.args.split_whitespace().any(|p| p == "8080")));
    let hc = runtime.iter().find(|i| i.op == "HEALTHCHECK").expect("a HEALTHCHECK in the runtime stage");
    assert!(hc.args.contains("/health"), "HEALTHCHECK must probe /health: {}", hc.args);
    let exec = |op: &str| -> Vec<String> {
        let i = runtime.iter().find(|i| i.op == op).unwrap_or_else(|| panic!("no {op}"));
        serde_json::from_str(&i.args).unwrap_or_else(|e| panic!("{op} is not exec form ({e}): {}", i.args))
    };
    assert_eq!(exec("ENTRYPOINT"), ["pxrelay"]);
    assert_eq!(exec("CMD"), ["serve"]);
}

#[test]
fn the_dockerfile_keeps_the_journal_on_data_and_bakes_in_no_secret() {
    let all = dockerfile();
    assert!(
        all.iter().all(|i| i.op != "VOLUME"),
        "no VOLUME instruction: Railway refuses Dockerfiles that declare one (the volume is attached in Railway)"
    );
    let runtime = runtime_stage(&all);
    let envs: Vec<(String, String)> = runtime
        .iter()
        .filter(|i| i.op == "ENV")
        .flat_map(|i| i.args.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("ENV in key=value form: {kv}"));
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect();
    let database = envs.iter().find(|(k, _)| k == "DATABASE_URL").map(|(_, v)| v.as_str());
    assert!(database.is_some_and(|v| v.starts_with("/data/")), "ENV DATABASE_URL=/data/..., got {database:?}");

    let known: Vec<&str> = pxrelay::config::ENV_KEYS.iter().map(|(var, _)| *var).collect();
    for i in all.iter().filter(|i| i.op == "ENV" || i.op == "ARG") {
        for kv in i.args.split_whitespace() {
            let name = kv.split('=').next().unwrap().to_ascii_uppercase();
            for bad in ["SECRET", "KEY", "TOKEN", "PASSWORD", "USERNAME"] {
                assert!(!name.contains(bad), "{} {name}: secrets come from the environment at run time", i.op);
            }
            if i.op == "ENV" {
                assert!(known.contains(&name.as_str()), "ENV {name} is not a variable pxrelay reads");
            }
        }
    }

    let ignore = read(".dockerignore");
    for entry in ["target/", ".git/", "data/", ".env"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore must exclude {entry}");
    }
}
