//! Helm's `--set` syntax (`strvals`): `a.b=1,c[0]=x,d={p,q}`, backslash escapes, `null`
//! deleting a key, typed values for `--set`, strings for `--set-string`, JSON for
//! `--set-json`, file contents for `--set-file` and one literal for `--set-literal`.

use serde_json::{Map, Value};

/// Helm's bounds on list indexes and key nesting.
const MAX_INDEX: usize = 65536;
const MAX_NESTED_NAME_LEVEL: usize = 30;

/// How the right-hand side of `key=value` becomes a value.
#[derive(Clone, Copy)]
pub(crate) enum Kind<'a> {
    /// `--set`: `true`/`false`/`null`/integers are typed, the rest are strings.
    Typed,
    /// `--set-string`: always a string.
    String,
    /// `--set-json`: a JSON value.
    Json,
    /// `--set-file`: the value is a path; its contents become a string.
    File(&'a dyn Fn(&str) -> Result<String, String>),
    /// `--set-literal`: everything after the first `=` is one string.
    Literal,
}

/// Parses one `--set`-style argument into `dest`.
pub(crate) fn parse_into(
    s: &str,
    dest: &mut Map<String, Value>,
    kind: Kind<'_>,
) -> Result<(), String> {
    let mut p = Parser {
        chars: s.chars().collect(),
        pos: 0,
        kind,
    };
    loop {
        match p.key(dest, 0) {
            Ok(()) => {}
            Err(Stop::Eof) => return Ok(()),
            Err(Stop::Err(e)) => return Err(e),
        }
    }
}

enum Stop {
    Eof,
    Err(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Err(s)
    }
}

type Res<T> = Result<T, Stop>;

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    kind: Kind<'a>,
}

