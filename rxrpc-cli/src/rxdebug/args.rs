//! The command line, parsed the way OpenAFS's `cmd` library parses `rxdebug`'s.
//!
//! Layer: front end. Switches take one dash (two are accepted too) and may be abbreviated to
//! any unambiguous prefix (`-s` for `-servers`, `-noc` for `-noconns`); an exact name always
//! wins. Values given before the first switch fill, in order, the value-taking parameters
//! `-servers`, `-port`, `-onlyport`, `-onlyhost`, `-onlyauth` (so `rxdebug HOST PORT` works).
//! Giving a value switch twice is an error, as in OpenAFS; repeating a flag is harmless.
//!
//! Additions: `--json`, `--timeout SECS` (the first wait for a reply; it doubles on every
//! resend) and `--tries N` (transmissions per request).

use std::time::Duration;

/// A parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Servers,
    Port,
    Nodally,
    AllConns,
    RxStats,
    OnlyServer,
    OnlyClient,
    OnlyPort,
    OnlyHost,
    OnlyAuth,
    Version,
    NoConns,
    Peers,
    Long,
    Json,
    Timeout,
    Tries,
    Help,
}

/// Switch names in the order `-help` lists them, and whether each takes a value.
const SWITCHES: [(&str, Param, bool); 18] = [
    ("servers", Param::Servers, true),
    ("port", Param::Port, true),
    ("nodally", Param::Nodally, false),
    ("allconnections", Param::AllConns, false),
    ("rxstats", Param::RxStats, false),
    ("onlyserver", Param::OnlyServer, false),
    ("onlyclient", Param::OnlyClient, false),
    ("onlyport", Param::OnlyPort, true),
    ("onlyhost", Param::OnlyHost, true),
    ("onlyauth", Param::OnlyAuth, true),
    ("version", Param::Version, false),
    ("noconns", Param::NoConns, false),
    ("peers", Param::Peers, false),
    ("long", Param::Long, false),
    ("json", Param::Json, false),
    ("timeout", Param::Timeout, true),
    ("tries", Param::Tries, true),
    ("help", Param::Help, false),
];

/// Value parameters that positional arguments fill, in order.
const POSITIONAL: [Param; 5] = [
    Param::Servers,
    Param::Port,
    Param::OnlyPort,
    Param::OnlyHost,
    Param::OnlyAuth,
];

/// The usage text (`-help`).
pub const USAGE: &str = "\
Usage: rxdebug -servers <server machine> [-port <IP port>] [-nodally]
         [-allconnections] [-rxstats] [-onlyserver] [-onlyclient]
         [-onlyport <show only <port>>] [-onlyhost <show only <host>>]
         [-onlyauth <show only <auth level>>] [-version] [-noconns] [-peers]
         [-long] [--json] [--timeout <seconds>] [--tries <count>] [-help]
Where: -nodally         don't show dallying conns
       -allconnections  don't filter out uninteresting connections on server
       -rxstats         show Rx statistics
       -onlyserver      only show server conns
       -onlyclient      only show client conns
       -version         show AFS version id
       -noconns         show no connections
       -peers           show peers
       -long            detailed output
       --json           print one JSON object instead of text
       --timeout        first wait for a reply in seconds (default 1; doubles per resend)
       --tries          transmissions per request (default 5)

`rxdebug HOST PORT` is short for `rxdebug -servers HOST -port PORT`; the port defaults to
7000 and may be a service name. -onlyauth takes clear, auth, crypt, or null/none/noauth/unauth.
Exit status: 0 success; 1 no reply or an unusable reply (or a host/port that does not
resolve); 2 usage error.";

/// What the command line asks for. Names and numbers are resolved later (by the driver), so
/// that resolution errors print OpenAFS's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `-servers`: host name or address.
    pub server: String,
    /// `-port`: number or service name (default 7000).
    pub port: Option<String>,
    /// `-nodally`.
    pub nodally: bool,
    /// `-allconnections`.
    pub all_connections: bool,
    /// `-rxstats`.
    pub rxstats: bool,
    /// `-onlyserver`.
    pub only_server: bool,
    /// `-onlyclient`.
    pub only_client: bool,
    /// `-onlyport`.
    pub only_port: Option<String>,
    /// `-onlyhost`.
    pub only_host: Option<String>,
    /// `-onlyauth`.
    pub only_auth: Option<String>,
    /// `-version`.
    pub version: bool,
    /// `-noconns`.
    pub no_conns: bool,
    /// `-peers`.
    pub peers: bool,
    /// `-long`.
    pub long: bool,
    /// `--json`.
    pub json: bool,
    /// `--timeout`: the first wait.
    pub timeout: Duration,
    /// `--tries`.
    pub tries: u32,
}

