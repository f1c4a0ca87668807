//! Sign-in, sign-out and who is asking: the session cookie, the role checks every server function
//! starts with, and the sign-in page.
//!
//! What must stay true: the cookie is `HttpOnly`, `SameSite=Lax` (and `Secure` when configured)
//! and holds only a random token; server functions are POST-only and the server rejects
//! cross-site POSTs (see the server's `csrf` layer), so a page elsewhere cannot act for a
//! signed-in user. A parent's server functions only ever see their own household.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ui::ErrorAlert;

/// What an account may do, as the browser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiRole {
    DistrictAdmin,
    Teacher,
    Parent,
}

impl UiRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::DistrictAdmin => "District admin",
            Self::Teacher => "Teacher",
            Self::Parent => "Parent",
        }
    }

    /// Where this role lands after signing in.
    pub fn home(self) -> &'static str {
        match self {
            Self::DistrictAdmin | Self::Teacher => "/admin",
            Self::Parent => "/portal",
        }
    }

    /// Whether `path` is a page of this role's area, safe to return to after sign-in: a local
    /// path under [`UiRole::home`], never another site (`//host`, `/\\host`).
    pub fn owns(self, path: &str) -> bool {
        let home = self.home();
        path.strip_prefix(home)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            && !path.contains("//")
            && !path.contains('\\')
    }
}

/// The signed-in user, as pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub email: String,
    pub role: UiRole,
    pub calendar_id: Option<String>,
}

/// Who is signed in, if anyone.
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserInfo>, AppError> {
    Ok(ssr::session().await?.map(|s| UserInfo {
        name: s.account.display_name,
        email: s.account.email,
        role: ssr::ui_role(s.account.role),
        calendar_id: s.calendar_id.map(|c| c.to_string()),
    }))
}

/// Checks the password, opens a session (cookie) and sends the user to the page they came from
/// (`next`, when it is in their area) or their landing page.
#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use herald_core::accounts::{self, AccountError};
    let state = ssr::state()?;
    let password = secrecy::SecretString::from(password);
    let _turn = match state.password_checks.admit().await {
        Ok(turn) => turn,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in refused: every password check is taken");
            return Err(AppError::Busy);
        }
    };
    let from = ssr::client_address(&state.settings.auth).await?;
    match accounts::sign_in(&state.pool, &state.settings.auth, &email, &password, from).await {
        Ok((account, token)) => {
            ssr::set_session_cookie(&token, &state.settings.auth).await?;
            let role = ssr::ui_role(account.role);
            match next.filter(|n| role.owns(n)) {
                Some(next) => leptos_axum::redirect(&next),
                None => leptos_axum::redirect(role.home()),
            }
            Ok(())
        }
        Err(AccountError::InvalidCredentials) => Err(AppError::SignInRefused(
            "That email and password do not match an account.".into(),
        )),
        Err(AccountError::Barred(bar)) => {
            tracing::info!(?bar, "sign-in refused: the account is barred");
            Err(AppError::SignInRefused(
                "This account can no longer sign in. Ask your school district office.".into(),
            ))
        }
        Err(e @ AccountError::Throttled { .. }) => Err(AppError::TooManyAttempts(e.to_string())),
        Err(e) => Err(AppError::internal("sign in", &e)),
    }
}

/// Ends the session and forgets the cookie.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let state = ssr::state()?;
    if let Some(token) = ssr::session_token().await? {
        herald_core::accounts::sign_out(&state.pool, &token)
            .await
            .map_err(|e| AppError::internal("sign out", &e))?;
    }
    ssr::clear_session_cookie()?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// `/`: sends each user to where they belong.
