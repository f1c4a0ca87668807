//! What the HTTP tests share: [`TestApp`], the real router (pages, server functions, exports,
//! unsubscribe) on a test's own database, driven in memory, with its session cookie.
//!
//! Each test makes its database with `herald_testing::db::TestDb` on a multi-threaded runtime
//! like the real server's (`#[sqlx::test]` runs a current-thread runtime, where Leptos' SSR was
//! seen to stall a page render about once in a dozen full runs; the server never runs that way).

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use herald_app::state::AppState;
use herald_core::config::Config;
use herald_core::domain::PersonId;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::net::SocketAddr;
use tower::ServiceExt;

/// The server's router over one test's database.
pub struct TestApp {
    router: Router,
}

/// One answer: status, headers and the body as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl TestApp {
    pub fn spawn(pool: PgPool) -> Self {
        Self::serving(pool, "target/site")
    }

    /// The router with the default settings changed by `change`.
    pub fn spawn_with(pool: PgPool, change: impl FnOnce(&mut Config)) -> Self {
        let mut settings = Config::load_from(|_| None).expect("default settings load");
        change(&mut settings);
        Self::build(pool, "target/site", settings)
    }

    /// The router serving its site assets from `site_root`.
    pub fn serving(pool: PgPool, site_root: &str) -> Self {
        let settings = Config::load_from(|_| None).expect("default settings load");
        Self::build(pool, site_root, settings)
    }

    fn build(pool: PgPool, site_root: &str, mut settings: Config) -> Self {
        settings.secrets = herald_testing::secrets();
        let options = LeptosOptions::builder()
            .output_name("herald")
            .site_root(site_root)
            .site_pkg_dir("pkg")
            .build();
        Self {
            router: herald_server::router(AppState::new(pool, settings), options),
        }
    }

    /// Sends `req` as a client at 127.0.0.1 would, unless it already names its peer.
    pub async fn send(&self, mut req: Request<Body>) -> Reply {
        if req.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
        }
        // A hung request fails the test, naming it, instead of stalling the suite (one was seen
        // once in a full CI run and never again; see the issue 3 note).
        let what = format!("{} {}", req.method(), req.uri());
        let res = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            self.router.clone().oneshot(req),
        )
        .await
        .unwrap_or_else(|_| panic!("{what} got no answer within 20 s"))
        .expect("router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body reads");
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn call(&self, function: &str, form: &str, cookie: Option<&str>) -> Reply {
        self.call_as(
            function,
            "application/x-www-form-urlencoded",
            form.to_string(),
            cookie,
        )
        .await
    }

    /// Calls server function `function` with `body` of `content_type`, from Herald's own site.
    pub async fn call_as(
        &self,
        function: &str,
        content_type: &str,
        body: impl Into<Body>,
        cookie: Option<&str>,
    ) -> Reply {
        let mut req = Request::post(format!("/api/{function}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::HOST, "herald.test")
            .header(header::ORIGIN, "http://herald.test");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    /// Calls server function `function` with `form` through a proxy that says the client is
    /// `forwarded_for` (`X-Forwarded-For`).
    pub async fn call_forwarded(&self, function: &str, form: &str, forwarded_for: &str) -> Reply {
        let req = Request::post(format!("/api/{function}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "herald.test")
            .header(header::ORIGIN, "http://herald.test")
            .header("x-forwarded-for", forwarded_for);
        self.send(req.body(Body::from(form.to_string())).unwrap())
            .await
    }

    /// GET `path` as a browser that accepts `encodings` (`Accept-Encoding`).
    pub async fn get_encoded(&self, path: &str, encodings: &str) -> Reply {
        let req = Request::get(path).header(header::ACCEPT_ENCODING, encodings);
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// Signs in and returns the `name=value` of the session cookie.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let r = self
            .call(
                "sign_in",
                &format!("email={email}&password={password}"),
                None,
            )
            .await;
        let set_cookie = r
            .headers
            .get(header::SET_COOKIE)
            .expect("a session cookie is set");
        set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }
}

/// Links `guardian` to a new student of their own, as the roster does for every guardian who may
/// sign in (a parent account with no student link is barred, see `accounts::Bar::Unlinked`).
pub async fn give_a_child(pool: &PgPool, guardian: PersonId) {
    sqlx::query!(
        r#"with kid as (insert into person (sourced_id, kind, given_name, family_name)
                        values ('child-of-' || $1::uuid, 'student', 'Kim', 'Child') returning id)
           insert into guardian_student (guardian_id, student_id, relationship)
           select $1, id, 'parent' from kid"#,
        guardian as PersonId
    )
    .execute(pool)
    .await
    .unwrap();
}