impl Parser<'_> {
    /// Reads up to (and consumes) a stop character, resolving `\` escapes. `None` as the
    /// stop means the input ended.
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut v = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if stop.contains(&c) {
                return (v, Some(c));
            }
            if c == '\\' {
                match self.chars.get(self.pos) {
                    Some(&n) => {
                        self.pos += 1;
                        v.push(n);
                    }
                    None => return (v, None),
                }
            } else {
                v.push(c);
            }
        }
        (v, None)
    }

    fn rest(&mut self) -> String {
        let s: String = self.chars[self.pos..].iter().collect();
        self.pos = self.chars.len();
        s
    }

    fn key(&mut self, data: &mut Map<String, Value>, level: usize) -> Res<()> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        match last {
            None if k.is_empty() => Err(Stop::Eof),
            None => Err(format!("key {k:?} has no value").into()),
            Some('[') => {
                let i = self.key_index()?;
                let list = match data.get(&k) {
                    Some(Value::Array(l)) => l.clone(),
                    None => Vec::new(),
                    Some(_) => {
                        return Err(format!(
                            "unable to parse key: interface conversion: {k:?} is not a list"
                        )
                        .into());
                    }
                };
                let (list, r) = self.list_item(list, i, level);
                set(data, &k, Value::Array(list));
                r
            }
            Some('=') => {
                let v = self.value()?;
                let eof = self.pos >= self.chars.len();
                match v {
                    Some(v) => set(data, &k, v),
                    None => set(data, &k, Value::String(String::new())),
                }
                if eof { Err(Stop::Eof) } else { Ok(()) }
            }
            Some(',') => {
                set(data, &k, Value::String(String::new()));
                Err(format!("key {k:?} has no value (cannot end with ,)").into())
            }
            Some(_) => {
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    )
                    .into());
                }
                let mut inner = match data.get(&k) {
                    Some(Value::Object(m)) => m.clone(),
                    None => Map::new(),
                    Some(_) => {
                        return Err(format!(
                            "unable to parse key: interface conversion: {k:?} is not a map"
                        )
                        .into());
                    }
                };
                let r = self.key(&mut inner, level);
                if r.is_ok() && inner.is_empty() {
                    return Err(format!("key map {k:?} has no value").into());
                }
                if !inner.is_empty() {
                    set(data, &k, Value::Object(inner));
                }
                r
            }
        }
    }

    /// The value after `=`: `Ok(None)` when the input ends right there.
    fn value(&mut self) -> Res<Option<Value>> {
        match self.kind {
            Kind::Literal => Ok(Some(Value::String(self.rest()))),
            Kind::Json => {
                if self.empty_val() {
                    return Ok(Some(Value::Null));
                }
                let text = self.rest();
                let mut de = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
                let v = match de.next() {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Err(e.to_string().into()),
                    None => return Err("unexpected end of JSON input".to_string().into()),
                };
                let used = de.byte_offset();
                self.chars = text[used..].chars().collect();
                self.pos = 0;
                self.empty_val();
                Ok(Some(v))
            }
            _ => {
                if self.pos >= self.chars.len() {
                    return Ok(None);
                }
                if self.chars[self.pos] == '{' {
                    self.pos += 1;
                    return self.val_list().map(|l| Some(Value::Array(l)));
                }
                let (rs, _) = self.until(&[',']);
                self.convert(&rs).map(Some)
            }
        }
    }

    fn convert(&self, rs: &str) -> Res<Value> {
        match self.kind {
            Kind::String | Kind::Literal => Ok(Value::String(rs.to_string())),
            Kind::File(read) => read(rs).map(Value::String).map_err(Stop::Err),
            Kind::Typed | Kind::Json => Ok(typed_val(rs)),
        }
    }

    /// Skips spaces and one comma; whether the value was empty (end or comma).
    fn empty_val(&mut self) -> bool {
        while let Some(&c) = self.chars.get(self.pos) {
            if c == ',' {
                self.pos += 1;
                return true;
            }
            if !c.is_whitespace() {
                return false;
            }
            self.pos += 1;
        }
        true
    }

    fn val_list(&mut self) -> Res<Vec<Value>> {
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                None => return Err("list must terminate with '}'".to_string().into()),
                Some('}') => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    list.push(self.convert(&rs)?);
                    return Ok(list);
                }
                Some(_) => list.push(self.convert(&rs)?),
            }
        }
    }

    fn key_index(&mut self) -> Res<usize> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err("error parsing index: EOF".to_string().into());
        }
        let i: i64 = v.parse().map_err(|_| {
            format!("error parsing index: strconv.Atoi: parsing {v:?}: invalid syntax")
        })?;
        if i < 0 {
            return Err(format!("negative {i} index not allowed").into());
        }
        Ok(i as usize)
    }

    fn list_item(&mut self, mut list: Vec<Value>, i: usize, level: usize) -> (Vec<Value>, Res<()>) {
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return (
                list,
                Err(format!("unexpected data at end of array index: {k:?}").into()),
            );
        }
        match last {
            None => (list, Err(Stop::Eof)),
            Some('=') => {
                let v = match self.value() {
                    Ok(v) => v.unwrap_or(Value::String(String::new())),
                    Err(e) => return (list, Err(e)),
                };
                let eof = self.pos >= self.chars.len();
                match set_index(&mut list, i, v) {
                    Err(e) => (list, Err(e.into())),
                    Ok(()) if eof => (list, Err(Stop::Eof)),
                    Ok(()) => (list, Ok(())),
                }
            }
            Some('[') => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => return (list, Err(e)),
                };
                let current = match list.get(i) {
                    Some(Value::Array(l)) => l.clone(),
                    _ => Vec::new(),
                };
                let (inner, r) = self.list_item(current, next, level);
                if let Err(e) = set_index(&mut list, i, Value::Array(inner)) {
                    return (list, Err(e.into()));
                }
                (list, r)
            }
            Some(_) => {
                let mut inner = match list.get(i) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                let r = self.key(&mut inner, level);
                if let Err(Stop::Err(e)) = r {
                    return (list, Err(Stop::Err(e)));
                }
                if let Err(e) = set_index(&mut list, i, Value::Object(inner)) {
                    return (list, Err(e.into()));
                }
                (list, r)
            }
        }
    }
}

fn set(data: &mut Map<String, Value>, key: &str, v: Value) {
    if !key.is_empty() {
        data.insert(key.to_string(), v);
    }
}

fn set_index(list: &mut Vec<Value>, i: usize, v: Value) -> Result<(), String> {
    if i > MAX_INDEX {
        return Err(format!(
            "index of {i} is greater than maximum supported index of {MAX_INDEX}"
        ));
    }
    if list.len() <= i {
        list.resize(i + 1, Value::Null);
    }
    list[i] = v;
    Ok(())
}