#[component]
pub fn Landing() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    // Not `Loaded`: every outcome is a redirect, an error one to sign-in.
    view! {
        <Suspense fallback=|| view! { <p class="centered">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => view! { <Redirect path=u.role.home() /> }.into_any(),
                    _ => view! { <Redirect path="/sign-in" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The sign-in form. Works without JavaScript (a plain form POST) and with it.
#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let next = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("next"));
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| view! { <ErrorAlert error /> })
    };
    view! {
        <main class="sign-in">
            <h1>"Herald"</h1>
            <p class="tagline">"Messages for your school district"</p>
            <ActionForm action>
                <label>"Email" <input type="email" name="email" autocomplete="username" required /></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required /></label>
                {next.map(|n| view! { <input type="hidden" name="next" value=n /> })}
                {error}
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
        </main>
    }
}

/// A sign-out button for any page's header.
#[component]
pub fn SignOutButton() -> impl IntoView {
    let action = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action attr:class="sign-out">
            <button type="submit">"Sign out"</button>
        </ActionForm>
    }
}

/// Server-side session handling shared by every server function.
#[cfg(feature = "ssr")]
pub mod ssr {
    use axum::extract::ConnectInfo;
    use axum::http::{HeaderMap, HeaderValue, header};
    use herald_core::accounts::{self, Role, SessionAccount, SessionToken};
    use herald_core::config::AuthConfig;
    use herald_core::directory::PeopleScope;
    use herald_core::domain::PersonId;
    use leptos::prelude::*;
    use std::net::{IpAddr, SocketAddr};

    use super::UiRole;
    use crate::error::AppError;
    use crate::state::AppState;

    /// The session cookie's name over plain http (development).
    pub const COOKIE: &str = "herald_session";
    /// Its name over https: a `__Host-` cookie is only taken with `Secure`, `Path=/` and no
    /// `Domain`, so neither a sibling subdomain nor a plain-http page can plant or overwrite it.
    pub const SECURE_COOKIE: &str = "__Host-herald_session";

