//! Checks of a collected response body against a case's `expect_body`.

use super::wire::hex;
use crate::case::{BodySpec, Vars, parse_hex};

/// Checks a collected body; `Err((expected, happened))`.
pub fn check_body(
    b: &BodySpec,
    body: &[u8],
    nonempty: usize,
    vars: &Vars,
) -> Result<(), (String, String)> {
    let shown = || {
        format!(
            "{:?} ({} bytes)",
            String::from_utf8_lossy(&body[..body.len().min(200)]),
            body.len()
        )
    };
    if let Some(t) = &b.text {
        let t = vars.subst(t);
        if body != t.as_bytes() {
            return Err((format!("body {t:?}"), format!("body {}", shown())));
        }
    }
    if let Some(h) = &b.hex {
        let want = parse_hex(h).map_err(|e| (e.clone(), e))?;
        if body != want.as_slice() {
            return Err((format!("body {h}"), format!("body {}", hex(body, 64))));
        }
    }
    if let Some(n) = b.length
        && body.len() != n
    {
        return Err((
            format!("a body of {n} bytes"),
            format!("{} bytes", body.len()),
        ));
    }
    if let Some(r) = &b.regex {
        let re = regex::Regex::new(r).map_err(|e| (r.clone(), e.to_string()))?;
        if !re.is_match(&String::from_utf8_lossy(body)) {
            return Err((format!("body matching /{r}/"), format!("body {}", shown())));
        }
    }
    if let Some(n) = b.nonempty_frames
        && nonempty != n
    {
        return Err((format!("{n} non-empty DATA frames"), format!("{nonempty}")));
    }
    if b.index_mod_256
        && let Some(i) = body
            .iter()
            .enumerate()
            .position(|(i, x)| usize::from(*x) != i % 256)
    {
        return Err((
            "byte i of the body = i mod 256".into(),
            format!("byte {i} is {}", body[i]),
        ));
    }
    if let Some(want) = &b.json {
        let got: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ("a JSON body".to_owned(), format!("{e}: {}", shown())))?;
        let want = serde_json::to_value(want).map_err(|e| (e.to_string(), String::new()))?;
        if let Some(why) = json_subset(&want, &got, "") {
            return Err((format!("JSON containing {want}"), why));
        }
    }
    if !b.json_absent.is_empty() {
        let got: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ("a JSON body".to_owned(), format!("{e}: {}", shown())))?;
        for path in &b.json_absent {
            let found = path
                .split('/')
                .try_fold(&got, |v, key| v.as_object().and_then(|o| o.get(key)));
            if let Some(v) = found {
                return Err((
                    format!("JSON without member {path}"),
                    format!("{path} = {v}"),
                ));
            }
        }
    }
    Ok(())
}

/// `None` if every member of `want` is in `got` with an equal (or, for
/// objects, containing) value.
pub fn json_subset(want: &serde_json::Value, got: &serde_json::Value, at: &str) -> Option<String> {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            w.iter().find_map(|(k, wv)| match g.get(k) {
                None => Some(format!("{at}/{k} is missing")),
                Some(gv) => json_subset(wv, gv, &format!("{at}/{k}")),
            })
        }
        _ if want == got => None,
        _ => Some(format!("{at} is {got}, expected {want}")),
    }
}