/// The parse result.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Query a server.
    Run(Box<Options>),
    /// Print [`USAGE`].
    Help,
}

/// A usage error, with the message OpenAFS's `cmd` library would print (without the program
/// name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn lookup(word: &str) -> Option<(&'static str, Param, bool)> {
    if let Some(&s) = SWITCHES.iter().find(|(n, _, _)| *n == word) {
        return Some(s);
    }
    let mut hits = SWITCHES.iter().filter(|(n, _, _)| n.starts_with(word));
    match (hits.next(), hits.next()) {
        (Some(&s), None) => Some(s),
        _ => None,
    }
}

/// Whether `arg` is a switch rather than a value.
fn is_switch(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-') && !arg[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// Parse the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    if args.is_empty() {
        return Err(UsageError("Type 'rxdebug -help' for help".into()));
    }
    let mut values: Vec<(Param, String)> = Vec::new();
    let mut flags: Vec<Param> = Vec::new();
    let mut positional = POSITIONAL.iter();
    let mut seen_switch = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if is_switch(arg) {
            seen_switch = true;
            let word = arg.trim_start_matches('-');
            let Some((name, param, takes_value)) = lookup(word).filter(|_| !word.is_empty()) else {
                return Err(UsageError(format!(
                    "Unrecognized or ambiguous switch '{arg}'; type 'rxdebug -help' for \
                     detailed help"
                )));
            };
            if param == Param::Help {
                return Ok(Command::Help);
            }
            if !takes_value {
                flags.push(param);
                continue;
            }
            let Some(v) = args.get(i).filter(|v| !is_switch(v)) else {
                return Err(UsageError(format!(
                    " The field '-{name}' isn't completed properly"
                )));
            };
            i += 1;
            if values.iter().any(|(p, _)| *p == param) {
                return Err(UsageError(format!("Too many values after switch -{name}")));
            }
            values.push((param, v.clone()));
            // A second value right after a switch's value is an error.
            if args.get(i).is_some_and(|v| !is_switch(v)) {
                return Err(UsageError(format!("Too many values after switch -{name}")));
            }
        } else if seen_switch {
            return Err(UsageError(format!(
                "Too many values after switch {}",
                args[..i - 1]
                    .iter()
                    .rev()
                    .find(|a| is_switch(a))
                    .map_or("", String::as_str)
            )));
        } else {
            let Some(&param) = positional.next() else {
                return Err(UsageError(format!(
                    "Too many arguments; type 'rxdebug -help' for detailed help (at '{arg}')"
                )));
            };
            if values.iter().any(|(p, _)| *p == param) {
                return Err(UsageError(format!("Too many values for {param:?}")));
            }
            values.push((param, arg.clone()));
        }
    }
    let take = |p: Param| values.iter().find(|(q, _)| *q == p).map(|(_, v)| v.clone());
    let flag = |p: Param| flags.contains(&p);
    let Some(server) = take(Param::Servers) else {
        return Err(UsageError("Missing required parameter '-servers'".into()));
    };
    let timeout = match take(Param::Timeout) {
        None => Duration::from_secs(1),
        Some(t) => match t.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
            _ => {
                return Err(UsageError(format!(
                    "bad --timeout '{t}': a number of seconds, more than 0 and at most 3600"
                )));
            }
        },
    };
    let tries = match take(Param::Tries) {
        None => 5,
        Some(t) => match t.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(UsageError(format!(
                    "bad --tries '{t}': a whole number from 1 to 100"
                )));
            }
        },
    };
    Ok(Command::Run(Box::new(Options {
        server,
        port: take(Param::Port),
        nodally: flag(Param::Nodally),
        all_connections: flag(Param::AllConns),
        rxstats: flag(Param::RxStats),
        only_server: flag(Param::OnlyServer),
        only_client: flag(Param::OnlyClient),
        only_port: take(Param::OnlyPort),
        only_host: take(Param::OnlyHost),
        only_auth: take(Param::OnlyAuth),
        version: flag(Param::Version),
        no_conns: flag(Param::NoConns),
        peers: flag(Param::Peers),
        long: flag(Param::Long),
        json: flag(Param::Json),
        timeout,
        tries,
    })))
}