    /// Whether the browser reached Herald over https: the request's `Origin` says so (a sign-in
    /// is a POST, which browsers send it with), or the TLS-terminating proxy's
    /// `X-Forwarded-Proto` does.
    pub fn over_https(headers: &HeaderMap) -> bool {
        let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        value("origin").is_some_and(|o| o.starts_with("https://"))
            || value("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
    }

    pub fn ui_role(role: Role) -> UiRole {
        match role {
            Role::DistrictAdmin => UiRole::DistrictAdmin,
            Role::Teacher => UiRole::Teacher,
            Role::Parent => UiRole::Parent,
        }
    }

    /// The server's shared state, provided as context by the server.
    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            AppError::Unavailable
        })
    }

    /// The address the request came from. With `auth.forwarded_hops` proxies in front, it is the
    /// `X-Forwarded-For` entry that many places from the right (the one the outermost trusted
    /// proxy appended; entries left of it are whatever the client sent); otherwise, or when the
    /// header does not hold that many entries, the connection's peer.
    pub async fn client_address(auth: &AuthConfig) -> Result<IpAddr, AppError> {
        let headers: HeaderMap = leptos_axum::extract()
            .await
            .map_err(|e| AppError::internal("reading request headers", &e))?;
        let ConnectInfo(peer): ConnectInfo<SocketAddr> = leptos_axum::extract()
            .await
            .map_err(|e| AppError::internal("reading the client's address", &e))?;
        Ok(forwarded_client(&headers, auth.forwarded_hops).unwrap_or(peer.ip()))
    }

    /// The client in `X-Forwarded-For` behind `hops` trusted proxies, if the header says.
    fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
        if hops == 0 {
            return None;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let entry = entries.get(entries.len().checked_sub(hops)?)?;
        // A proxy may write `ip:port` (or `[ipv6]:port`).
        entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
    }

    /// The session token in the request's cookie, if any.
    pub async fn session_token() -> Result<Option<SessionToken>, AppError> {
        let headers: HeaderMap = leptos_axum::extract()
            .await
            .map_err(|e| AppError::internal("reading request headers", &e))?;
        Ok(token_in(&headers))
    }

    fn token_in(headers: &HeaderMap) -> Option<SessionToken> {
        cookie_value(headers, SECURE_COOKIE)
            .or_else(|| cookie_value(headers, COOKIE))
            .map(|v| SessionToken::from_cookie(&v))
    }

    /// The signed-in account and its token, if `token` names a live session.
    async fn account_of(
        state: &AppState,
        token: Option<SessionToken>,
    ) -> Result<Option<(SessionAccount, SessionToken)>, AppError> {
        let Some(token) = token else {
            return Ok(None);
        };
        let account = accounts::session_account(&state.pool, &token)
            .await
            .map_err(|e| AppError::internal("reading the session", &e))?;
        Ok(account.map(|a| (a, token)))
    }

    /// The signed-in account, if the cookie names a live session.
    pub async fn session() -> Result<Option<SessionAccount>, AppError> {
        let state = state()?;
        Ok(account_of(&state, session_token().await?)
            .await?
            .map(|(a, _)| a))
    }

    /// Who is calling, once their role is checked: the server's state, their session and its
    /// token. What each role may use is named by the wrapper: [`Admin`], [`Staff`], [`Parent`].
    pub struct Caller {
        pub state: AppState,
        pub session: SessionAccount,
        pub token: SessionToken,
    }

    /// A call by a district admin: what every admin-only server function starts with.
    pub struct Admin(pub Caller);

    /// A call by a district admin or a teacher (the staff pages: Overview, People).
    pub struct Staff(pub Caller);

    impl Staff {
        /// Whom this caller may look up: a district admin everyone, a teacher the students of
        /// their sections and those students' guardians.
        pub fn people_scope(&self) -> Result<PeopleScope, AppError> {
            let account = &self.0.session.account;
            match (account.role, account.person_id) {
                (Role::DistrictAdmin, _) => Ok(PeopleScope::District),
                (Role::Teacher, Some(teacher)) => Ok(PeopleScope::TaughtBy(teacher)),
                // The schema gives every teacher account a person; a parent is no staff.
                (Role::Teacher, None) | (Role::Parent, _) => Err(AppError::Forbidden),
            }
        }
    }

    /// A call by a parent, with the person they are: a parent's server functions read and
    /// write only what belongs to `person` (and their household).
    pub struct Parent {
        pub caller: Caller,
        pub person: PersonId,
    }

    /// The caller, if signed in with one of `roles`; the error says which check failed.
    fn admit(
        state: AppState,
        signed_in: Option<(SessionAccount, SessionToken)>,
        roles: &[Role],
    ) -> Result<Caller, AppError> {
        let (session, token) = signed_in.ok_or(AppError::NotSignedIn)?;
        if !roles.contains(&session.account.role) {
            return Err(AppError::Forbidden);
        }
        Ok(Caller {
            state,
            session,
            token,
        })
    }

    /// The caller of this server function, if signed in with one of `roles`.
    async fn caller(roles: &[Role]) -> Result<Caller, AppError> {
        let state = state()?;
        let signed_in = account_of(&state, session_token().await?).await?;
        admit(state, signed_in, roles)
    }

    /// The calling district admin, or `NotSignedIn` / `Forbidden`.
    pub async fn admin() -> Result<Admin, AppError> {
        caller(&[Role::DistrictAdmin]).await.map(Admin)
    }

    /// The district admin whose cookie is in `headers`: for plain axum handlers (downloads),
    /// which have no Leptos context.
    pub async fn admin_from(state: &AppState, headers: &HeaderMap) -> Result<Admin, AppError> {
        let signed_in = account_of(state, token_in(headers)).await?;
        admit(state.clone(), signed_in, &[Role::DistrictAdmin]).map(Admin)
    }

    /// The calling district admin or teacher, or `NotSignedIn` / `Forbidden`.
    pub async fn staff() -> Result<Staff, AppError> {
        caller(&[Role::DistrictAdmin, Role::Teacher])
            .await
            .map(Staff)
    }

    /// The calling parent and the person they are, or `NotSignedIn` / `Forbidden`; a parent
    /// account linked to no person finds nothing (`NotFound`).
    pub async fn parent() -> Result<Parent, AppError> {
        let caller = caller(&[Role::Parent]).await?;
        let person = caller.session.account.person_id.ok_or(AppError::NotFound)?;
        Ok(Parent { caller, person })
    }

    /// The `Set-Cookie` value for a new session: `Secure` and `__Host-` whenever the browser
    /// came over https (or `auth.secure_cookies` insists).
    pub fn session_cookie(token: &SessionToken, auth: &AuthConfig, https: bool) -> String {
        let max_age = auth.session_hours * 3600;
        if https || auth.secure_cookies {
            format!(
                "{SECURE_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}; Secure",
                token.expose()
            )
        } else {
            format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
                token.expose()
            )
        }
    }

    pub async fn set_session_cookie(
        token: &SessionToken,
        auth: &AuthConfig,
    ) -> Result<(), AppError> {
        let headers: HeaderMap = leptos_axum::extract()
            .await
            .map_err(|e| AppError::internal("reading request headers", &e))?;
        set_cookie(session_cookie(token, auth, over_https(&headers)))
    }

    /// Forgets the session cookie under either name.
    pub fn clear_session_cookie() -> Result<(), AppError> {
        set_cookie(format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        ))?;
        set_cookie(format!(
            "{SECURE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        ))
    }

    fn set_cookie(value: String) -> Result<(), AppError> {
        let response =
            use_context::<leptos_axum::ResponseOptions>().ok_or(AppError::Unavailable)?;
        let value = HeaderValue::from_str(&value).map_err(|e| AppError::internal("cookie", &e))?;
        response.append_header(header::SET_COOKIE, value);
        Ok(())
    }

    /// The value of cookie `name` in the request headers.
    pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_session_cookie_is_found_among_others() {
            let mut h = HeaderMap::new();
            h.append(
                header::COOKIE,
                HeaderValue::from_static("a=1; herald_session=abc; b=2"),
            );
            assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("abc"));
            assert_eq!(cookie_value(&h, "missing"), None);
        }

        #[test]
        fn the_client_is_the_entry_the_outermost_trusted_proxy_appended() {
            let mut h = HeaderMap::new();
            h.append(
                "x-forwarded-for",
                HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
            );
            h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2:4431"));
            let at = |hops| forwarded_client(&h, hops).map(|a| a.to_string());
            assert_eq!(at(0), None, "no trusted proxy: the header is ignored");
            assert_eq!(at(1).as_deref(), Some("10.0.0.2"));
            assert_eq!(at(2).as_deref(), Some("198.51.100.7"));
            assert_eq!(at(3).as_deref(), Some("203.0.113.9"));
            assert_eq!(at(4), None, "fewer entries than proxies: the peer decides");
            let mut junk = HeaderMap::new();
            junk.append("x-forwarded-for", HeaderValue::from_static("unknown"));
            assert_eq!(forwarded_client(&junk, 1), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UiRole;

    #[test]
    fn sign_in_returns_only_to_a_page_of_the_users_own_area() {
        assert!(UiRole::Parent.owns("/portal/preferences"));
        assert!(UiRole::Parent.owns("/portal?after=1.x"));
        assert!(UiRole::Parent.owns("/portal"));
        assert!(!UiRole::Parent.owns("/admin/people"));
        assert!(!UiRole::Parent.owns("/portalx"));
        assert!(!UiRole::Parent.owns("https://evil.example/portal"));
        assert!(!UiRole::Parent.owns("/portal//evil.example"));
        assert!(!UiRole::Parent.owns("/portal/\\evil.example"));
        assert!(UiRole::DistrictAdmin.owns("/admin/people/1"));
    }
}
