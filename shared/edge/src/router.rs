//! Routes of one function, matched once per request, with and without a trailing slash.

use contract::operation::Endpoint;
use http::Method;
use percent_encoding::percent_decode_str;

/// The routes that share one path: `(method, route, pattern as written)`.
type Endpoints<R> = Vec<(Method, R, &'static str)>;

/// Routes of one function, matched once per request.
pub struct Router<R> {
    inner: matchit::Router<Endpoints<R>>,
}

pub enum Matched<R> {
    Route {
        route: R,
        pattern: &'static str,
        params: Vec<(String, String)>,
    },
    MethodNotAllowed {
        allowed: Vec<Method>,
        pattern: &'static str,
    },
    NotFound,
}

fn normalise(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

impl<R: Copy> Router<R> {
    /// Panics on a malformed or duplicate route: that is a bug in a function's route table,
    /// caught by its first unit test.
    pub fn new(routes: Vec<(Endpoint, R)>) -> Self {
        let mut grouped: Vec<(&'static str, Endpoints<R>)> = Vec::new();
        for (
            Endpoint {
                method, path: pattern, ..
            },
            route,
        ) in routes
        {
            let key = normalise(pattern);
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push((method, route, pattern)),
                None => grouped.push((key, vec![(method, route, pattern)])),
            }
        }
        let mut inner = matchit::Router::new();
        for (key, list) in grouped {
            if let Err(err) = inner.insert(key, list) {
                panic!("bad route {key}: {err}");
            }
        }
        Self { inner }
    }

    pub fn at(&self, method: &Method, path: &str) -> Matched<R> {
        let Ok(found) = self.inner.at(normalise(path)) else {
            return Matched::NotFound;
        };
        let params = found
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), percent_decode_str(v).decode_utf8_lossy().into_owned()))
            .collect();
        let lookup = if method == Method::HEAD { &Method::GET } else { method };
        match found.value.iter().find(|(m, _, _)| m == lookup) {
            Some((_, route, pattern)) => Matched::Route {
                route: *route,
                pattern,
                params,
            },
            None => Matched::MethodNotAllowed {
                allowed: found.value.iter().map(|(m, _, _)| m.clone()).collect(),
                pattern: found.value[0].2,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_percent_decoded() {
        let endpoint = Endpoint {
            method: Method::POST,
            path: "/r/{email}",
            id: "t-recover",
        };
        let router = Router::new(vec![(endpoint, ())]);
        let Matched::Route { params, .. } = router.at(&Method::POST, "/r/x%40example.com") else {
            panic!("no match")
        };
        assert_eq!(params, vec![("email".to_owned(), "x@example.com".to_owned())]);
    }
}
