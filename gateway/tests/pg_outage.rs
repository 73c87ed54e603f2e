//! A gateway whose PostgreSQL stops under load: clients are told to come back (503
//! SlowDown with Retry-After), nothing acknowledged is lost, and the gateway recovers
//! by itself once the database is back. A test file of its own, since it stops the
//! test process's one PostgreSQL server.

#[path = "it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::pg::Postgres;
use common::*;

#[tokio::test]
async fn a_gateway_answers_503_while_postgres_is_down_and_recovers_when_it_is_back() {
    let url = Postgres::get().new_database();
    let srv = Server::on_database("", &url);
    let c = srv.client();
    create_bucket(&c, "outage").await;
    let kept = random_data(20_000);
    put(&c, "outage", "before", &kept).await;

    // Writes under way while the database stops: each either succeeds or is refused
    // as unavailable, never anything else.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..60 {
                let key = format!("w{i}");
                let body = data(1000, i);
                match c
                    .put_object()
                    .bucket("outage")
                    .key(&key)
                    .body(body.clone().into())
                    .send()
                    .await
                {
                    Ok(_) => acked.push((key, body)),
                    Err(e) => {
                        let (code, status) = sdk_error(&e);
                        assert_eq!((code.as_deref(), status), (Some("SlowDown"), Some(503)), "{e:?}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::spawn_blocking(|| Postgres::get().stop()).await.unwrap();

    let r = srv.signed("PUT", "/outage/during", &[], b"nope").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("SlowDown"));
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = srv.signed("GET", "/outage/before", &[], b"").await;
    assert_eq!(r.status, 503, "{}", r.text());

    tokio::task::spawn_blocking(|| Postgres::get().start_again())
        .await
        .unwrap();
    let acked = writer.await.unwrap();

    // The gateway reconnects by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = srv.signed("PUT", "/outage/after", &[], b"back").await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(Instant::now() < deadline, "no recovery: {}", r.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&c, "outage", "before").await, kept);
    assert_eq!(get(&c, "outage", "after").await, b"back");
    for (key, body) in &acked {
        assert_eq!(&get(&c, "outage", key).await, body, "{key} was acknowledged");
    }
    let r = srv.signed("GET", "/_fastgate/references", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("mismatch"), "{}", r.text());
}
