//! herald-server's HTTP tests, one binary: the server as a browser or a mail provider meets it,
//! through the real router in memory, each test on a database of its own.

mod api;
mod assets;
mod messaging;
mod refusals;
mod support;
