//! FHIR search: the query's parameters (repeatable, so not a struct), date comparisons like
//! `start=ge2027-03-01`, references like `Practitioner/{id}`, and paged searchset Bundles.
//!
//! Parameters a resource does not support are refused with 400, not ignored: a client that
//! filters by something we do not know would otherwise get more than it asked for.

use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::shell::error::ApiError;

/// Entries per page when `_count` is not given.
pub const DEFAULT_COUNT: usize = 50;
/// Most entries per page.
pub const MAX_COUNT: usize = 500;

/// Parameters every search takes besides its own.
const PAGING: &[&str] = &["_count", "_offset", "_format", "_pretty"];

/// A search's parameters, in order, with the page asked for.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Entries per page.
    pub count: usize,
    /// Entries skipped.
    pub offset: usize,
}

impl Params {
    /// Parses `query`, refusing parameters outside `supported` (and the paging ones).
    pub fn parse(query: Option<&str>, supported: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        if let Some((name, _)) = pairs.iter().find(|(name, _)| {
            !supported.contains(&name.as_str()) && !PAGING.contains(&name.as_str())
        }) {
            return Err(invalid(format!(
                "unsupported search parameter `{name}`; this resource supports {}",
                supported.join(", ")
            )));
        }
        let number = |name: &str, default: usize| -> Result<usize, ApiError> {
            match pairs.iter().rev().find(|(n, _)| n == name) {
                None => Ok(default),
                Some((_, v)) => v
                    .parse()
                    .map_err(|_| invalid(format!("`{name}` must be a whole number"))),
            }
        };
        if let Some((_, format)) = pairs.iter().find(|(n, _)| n == "_format")
            && !matches!(
                format.as_str(),
                "json" | "application/json" | "application/fhir+json"
            )
        {
            return Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "not_acceptable",
                format!("this server speaks JSON only, not `{format}`"),
            ));
        }
        let count = number("_count", DEFAULT_COUNT)?.min(MAX_COUNT);
        let offset = number("_offset", 0)?;
        Ok(Self {
            pairs,
            count,
            offset,
        })
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The one value of `name`, if given (a repeated one is refused).
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(invalid(format!("give `{name}` once")));
        }
        Ok(first)
    }

    /// The values of a token parameter: each occurrence may list several, comma-separated;
    /// all occurrences must hold (here: the sets intersect, which for one occurrence is that
    /// occurrence's list).
    pub fn tokens(&self, name: &str) -> Option<Vec<String>> {
        let mut result: Option<Vec<String>> = None;
        for value in self.all(name) {
            let these: Vec<String> = value.split(',').map(|t| t.trim().to_owned()).collect();
            result = Some(match result {
                None => these,
                Some(before) => before.into_iter().filter(|t| these.contains(t)).collect(),
            });
        }
        result
    }

    /// The half-open range of instants every `name=<prefix><date>` occurrence allows together.
    pub fn range(&self, name: &str) -> Result<Range, ApiError> {
        let mut range = Range::default();
        for value in self.all(name) {
            range = range.and(parse_comparison(name, value)?);
        }
        Ok(range)
    }

    /// The search's own parameters (not the paging ones) as a query string, for links.
    fn query_without_paging(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            if !PAGING.contains(&name.as_str()) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

/// Instants from `from` (inclusive) to `to` (exclusive); either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// First instant allowed.
    pub from: Option<Timestamp>,
    /// First instant no longer allowed.
    pub to: Option<Timestamp>,
}

impl Range {
    fn and(self, other: Range) -> Range {
        Range {
            from: self.from.max(other.from),
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Whether `instant` is in the range.
    pub fn contains(&self, instant: Timestamp) -> bool {
        self.from.is_none_or(|from| instant >= from) && self.to.is_none_or(|to| instant < to)
    }
}

/// `ge2027-03-01`, `lt2027-03-08T00:00:00Z`, `2027-03-02` (the whole day, UTC) as a range.
fn parse_comparison(name: &str, raw: &str) -> Result<Range, ApiError> {
    let (prefix, value) = match raw.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &raw[2..]),
        _ => ("eq", raw),
    };
    let bad = || {
        invalid(format!(
            "`{name}` takes a date or an instant with an optional prefix (eq, ge, gt, le, lt), \
             e.g. ge2027-03-01 or lt2027-03-08T00:00:00Z; not `{raw}`"
        ))
    };
    // The instants the value stands for: a whole UTC day, or one second.
    let (first, length) = if let Ok(date) = value.parse::<Date>() {
        let start = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp();
        (start, SignedDuration::from_hours(24))
    } else {
        let instant: Timestamp = value.parse().map_err(|_| bad())?;
        (instant, SignedDuration::from_secs(1))
    };
    // The last representable instants have no "after": out of range, not a crash.
    let after = first
        .checked_add(length)
        .map_err(|_| invalid(format!("`{name}` is out of range: `{raw}`")))?;
    Ok(match prefix {
        "ge" => Range {
            from: Some(first),
            to: None,
        },
        "gt" => Range {
            from: Some(after),
            to: None,
        },
        "le" => Range {
            from: None,
            to: Some(after),
        },
        "lt" => Range {
            from: None,
            to: Some(first),
        },
        _ => Range {
            from: Some(first),
            to: Some(after),
        },
    })
}

