//! Named routes end to end (`havok.routes.<name>.<key>`): one container
//! served on several ports under several hosts, through the real Vulcand,
//! on every backend.

use crate::operators::hosts;
use crate::scenarios::{Backend, Fixture};
use crate::support::*;

/// The example: `web` on the default host and port 80, `admin` on
/// 9090 under its own host; a route with a bad value is refused alone, with
/// one warning; removing the container removes every route.
async fn named_routes_serve_each_port(b: Backend) {
    let f = Fixture::start(b, "named-routes").await;
    let havok = f.havok("n1", &[]);
    let app = run_httpd(
        &f.name("app"),
        "app",
        &[
            "-P",
            "--expose",
            "9090",
            "-e",
            "ADMIN_PORT=9090",
            "-l",
            "havok.routes.web.port=80",
            "-l",
            "havok.routes.admin.port=9090",
            "-l",
            "havok.routes.admin.host=admin.example.local",
            "-l",
            "havok.routes.broken.port=nine",
            "-l",
            "havok.routes.broken.host=broken.local",
        ],
    );
    f.answers_as(&app);
    f.answers_on(&app, 9090, &format!("{}-admin", app.name()));
    let admin = format!("http://127.0.0.1:{}", app.host_port(9090));
    f.wait_urls("app.local", &[f.url_of(&app)]).await;
    f.wait_urls("admin.example.local", &[admin]).await;
    havok.wait_full_passes(2).await;
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), ["admin.example.local", "app.local"], "{s:#?}");
    let warnings: Vec<String> = havok
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(app.name()))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {warnings:#?}");
    assert!(
        warnings[0].contains("havok.routes.broken.port") && warnings[0].contains("nine"),
        "{warnings:#?}"
    );

    drop(app);
    f.wait_gone("app.local").await;
    f.wait_gone("admin.example.local").await;
}

per_backend!(named_routes_serve_each_port);
