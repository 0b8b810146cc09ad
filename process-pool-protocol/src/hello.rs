//! The handshake and the error codes: what a worker says about itself, and why a call failed.

use std::fmt;

use bytes::Bytes;
use serde_json::{Value, json};

/// The protocol version this crate speaks. A pool refuses a worker that states another.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest hello payload [`Hello::parse`] reads: 64 KiB, room for thousands of method
/// names, and a bound on what a worker's hello costs the pool that keeps it.
pub const MAX_HELLO: usize = 64 << 10;

/// The worker's first frame (a [`Kind::Hello`](crate::Kind::Hello), its payload this as a JSON
/// object): which protocol it speaks, what it serves, and how much at once.
///
/// ```
/// use process_pool_protocol::Hello;
///
/// let hello = Hello::new(["echo", "upper"]).concurrency(8);
/// let parsed = Hello::parse(&hello.to_json()).unwrap();
/// assert_eq!(parsed, hello);
/// assert!(parsed.serves("upper"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] as the worker knows it.
    pub protocol: u32,
    /// The methods it serves.
    pub methods: Vec<String>,
    /// How many calls it runs at once (at least 1).
    pub concurrency: u32,
    /// The largest frame it accepts, in bytes after the length prefix.
    pub max_frame: u64,
}

impl Hello {
    /// A hello for these methods, one call at a time, the default frame limit.
    pub fn new<I, S>(methods: I) -> Hello
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Hello {
            protocol: PROTOCOL_VERSION,
            methods: methods.into_iter().map(Into::into).collect(),
            concurrency: 1,
            max_frame: crate::DEFAULT_MAX_FRAME as u64,
        }
    }

    /// Sets how many calls the worker runs at once.
    pub fn concurrency(mut self, calls: u32) -> Hello {
        self.concurrency = calls;
        self
    }

    /// Whether the worker serves `method`.
    pub fn serves(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// As the payload of a hello frame.
    pub fn to_json(&self) -> Bytes {
        let value = json!({
            "protocol": self.protocol,
            "methods": self.methods,
            "concurrency": self.concurrency,
            "max_frame": self.max_frame,
        });
        Bytes::from(value.to_string())
    }

    /// Reads a hello frame's payload, naming what is wrong with it. Unknown keys are ignored,
    /// so that later versions may add some. A payload over [`MAX_HELLO`] is refused unread.
    pub fn parse(payload: &[u8]) -> Result<Hello, String> {
        if payload.len() > MAX_HELLO {
            return Err(format!(
                "hello of {} bytes, over the {MAX_HELLO} a hello may hold",
                payload.len()
            ));
        }
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("hello is not JSON: {e}"))?;
        let field = |key: &str| {
            value
                .get(key)
                .ok_or_else(|| format!("hello has no `{key}`"))
        };
        let number = |key: &str| {
            field(key)?
                .as_u64()
                .ok_or_else(|| format!("hello's `{key}` is not a non-negative integer"))
        };
        let methods = field("methods")?
            .as_array()
            .ok_or("hello's `methods` is not an array")?
            .iter()
            .map(|m| {
                m.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("hello's `methods` holds a non-string: {m}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let concurrency = number("concurrency")?;
        if concurrency == 0 {
            return Err("hello's `concurrency` is 0; a worker must accept at least 1 call".into());
        }
        let max_frame = match value.get("max_frame") {
            None => crate::DEFAULT_MAX_FRAME as u64,
            Some(_) => number("max_frame")?,
        };
        if max_frame < crate::HEADER_LEN as u64 {
            return Err(format!(
                "hello's `max_frame` is {max_frame}, below the {}-byte frame header",
                crate::HEADER_LEN
            ));
        }
        Ok(Hello {
            protocol: u32::try_from(number("protocol")?)
                .map_err(|_| "hello's `protocol` is out of range".to_owned())?,
            methods,
            concurrency: u32::try_from(concurrency).unwrap_or(u32::MAX),
            max_frame,
        })
    }
}

/// Why a worker answered a call with an error: the name of a [`Kind::Error`] frame.
///
/// [`Kind::Error`]: crate::Kind::Error
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `unknown_method`: the worker does not serve the method.
    UnknownMethod,
    /// `failed`: the method ran and returned an error.
    Failed,
    /// `cancelled`: the call was stopped by a cancel frame.
    Cancelled,
    /// `panicked`: the method panicked (or raised); the worker lives on.
    Panicked,
    /// `bad_request`: the payload could not be read as the method's argument.
    BadRequest,
    /// `too_large`: the reply would exceed the frame limit.
    TooLarge,
    /// `overloaded`: more calls arrived than the worker said it runs at once.
    Overloaded,
    /// A code this version does not know.
    Other(String),
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::UnknownMethod => "unknown_method",
            ErrorCode::Failed => "failed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Panicked => "panicked",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Other(code) => code,
        }
    }

    /// The code written as `name`.
    pub fn parse(name: &str) -> ErrorCode {
        match name {
            "unknown_method" => ErrorCode::UnknownMethod,
            "failed" => ErrorCode::Failed,
            "cancelled" => ErrorCode::Cancelled,
            "panicked" => ErrorCode::Panicked,
            "bad_request" => ErrorCode::BadRequest,
            "too_large" => ErrorCode::TooLarge,
            "overloaded" => ErrorCode::Overloaded,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_python_writes() {
        let hello = Hello::parse(
            br#"{"protocol": 1, "methods": ["echo"], "concurrency": 4, "max_frame": 1024, "pid": 9}"#,
        )
        .unwrap();
        assert_eq!(hello.methods, ["echo"]);
        assert_eq!((hello.concurrency, hello.max_frame), (4, 1024));
    }

    #[test]
    fn names_what_is_wrong() {
        let error = |json: &str| Hello::parse(json.as_bytes()).unwrap_err();
        assert!(error("{").starts_with("hello is not JSON"));
        assert_eq!(error(r#"{"methods": []}"#), "hello has no `concurrency`");
        assert_eq!(
            error(r#"{"protocol": 1, "methods": [3], "concurrency": 1}"#),
            "hello's `methods` holds a non-string: 3"
        );
        assert!(error(r#"{"protocol": 1, "methods": [], "concurrency": 0}"#).contains("is 0"));
        assert_eq!(
            error(r#"{"protocol": 1, "methods": [], "concurrency": 1, "max_frame": "big"}"#),
            "hello's `max_frame` is not a non-negative integer"
        );
        assert!(
            error(r#"{"protocol": 1, "methods": [], "concurrency": 1, "max_frame": 4}"#)
                .contains("below the 12-byte frame header")
        );
    }

    #[test]
    fn a_hello_over_its_limit_is_refused_unread() {
        // 64 KiB of `"",`: over 20,000 empty method names, each a String kept by the pool.
        let names = vec!["\"\""; MAX_HELLO / 3 + 1].join(",");
        let json = format!(r#"{{"protocol": 1, "methods": [{names}], "concurrency": 1}}"#);
        let error = Hello::parse(json.as_bytes()).unwrap_err();
        assert!(
            error.starts_with("hello of 65") && error.ends_with("a hello may hold"),
            "{error}"
        );
    }

    #[test]
    fn max_frame_defaults_when_absent() {
        let hello = Hello::parse(br#"{"protocol": 1, "methods": [], "concurrency": 1}"#).unwrap();
        assert_eq!(hello.max_frame, crate::DEFAULT_MAX_FRAME as u64);
    }

    #[test]
    fn error_codes_round_trip() {
        for code in [
            ErrorCode::UnknownMethod,
            ErrorCode::Failed,
            ErrorCode::Cancelled,
            ErrorCode::Panicked,
            ErrorCode::BadRequest,
            ErrorCode::TooLarge,
            ErrorCode::Overloaded,
            ErrorCode::Other("teapot".into()),
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
    }
}