/// The id in a reference like `Practitioner/{id}`, a full URL ending so, or a bare id, if the
/// type is `kind`; a reference to another type is refused.
pub fn reference_id(name: &str, raw: &str, kind: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim_end_matches('/');
    let mut parts = trimmed.rsplit('/');
    let id = parts.next().unwrap_or_default();
    match parts.next() {
        None => Ok(id.to_owned()),
        Some(k) if k == kind => Ok(id.to_owned()),
        Some(other) => Err(invalid(format!(
            "`{name}` must reference a {kind}, not a {other}"
        ))),
    }
}

/// A resource id that is one of our UUIDs, written as we write them (lower-case, hyphenated);
/// `None` for anything else (no such resource).
pub fn uuid_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|uuid| uuid.to_string() == raw)
}

/// The values of a reference parameter: comma-separated alternatives, each a reference to
/// `kind` (see [`reference_id`]).
pub fn reference_ids(params: &Params, name: &str, kind: &str) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    for value in params.all(name) {
        for one in value.split(',') {
            ids.push(reference_id(name, one.trim(), kind)?);
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// A 400 `validation` problem.
pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::validation(StatusCode::BAD_REQUEST, detail)
}

/// A searchset Bundle of one page of `matches` (every match, in order; each a resource with
/// `resourceType` and `id`), with `self`, `first`, `previous` and `next` links.
pub fn bundle(base: &str, kind: &str, params: &Params, matches: Vec<Value>) -> Value {
    let total = matches.len();
    let query = params.query_without_paging();
    let link = |relation: &str, offset: usize| {
        let mut url = format!("{base}/{kind}?");
        if !query.is_empty() {
            url.push_str(&query);
            url.push('&');
        }
        url.push_str(&format!("_count={}&_offset={offset}", params.count));
        json!({ "relation": relation, "url": url })
    };
    let mut links = vec![link("self", params.offset), link("first", 0)];
    if params.offset > 0 {
        links.push(link(
            "previous",
            params.offset.saturating_sub(params.count.max(1)),
        ));
    }
    let next = params.offset.saturating_add(params.count);
    if params.count > 0 && next < total {
        links.push(link("next", next));
    }
    let entries: Vec<Value> = matches
        .into_iter()
        .skip(params.offset)
        .take(params.count)
        .map(|resource| {
            let full_url = format!(
                "{base}/{}/{}",
                resource["resourceType"].as_str().unwrap_or(kind),
                resource["id"].as_str().unwrap_or_default()
            );
            json!({ "fullUrl": full_url, "resource": resource, "search": { "mode": "match" } })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_comparisons_make_half_open_ranges() {
        let params = Params::parse(
            Some("start=ge2027-03-01&start=lt2027-03-08T00%3A00%3A00Z"),
            &["start"],
        )
        .unwrap();
        let range = params.range("start").unwrap();
        assert_eq!(range.from, Some("2027-03-01T00:00:00Z".parse().unwrap()));
        assert_eq!(range.to, Some("2027-03-08T00:00:00Z".parse().unwrap()));
        let day = Params::parse(Some("date=2027-03-02"), &["date"]).unwrap();
        let range = day.range("date").unwrap();
        assert!(range.contains("2027-03-02T23:59:00Z".parse().unwrap()));
        assert!(!range.contains("2027-03-03T00:00:00Z".parse().unwrap()));
        let bad = Params::parse(Some("date=soon"), &["date"]).unwrap();
        assert!(bad.range("date").is_err());
        let last = Params::parse(
            Some("date=9999-12-30&start=le9999-12-30T22:00:00Z"),
            &["date", "start"],
        )
        .unwrap();
        assert!(
            last.range("date").is_err(),
            "past the last instant: refused, no panic"
        );
        assert!(last.range("start").is_err());
    }

    #[test]
    fn unknown_parameters_are_refused_and_paging_kept_apart() {
        assert!(Params::parse(Some("colour=red"), &["name"]).is_err());
        let params = Params::parse(Some("name=ada&_count=2&_offset=2"), &["name"]).unwrap();
        let matches = (0..5)
            .map(|i| json!({ "resourceType": "Patient", "id": i.to_string() }))
            .collect();
        let bundle = bundle("http://x/fhir/r4", "Patient", &params, matches);
        assert_eq!(bundle["total"], 5);
        assert_eq!(bundle["entry"].as_array().unwrap().len(), 2);
        assert_eq!(bundle["entry"][0]["resource"]["id"], "2");
        let links = bundle["link"].as_array().unwrap();
        let next = links.iter().find(|l| l["relation"] == "next").unwrap();
        assert_eq!(
            next["url"],
            "http://x/fhir/r4/Patient?name=ada&_count=2&_offset=4"
        );
        assert!(links.iter().any(|l| l["relation"] == "previous"));
    }

    #[test]
    fn only_our_own_spelling_of_an_id_names_a_resource() {
        let id = "0190a4f2-5c3e-7d41-9a6b-2f4e8c1d3b5a";
        assert!(uuid_id(id).is_some());
        assert!(uuid_id(&id.to_uppercase()).is_none());
        assert!(uuid_id(&id.replace('-', "")).is_none());
    }

    #[test]
    fn references_name_their_type() {
        assert_eq!(
            reference_id("actor", "Practitioner/abc", "Practitioner").unwrap(),
            "abc"
        );
        assert_eq!(reference_id("actor", "abc", "Practitioner").unwrap(), "abc");
        assert!(reference_id("actor", "Patient/abc", "Practitioner").is_err());
    }
}
