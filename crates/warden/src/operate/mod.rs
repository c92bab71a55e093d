//! Operating a served model: what the server loads, API keys, monitoring windows and their reports,
//! drift, and the monitor's responses.

pub(crate) mod apikey;
pub(crate) mod migrate;
pub(crate) mod monitor;
pub(crate) mod monitor_html;
pub(crate) mod respond;
pub(crate) mod serving;
pub(crate) mod watch;
