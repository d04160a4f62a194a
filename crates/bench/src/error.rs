//! Why a benchmark could not run to the end.
//!
//! A benchmark either measures what it set out to measure or stops with one of these; it never
//! reports figures from a half-broken run.

/// A benchmark that cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The server could not be started, or stopped, or never became ready.
    #[error("server: {0}")]
    Server(String),
    /// The options given do not work together.
    #[error("{0}")]
    Usage(String),
    /// An HTTP call could not be made or its answer not read.
    #[error("HTTP {call}: {source}")]
    Http {
        /// The call, e.g. `POST /api/v1/holds`.
        call: String,
        /// What went wrong underneath.
        source: reqwest::Error,
    },
    /// The server answered an HTTP call with something other than what the benchmark needs.
    #[error("{call} answered {status}: {body}")]
    Unexpected {
        /// The call, e.g. `POST /api/v1/holds`.
        call: String,
        /// The HTTP status received.
        status: u16,
        /// The response body, for the reader.
        body: String,
    },
    /// The WebSocket feed failed or broke its protocol.
    #[error("WebSocket feed: {0}")]
    Feed(String),
    /// The server's data does not allow the benchmark (e.g. no doctor with free slots).
    #[error("{0}")]
    Data(String),
    /// A local system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What went wrong underneath.
        source: std::io::Error,
    },
}

impl BenchError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// A benchmark step's result.
pub type BenchResult<T> = Result<T, BenchError>;
