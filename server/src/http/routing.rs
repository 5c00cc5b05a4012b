//! Mounting handlers at the routes of the table in `shared` (`protocol::v1::routes`):
//! the router takes each endpoint's method and path from there, never from a literal.

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use passerelle_shared::protocol::v1::routes::{Method, Route};

use crate::state::AppState;

/// `router.endpoint(routes::NAME, handler)`: `handler` at the route's method and path.
/// Two routes of one path (`GET` and `POST /channels`) merge into one method router.
pub trait Endpoints {
    /// Mounts `handler` at `route`.
    fn endpoint<H, T, const N: usize>(self, route: Route<N>, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static;
}

impl Endpoints for Router<AppState> {
    fn endpoint<H, T, const N: usize>(self, route: Route<N>, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route(route.path, on(method_filter(route.method), handler))
    }
}

/// axum's filter for a method of the table.
pub fn method_filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

#[cfg(test)]
mod tests {
    /// Every route of `/api/v1` is mounted with [`super::Endpoints::endpoint`] and every
    /// `#[utoipa::path]` takes its path from the table: no method or path written twice.
    /// (`health.rs` serves the probes outside `/api/v1`, which are not API endpoints.)
    #[test]
    fn routers_and_operations_take_their_paths_from_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offences = Vec::new();
        for folder in ["http", "ws"] {
            for entry in std::fs::read_dir(root.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name == "routing.rs" || name == "health.rs" {
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                for (number, line) in source.lines().enumerate() {
                    let by_hand = line.contains(".route(")
                        || (line.contains("utoipa::path(") && !line.contains("path = routes::"));
                    if by_hand {
                        offences.push(format!("{folder}/{name}:{}: {}", number + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            offences.is_empty(),
            "routes written by hand; add them to shared/src/protocol/v1/routes.rs and use \
             `.endpoint(routes::NAME, handler)` and `path = routes::NAME.documented()`: {offences:#?}"
        );
    }
}