/// Helm's `typedVal`: booleans and `null` case-insensitively, integers without a leading
/// zero as int64, everything else a string.
fn typed_val(v: &str) -> Value {
    if v.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if v.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if v == "0" {
        return Value::from(0i64);
    }
    if !v.is_empty()
        && !v.starts_with('0')
        && let Ok(i) = v.parse::<i64>()
    {
        // Go's ParseInt accepts a leading sign; Rust's does too.
        return Value::from(i);
    }
    Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(s: &str) -> Result<Value, String> {
        let mut m = Map::new();
        parse_into(s, &mut m, Kind::Typed)?;
        Ok(Value::Object(m))
    }

    #[test]
    fn helm_strvals_cases() {
        // Expectations from Helm's pkg/strvals/parser_test.go.
        assert_eq!(
            typed("name1=value1,name2=value2").unwrap(),
            json!({"name1": "value1", "name2": "value2"})
        );
        assert_eq!(
            typed("long_int_string=1234567890").unwrap(),
            json!({"long_int_string": 1234567890})
        );
        assert_eq!(typed("boolean=true").unwrap(), json!({"boolean": true}));
        assert_eq!(typed("is_null=null").unwrap(), json!({"is_null": null}));
        assert_eq!(
            typed("zero=0,leading=0123").unwrap(),
            json!({"zero": 0, "leading": "0123"})
        );
        assert_eq!(
            typed("name1=one\\,two,name2=three\\,four").unwrap(),
            json!({"name1": "one,two", "name2": "three,four"})
        );
        assert_eq!(typed("name1=value1,").unwrap(), json!({"name1": "value1"}));
        assert_eq!(
            typed("name1=,name2=value2").unwrap(),
            json!({"name1": "", "name2": "value2"})
        );
        assert_eq!(
            typed("outer.inner=value").unwrap(),
            json!({"outer": {"inner": "value"}})
        );
        assert_eq!(
            typed("outer.middle.inner=value").unwrap(),
            json!({"outer": {"middle": {"inner": "value"}}})
        );
        assert_eq!(
            typed("name1.name2={value1,value2}").unwrap(),
            json!({"name1": {"name2": ["value1", "value2"]}})
        );
        assert_eq!(
            typed("list[0]=foo,list[2]=bar").unwrap(),
            json!({"list": ["foo", null, "bar"]})
        );
        assert_eq!(
            typed("list[0].foo=bar,list[0].hello=world").unwrap(),
            json!({"list": [{"foo": "bar", "hello": "world"}]})
        );
        assert_eq!(typed("nested[0][0]=1").unwrap(), json!({"nested": [[1]]}));
        assert_eq!(typed("a\\.b=c").unwrap(), json!({"a.b": "c"}));
        assert!(typed("name1").is_err());
        assert!(typed("name1,name2=").is_err());
        assert!(typed("list[-1]=x").is_err());
        assert!(typed("list[65537]=x").is_err());
        assert!(typed("list[0]x=y").is_err());
        assert!(typed("a[0").is_err());
    }

    #[test]
    fn string_json_file_and_literal() {
        let mut m = Map::new();
        parse_into("a=true,b=1", &mut m, Kind::String).unwrap();
        assert_eq!(Value::Object(m), json!({"a": "true", "b": "1"}));
        let mut m = Map::new();
        parse_into(r#"a={"x":[1,2]},b=null"#, &mut m, Kind::Json).unwrap();
        assert_eq!(Value::Object(m), json!({"a": {"x": [1, 2]}, "b": null}));
        let read = |p: &str| Ok(format!("contents of {p}"));
        let mut m = Map::new();
        parse_into("cfg=a.txt", &mut m, Kind::File(&read)).unwrap();
        assert_eq!(Value::Object(m), json!({"cfg": "contents of a.txt"}));
        let mut m = Map::new();
        parse_into("k.x=a,b=c", &mut m, Kind::Literal).unwrap();
        assert_eq!(Value::Object(m), json!({"k": {"x": "a,b=c"}}));
    }
}
