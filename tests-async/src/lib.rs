//! Nothing but tests: `tests/` runs unchanged async crates (hyper, tokio-util's codecs,
//! `futures`) inside corio tasks through `corio::coro::future`.