/// `-onlyauth` level: `Some(-1)` unauthenticated, `Some(0..=2)` clear/auth/crypt; `None` for
/// an unknown name.
pub fn auth_level(name: &str) -> Option<i32> {
    match name {
        "clear" => Some(0),
        "auth" => Some(1),
        "crypt" => Some(2),
        "null" | "none" => Some(-1),
        n if n.starts_with("noauth") || n.starts_with("unauth") => Some(-1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(o)) => *o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        parse(args).unwrap_err().0
    }

    #[test]
    fn positional_and_switches() {
        let o = run(&["127.0.0.1", "7002", "-rxstats", "-peers", "-long"]);
        assert_eq!(o.server, "127.0.0.1");
        assert_eq!(o.port.as_deref(), Some("7002"));
        assert!(o.rxstats && o.peers && o.long && !o.version && !o.json);
        assert_eq!(o.timeout, Duration::from_secs(1));
        assert_eq!(o.tries, 5);

        let o = run(&["-port", "7003", "-servers", "h", "-noc", "-v", "--json"]);
        assert_eq!(o.server, "h");
        assert_eq!(o.port.as_deref(), Some("7003"));
        assert!(o.no_conns && o.version && o.json);

        let o = run(&["h", "7002", "7003", "127.0.0.2", "crypt"]);
        assert_eq!(o.only_port.as_deref(), Some("7003"));
        assert_eq!(o.only_host.as_deref(), Some("127.0.0.2"));
        assert_eq!(o.only_auth.as_deref(), Some("crypt"));

        let o = run(&["-s", "h", "-all", "-r", "-onlys", "-onlyc", "-noda", "-l"]);
        assert!(o.all_connections && o.rxstats && o.only_server && o.only_client);
        assert!(o.nodally && o.long);

        let o = run(&["h", "--timeout", "0.25", "--tries", "2", "-peers", "-peers"]);
        assert_eq!(o.timeout, Duration::from_millis(250));
        assert_eq!(o.tries, 2);
    }

    #[test]
    fn errors() {
        assert_eq!(err(&[]), "Type 'rxdebug -help' for help");
        assert!(err(&["-bogus", "h"]).starts_with("Unrecognized or ambiguous switch '-bogus'"));
        assert!(err(&["h", "-p", "7002"]).starts_with("Unrecognized or ambiguous switch '-p'"));
        assert!(err(&["h", "-only", "x"]).starts_with("Unrecognized or ambiguous"));
        assert_eq!(
            err(&["-port", "7002"]),
            "Missing required parameter '-servers'"
        );
        assert_eq!(
            err(&["h", "-port"]),
            " The field '-port' isn't completed properly"
        );
        assert_eq!(
            err(&["h", "-port", "1", "2"]),
            "Too many values after switch -port"
        );
        assert_eq!(
            err(&["-servers", "a", "-servers", "b"]),
            "Too many values after switch -servers"
        );
        assert!(err(&["a", "1", "2", "3", "4", "5"]).starts_with("Too many arguments"));
        assert!(err(&["h", "--timeout", "0"]).starts_with("bad --timeout"));
        assert!(err(&["h", "--tries", "x"]).starts_with("bad --tries"));
        assert!(err(&["h", "-t", "1"]).starts_with("Unrecognized or ambiguous"));
        assert_eq!(parse(["-h"]), Ok(Command::Help));
        assert_eq!(parse(["h", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn auth_levels() {
        assert_eq!(auth_level("crypt"), Some(2));
        assert_eq!(auth_level("noauthentication"), Some(-1));
        assert_eq!(auth_level("unauth"), Some(-1));
        assert_eq!(auth_level("secure"), None);
    }
}
