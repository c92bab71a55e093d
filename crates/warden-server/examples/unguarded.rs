//! Benchmark baseline: the inference routes of a workspace's environment
//! with every guardrail off (no authentication, policy, rate limit, size or
//! concurrency limit, input validation, headers, metrics or access log).
//! `bench/serve.sh` compares it with `warden serve` to price the guardrails.
//! Never deploy this.
//!
//! Usage: unguarded WORKSPACE ENV ADDR   (actor from WARDEN_ACTOR)

use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, env, addr] = args.as_slice() else {
        return Err("usage: unguarded WORKSPACE ENV ADDR".into());
    };
    let actor = warden_core::ActorName::new(&std::env::var("WARDEN_ACTOR")?)?;
    let ws = warden::Workspace::open(
        std::path::Path::new(dir),
        actor,
        &warden::OpenOptions::default(),
    )?;
    let mut cfg = warden_server::ServeConfig {
        env: env.clone(),
        ..Default::default()
    };
    cfg.validate_inputs = false;
    let (shared, _) =
        warden_server::load(&ws, warden::OpenOptions::default(), cfg, Arc::new(|_| {}))?;
    let app = warden_server::unguarded_router(shared);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        eprintln!("unguarded: listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })?;
    Ok(())
}
