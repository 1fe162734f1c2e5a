//! Cross-site request forgery: a cookie-authenticated write must come from our own origin.
//! Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`, `Referer`); a
//! request with none of them is not from a browser and passes.

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;

use crate::error::ApiError;

pub fn check(req: &HttpRequest, public_url: Option<&str>) -> Result<(), ApiError> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    verdict(req.headers(), public_url, host.as_deref())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"))
}

fn verdict(headers: &HeaderMap, public_url: Option<&str>, host: Option<&str>) -> Result<(), ApiError> {
    let refuse = || Err(ApiError::Forbidden("cross-site request refused".into()));
    if let Some(site) = header_str(headers, "sec-fetch-site") {
        return if site == "same-origin" || site == "none" { Ok(()) } else { refuse() };
    }
    let claimed = header_str(headers, "origin").or_else(|| header_str(headers, "referer"));
    let Some(claimed) = claimed else { return Ok(()) };
    let same = match public_url {
        Some(public) => origin_of(claimed).is_some_and(|o| Some(o) == origin_of(public)),
        None => authority_of(claimed).is_some_and(|a| host.is_some_and(|h| a.eq_ignore_ascii_case(h))),
    };
    if same {
        Ok(())
    } else {
        refuse()
    }
}

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

fn authority_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn browsers_from_elsewhere_are_refused() {
        let host = Some("chat.local:8080");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("sec-fetch-site", "same-origin")], true),
            (&[("sec-fetch-site", "none")], true),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "same-site"), ("origin", "http://chat.local:8080")], false),
            (&[("origin", "http://chat.local:8080")], true),
            (&[("origin", "http://evil.example")], false),
            (&[("origin", "null")], false),
            (&[("referer", "http://chat.local:8080/rooms/1")], true),
            (&[("referer", "http://evil.example/chat.local:8080")], false),
        ];
        for (pairs, ok) in cases {
            assert_eq!(verdict(&headers(pairs), None, host).is_ok(), *ok, "{pairs:?}");
        }
    }

    #[test]
    fn the_public_url_wins_over_host() {
        let public = Some("https://chat.example.com");
        assert!(verdict(&headers(&[("origin", "https://chat.example.com")]), public, Some("127.0.0.1:8080")).is_ok());
        assert!(verdict(&headers(&[("origin", "http://chat.example.com")]), public, Some("chat.example.com")).is_err());
    }
}
